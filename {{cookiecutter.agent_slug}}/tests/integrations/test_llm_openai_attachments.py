"""Images and PDFs sent to a local stand-in for OpenAI chat completions.

`image_url` parts (data URLs, detail "high") and `file` parts (`file_data`, a PDF data URL) before
the text part; images scaled to the 2048 px box and 768 px short side OpenAI bills, never up; other
compatible servers get page images only; a request over a documented limit fails before any HTTP
call.
"""

import base64

import pytest

import scans
import stubs
from {{ cookiecutter.package_name }}.integrations.llm import make_provider, openai_compat
from {{ cookiecutter.package_name }}.integrations.llm.attachments import Attachment
from {{ cookiecutter.package_name }}.integrations.llm.images import AttachmentError

GPT = "gpt-4o"
PROMPT = "Extract the patient.\n--- DOCUMENT ---\nName: Jane Doe"


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


def gpt_ask(provider, *attachments):
    return provider.complete(
        system="Answer in JSON.", prompt=PROMPT, model=GPT, max_tokens=300, attachments=attachments
    )


def test_openai_sends_an_image_url_data_url_at_high_detail_then_the_text(gpt, llm_stub):
    photo = scans.jpeg(500, 400)

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
    document = scans.pdf(2)

    gpt_ask(gpt, Attachment("application/pdf", document))

    (sent,) = llm_stub.requests
    part, _ = sent.json["messages"][1]["content"]
    assert part["type"] == "file"
    assert part["file"]["filename"].endswith(".pdf")
    prefix = "data:application/pdf;base64,"
    assert part["file"]["file_data"].startswith(prefix)
    assert base64.b64decode(part["file"]["file_data"][len(prefix) :], validate=True) == document


def test_openai_gets_images_scaled_to_2048_box_and_768_short_side(gpt, llm_stub):
    gpt_ask(gpt, Attachment("image/png", scans.png(3000, 1500)))

    (sent,) = llm_stub.requests
    url = sent.json["messages"][1]["content"][0]["image_url"]["url"]
    data = base64.b64decode(url.split(",", 1)[1])
    assert scans.size(data) == (1536, 768)
    assert scans.image_format(data) == "PNG"


def test_openai_never_upscales_a_small_image(gpt, llm_stub):
    photo = scans.png(120, 60)

    gpt_ask(gpt, Attachment("image/png", photo))

    (sent,) = llm_stub.requests
    url = sent.json["messages"][1]["content"][0]["image_url"]["url"]
    assert base64.b64decode(url.split(",", 1)[1]) == photo


def test_openai_refuses_a_pdf_over_100_pages_without_calling(gpt, llm_stub):
    with pytest.raises(AttachmentError, match=r"101 pages, over the 100"):
        gpt_ask(gpt, Attachment("application/pdf", scans.pdf(openai_compat.MAX_PDF_PAGES + 1)))

    assert llm_stub.requests == []


def test_a_compatible_server_gets_page_images_but_no_pdf(local, llm_stub):
    assert local.media_types == frozenset({"image/png", "image/jpeg"})
    assert local.vision_by_default is False

    with pytest.raises(AttachmentError, match=r"does not read application/pdf"):
        gpt_ask(local, Attachment("application/pdf", scans.pdf(1)))
    gpt_ask(local, Attachment("image/png", scans.png(50, 50), page=1))

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
