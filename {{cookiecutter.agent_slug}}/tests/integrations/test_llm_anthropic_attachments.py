"""Images and PDFs sent to a local stand-in for the Anthropic Messages API.

`image` and `document` blocks, base64, before the text block; images scaled down to what Claude
reads (1568 px long edge, about 1.2 megapixels), never up; a request over a documented limit fails
before any HTTP call.
"""

import base64
import os

import pytest

import scans
import stubs
from {{ cookiecutter.package_name }}.integrations.llm import anthropic, make_provider
from {{ cookiecutter.package_name }}.integrations.llm.attachments import Attachment
from {{ cookiecutter.package_name }}.integrations.llm.images import AttachmentError

CLAUDE = "claude-sonnet-4-5"
PROMPT = "Extract the patient.\n--- DOCUMENT ---\nName: Jane Doe"


@pytest.fixture
def claude(llm_stub, fast_policy):
    return make_provider(
        "anthropic", api_key=stubs.LLM_API_KEY, base_url=llm_stub.anthropic_base, policy=fast_policy
    )


def claude_ask(provider, *attachments):
    return provider.complete(
        system="Answer in JSON.",
        prompt=PROMPT,
        model=CLAUDE,
        max_tokens=300,
        attachments=attachments,
    )


def test_anthropic_sends_an_image_block_then_the_text(claude, llm_stub):
    photo = scans.png(400, 300)

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
    document = scans.pdf(3)

    claude_ask(claude, Attachment("application/pdf", document))

    (sent,) = llm_stub.requests
    block, text = sent.json["messages"][0]["content"]
    assert block["type"] == "document"
    assert block["source"]["type"] == "base64"
    assert block["source"]["media_type"] == "application/pdf"
    assert base64.b64decode(block["source"]["data"], validate=True) == document
    assert text["type"] == "text"


def test_anthropic_gets_a_big_photo_scaled_to_its_long_edge_and_pixel_budget(claude, llm_stub):
    claude_ask(claude, Attachment("image/png", scans.png(4000, 3000), page=2))

    (sent,) = llm_stub.requests
    data = base64.b64decode(sent.json["messages"][0]["content"][0]["source"]["data"])
    width, height = scans.size(data)
    assert max(width, height) <= anthropic.IMAGE_MAX_LONG_EDGE
    assert width * height <= anthropic.IMAGE_MAX_TOKENS * anthropic.IMAGE_PIXELS_PER_TOKEN
    assert width * height > 0.95 * anthropic.IMAGE_MAX_TOKENS * anthropic.IMAGE_PIXELS_PER_TOKEN
    assert abs(width / height - 4 / 3) < 0.01
    assert scans.image_format(data) == "PNG"  # PNG stays PNG


def test_anthropic_keeps_several_pages_in_their_order(claude, llm_stub):
    pages = [Attachment("image/jpeg", scans.jpeg(300 + n, 400), page=n + 1) for n in range(3)]

    claude_ask(claude, *pages)

    (sent,) = llm_stub.requests
    content = sent.json["messages"][0]["content"]
    assert [block["type"] for block in content] == ["image", "image", "image", "text"]
    widths = [scans.size(base64.b64decode(b["source"]["data"]))[0] for b in content[:3]]
    assert widths == [300, 301, 302]
    assert {b["source"]["media_type"] for b in content[:3]} == {"image/jpeg"}


def test_anthropic_refuses_a_pdf_over_100_pages_without_calling(claude, llm_stub):
    with pytest.raises(AttachmentError, match=r"101 pages, over the 100") as caught:
        claude_ask(claude, Attachment("application/pdf", scans.pdf(anthropic.MAX_PDF_PAGES + 1)))

    assert caught.value.transient is False
    assert llm_stub.requests == []


def test_anthropic_refuses_a_request_over_32_mb_without_calling(claude, llm_stub):
    huge = b"%PDF-1.7\n" + os.urandom(25 * 1024 * 1024)

    with pytest.raises(AttachmentError, match=r"MiB once encoded, over the 32 MiB"):
        claude_ask(claude, Attachment("application/pdf", huge))

    assert llm_stub.requests == []


def test_anthropic_refuses_more_images_than_a_request_holds(claude, llm_stub):
    tiny = Attachment("image/png", scans.png(8, 8))

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
    photo = Attachment("image/png", scans.png(1000, 750))
    document = Attachment("application/pdf", scans.pdf(2))
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
