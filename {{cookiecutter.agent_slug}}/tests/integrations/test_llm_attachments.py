"""Images and PDFs sent to the local stand-ins, checked against each API's documented shapes.

Anthropic Messages: `image` and `document` blocks, base64, before the text block. OpenAI chat
completions: `image_url` parts (data URLs) and `file` parts (`file_data`, a PDF data URL). Every
image is scaled down to what the provider bills, never up; a request over a documented limit
fails before any HTTP call.
"""

import base64
import io
import os

import pytest
from PIL import Image
from pypdf import PdfWriter

import stubs
from {{ cookiecutter.package_name }}.integrations.llm import (
    LLMError,
    anthropic,
    images,
    make_provider,
    openai_compat,
)
from {{ cookiecutter.package_name }}.integrations.llm.attachments import Attachment
from {{ cookiecutter.package_name }}.integrations.llm.images import AttachmentError

CLAUDE = "claude-sonnet-4-5"
GPT = "gpt-4o"
PROMPT = "Extract the patient.\n--- DOCUMENT ---\nName: Jane Doe"


def png(width: int, height: int, color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


def pdf(pages: int) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def image_format(data: bytes) -> str:
    return Image.open(io.BytesIO(data)).format


@pytest.fixture
def claude(llm_stub, fast_policy):
    return make_provider(
        "anthropic", api_key=stubs.LLM_API_KEY, base_url=llm_stub.anthropic_base, policy=fast_policy
    )


@pytest.fixture
def gpt(llm_stub, fast_policy):
    """The OpenAI provider against the stand-in, reading what it reads at api.openai.com."""
    provider = make_provider(
        "openai", api_key=stubs.LLM_API_KEY, base_url=llm_stub.openai_base, policy=fast_policy
    )
    provider.media_types = openai_compat.OPENAI_MEDIA_TYPES
    return provider


@pytest.fixture
def local(llm_stub, fast_policy):
    """An OpenAI-compatible server that is not OpenAI (Ollama, llama.cpp...)."""
    return make_provider(
        "openai", api_key=stubs.LLM_API_KEY, base_url=llm_stub.openai_base, policy=fast_policy
    )


def claude_ask(provider, *attachments):
    return provider.complete(
        system="Answer in JSON.",
        prompt=PROMPT,
        model=CLAUDE,
        max_tokens=300,
        attachments=attachments,
    )


def gpt_ask(provider, *attachments):
    return provider.complete(
        system="Answer in JSON.", prompt=PROMPT, model=GPT, max_tokens=300, attachments=attachments
    )


# Anthropic ---------------------------------------------------------------------------------------


def test_anthropic_sends_an_image_block_then_the_text(claude, llm_stub):
    photo = png(400, 300)

    reply = claude_ask(claude, Attachment("image/png", photo))

    assert reply.text == stubs.DEFAULT_REPLY_TEXT
    (sent,) = llm_stub.requests
    (message,) = sent.json["messages"]
    image, text = message["content"]
    assert image["type"] == "image"
    assert image["source"]["type"] == "base64"
    assert image["source"]["media_type"] == "image/png"
    assert base64.b64decode(image["source"]["data"], validate=True) == photo  # small: as it was
    assert text == {"type": "text", "text": PROMPT}


def test_anthropic_sends_a_pdf_as_a_base64_document_block(claude, llm_stub):
    document = pdf(3)

    claude_ask(claude, Attachment("application/pdf", document))

    (sent,) = llm_stub.requests
    block, text = sent.json["messages"][0]["content"]
    assert block["type"] == "document"
    assert block["source"]["type"] == "base64"
    assert block["source"]["media_type"] == "application/pdf"
    assert base64.b64decode(block["source"]["data"], validate=True) == document
    assert text["type"] == "text"


def test_anthropic_gets_a_big_photo_scaled_to_its_long_edge_and_pixel_budget(claude, llm_stub):
    claude_ask(claude, Attachment("image/png", png(4000, 3000), page=2))

    (sent,) = llm_stub.requests
    data = base64.b64decode(sent.json["messages"][0]["content"][0]["source"]["data"])
    width, height = size(data)
    assert max(width, height) <= anthropic.IMAGE_MAX_LONG_EDGE
    assert width * height <= anthropic.IMAGE_MAX_TOKENS * anthropic.IMAGE_PIXELS_PER_TOKEN
    assert width * height > 0.95 * anthropic.IMAGE_MAX_TOKENS * anthropic.IMAGE_PIXELS_PER_TOKEN
    assert abs(width / height - 4 / 3) < 0.01
    assert image_format(data) == "PNG"  # PNG stays PNG


def test_anthropic_keeps_several_pages_in_their_order(claude, llm_stub):
    pages = [Attachment("image/jpeg", jpeg(300 + n, 400), page=n + 1) for n in range(3)]

    claude_ask(claude, *pages)

    (sent,) = llm_stub.requests
    content = sent.json["messages"][0]["content"]
    assert [block["type"] for block in content] == ["image", "image", "image", "text"]
    widths = [size(base64.b64decode(b["source"]["data"]))[0] for b in content[:3]]
    assert widths == [300, 301, 302]
    assert {b["source"]["media_type"] for b in content[:3]} == {"image/jpeg"}


def test_anthropic_refuses_a_pdf_over_100_pages_without_calling(claude, llm_stub):
    with pytest.raises(AttachmentError, match=r"101 pages, over the 100") as caught:
        claude_ask(claude, Attachment("application/pdf", pdf(anthropic.MAX_PDF_PAGES + 1)))

    assert caught.value.transient is False
    assert llm_stub.requests == []


def test_anthropic_refuses_a_request_over_32_mb_without_calling(claude, llm_stub):
    huge = b"%PDF-1.7\n" + os.urandom(25 * 1024 * 1024)

    with pytest.raises(AttachmentError, match=r"MiB once encoded, over the 32 MiB"):
        claude_ask(claude, Attachment("application/pdf", huge))

    assert llm_stub.requests == []


def test_anthropic_refuses_more_images_than_a_request_holds(claude, llm_stub):
    tiny = Attachment("image/png", png(8, 8))

    with pytest.raises(AttachmentError, match=r"101 images in one request, over the 100"):
        claude_ask(claude, *[tiny] * (anthropic.MAX_IMAGES + 1))

    assert llm_stub.requests == []


def test_a_corrupt_image_is_a_clear_permanent_error_without_a_call(claude, llm_stub):
    with pytest.raises(AttachmentError, match=r"image of page 4 cannot be read as image/png"):
        claude_ask(claude, Attachment("image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, page=4))

    assert llm_stub.requests == []


def test_an_unreadable_pdf_is_a_clear_permanent_error_without_a_call(claude, llm_stub):
    with pytest.raises(AttachmentError, match=r"the PDF cannot be read"):
        claude_ask(claude, Attachment("application/pdf", b"%PDF-1.7\nnot a pdf at all"))

    assert llm_stub.requests == []


def test_anthropic_estimates_images_at_w_h_over_750_and_pdf_pages_at_text_and_image(claude):
    photo = Attachment("image/png", png(1000, 750))
    document = Attachment("application/pdf", pdf(2))
    system, prompt = "s" * 40, "p" * 400

    tokens = claude.input_tokens(
        system=system, prompt=prompt, model=CLAUDE, attachments=(photo, document)
    )

    page = anthropic.PDF_PAGE_TEXT_TOKENS + anthropic.PDF_PAGE_IMAGE_TOKENS
    assert tokens == 10 + 100 + 1000 + 2 * page


def test_the_stand_in_refuses_a_block_the_api_would_refuse(claude, llm_stub):
    # The stand-in holds requests to the documented shape, so the tests above can trust it.
    bad = {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "AA=="}}
    body = {"model": CLAUDE, "max_tokens": 5, "messages": [{"role": "user", "content": [bad]}]}
    headers = {"x-api-key": stubs.LLM_API_KEY, "anthropic-version": "2023-06-01"}

    response = claude.session.post(claude.url, json=body, headers=headers, timeout=5)

    assert response.status_code == 400
    assert "image/bmp" in response.json()["error"]["message"]


# OpenAI ------------------------------------------------------------------------------------------


def test_openai_sends_an_image_url_data_url_at_high_detail_then_the_text(gpt, llm_stub):
    photo = jpeg(500, 400)

    gpt_ask(gpt, Attachment("image/jpeg", photo))

    (sent,) = llm_stub.requests
    system, user = sent.json["messages"]
    assert system == {"role": "system", "content": "Answer in JSON."}
    part, text = user["content"]
    assert part["type"] == "image_url"
    assert part["image_url"]["detail"] == "high"
    prefix = "data:image/jpeg;base64,"
    assert part["image_url"]["url"].startswith(prefix)
    assert base64.b64decode(part["image_url"]["url"][len(prefix) :], validate=True) == photo
    assert text == {"type": "text", "text": PROMPT}
    assert sent.json["response_format"] == {"type": "json_object"}  # the text still says JSON


def test_openai_sends_a_pdf_as_a_file_part_with_file_data(gpt, llm_stub):
    document = pdf(2)

    gpt_ask(gpt, Attachment("application/pdf", document))

    (sent,) = llm_stub.requests
    part, _ = sent.json["messages"][1]["content"]
    assert part["type"] == "file"
    assert part["file"]["filename"].endswith(".pdf")
    prefix = "data:application/pdf;base64,"
    assert part["file"]["file_data"].startswith(prefix)
    assert base64.b64decode(part["file"]["file_data"][len(prefix) :], validate=True) == document


def test_openai_gets_images_scaled_to_2048_box_and_768_short_side(gpt, llm_stub):
    gpt_ask(gpt, Attachment("image/png", png(3000, 1500)))

    (sent,) = llm_stub.requests
    url = sent.json["messages"][1]["content"][0]["image_url"]["url"]
    data = base64.b64decode(url.split(",", 1)[1])
    assert size(data) == (1536, 768)
    assert image_format(data) == "PNG"


def test_openai_never_upscales_a_small_image(gpt, llm_stub):
    photo = png(120, 60)

    gpt_ask(gpt, Attachment("image/png", photo))

    (sent,) = llm_stub.requests
    url = sent.json["messages"][1]["content"][0]["image_url"]["url"]
    assert base64.b64decode(url.split(",", 1)[1]) == photo


def test_openai_refuses_a_pdf_over_100_pages_without_calling(gpt, llm_stub):
    with pytest.raises(AttachmentError, match=r"101 pages, over the 100"):
        gpt_ask(gpt, Attachment("application/pdf", pdf(openai_compat.MAX_PDF_PAGES + 1)))

    assert llm_stub.requests == []


def test_a_compatible_server_gets_page_images_but_no_pdf(local, llm_stub):
    assert local.media_types == frozenset({"image/png", "image/jpeg"})
    assert local.vision_by_default is False

    with pytest.raises(AttachmentError, match=r"does not read application/pdf"):
        gpt_ask(local, Attachment("application/pdf", pdf(1)))
    gpt_ask(local, Attachment("image/png", png(50, 50), page=1))

    (sent,) = llm_stub.requests
    assert [p["type"] for p in sent.json["messages"][1]["content"]] == ["image_url", "text"]


def test_openai_itself_reads_pdfs_and_images_by_default(fast_policy):
    provider = make_provider("openai", api_key="sk-x", base_url=None, policy=fast_policy)

    assert provider.media_types == openai_compat.OPENAI_MEDIA_TYPES
    assert "application/pdf" in provider.media_types
    assert provider.vision_by_default is True


@pytest.mark.parametrize(
    ("model", "width", "height", "tokens"),
    [
        # The worked examples of the OpenAI vision guide ("Calculating costs").
        ("gpt-4o", 1024, 1024, 765),
        ("gpt-4o", 2048, 4096, 1105),
        ("gpt-4o-2024-08-06", 4096, 8192, 1105),
        ("gpt-4o-mini", 1024, 1024, 2833 + 4 * 5667),
        ("gpt-5", 1024, 1024, 70 + 4 * 140),
        ("gpt-4.1-mini", 1024, 1024, 1659),  # 1024 patches x 1.62
        ("gpt-4.1-mini", 4000, 4000, 2489),  # capped at 1536 patches x 1.62
        ("llava:13b", 512, 512, 85 + 170),  # an unknown model: the gpt-4o rates
    ],
)
def test_openai_image_tokens_follow_the_documented_formula(model, width, height, tokens):
    assert openai_compat.image_tokens(model, width, height) == tokens


def test_the_fake_model_reads_no_attachment(fast_policy):
    provider = make_provider("fake", api_key="", base_url=None, policy=fast_policy)

    assert provider.media_types == frozenset()
    with pytest.raises(LLMError, match=r"does not read image/png"):
        provider.complete(
            system="s",
            prompt=PROMPT,
            model="fake-extractor-1",
            max_tokens=10,
            attachments=(Attachment("image/png", png(10, 10)),),
        )


# Scaling -----------------------------------------------------------------------------------------


def test_bytes_over_the_limit_force_jpeg_at_the_same_size():
    noise = Image.frombytes("RGB", (600, 400), os.urandom(600 * 400 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    limits = images.Limits(
        max_long_edge=2000, max_short_edge=None, max_pixels=None, max_bytes=400_000
    )
    assert len(buffer.getvalue()) > limits.max_bytes

    fitted = images.fit(Attachment("image/png", buffer.getvalue(), page=3), limits)

    assert fitted.media_type == "image/jpeg"
    assert fitted.page == 3
    assert len(fitted.data) <= limits.max_bytes
    assert image_format(fitted.data) == "JPEG"
    assert size(fitted.data) == (600, 400)


def test_an_image_that_cannot_shrink_enough_is_refused():
    limits = images.Limits(max_long_edge=4000, max_short_edge=None, max_pixels=None, max_bytes=50)

    with pytest.raises(AttachmentError, match=r"over the 50 bytes an image may have"):
        images.fit(Attachment("image/png", png(900, 900)), limits)


def test_webp_within_the_limits_goes_as_it_is_and_scaled_becomes_png():
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 300), (1, 2, 3)).save(buffer, format="WEBP")
    small = io.BytesIO()
    Image.new("RGB", (300, 30), (1, 2, 3)).save(small, format="WEBP")

    scaled = images.fit(Attachment("image/webp", buffer.getvalue()), anthropic.IMAGE_LIMITS)
    kept = images.fit(Attachment("image/webp", small.getvalue()), anthropic.IMAGE_LIMITS)

    assert (scaled.media_type, image_format(scaled.data), size(scaled.data)) == (
        "image/png",
        "PNG",
        (1568, 156),
    )
    assert kept == Attachment("image/webp", small.getvalue())
