"""A scan read by the model, end to end: the agent, its job and a provider's HTTP stand-in.

The agent runs on generated scans with LLM_PROVIDER=anthropic or openai, LLM_BASE_URL pointing at
a stand-in on 127.0.0.1 that checks each request against the API's documented shapes. What the
model is handed (the whole PDF, or the page images scaled to the documented limits), what the
prompt carries (the OCR text), where the item ends, and what the cost record says are checked
at once; so are the paths where nothing may be sent: no way to read the scan, or a budget the
call's estimate would pass.
"""

import base64
import importlib.util
import io
import json
import logging
import re

import pytest
from PIL import Image

import scans
import stubs

PACKAGE = "{{ cookiecutter.package_name }}"
# The provider modules a bake did not choose are removed; their tests here are skipped.
HAS = {
    name: importlib.util.find_spec(f"{PACKAGE}.integrations.llm.{module}") is not None
    for name, module in (("anthropic", "anthropic"), ("openai", "openai_compat"))
}
MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o-mini"}
PEOPLE = """id,last_name,first_name,birth_date
1,Doe,Jane,1980-02-03
2,Martin,Marie,1975-06-12
3,Martin,Marie,1988-11-30
4,Benali,Youssef,1969-04-21
5,Okafor,Chidi,1992-09-05
"""
BENALI = {
    "last_name": "Benali",
    "first_name": "Youssef",
    "birth_date": "1969-04-21",
    "document_type": "referral",
    "summary": "A referral for a specialist's opinion.",
}
OKAFOR = {**BENALI, "last_name": "Okafor", "first_name": "Chidi", "birth_date": "1992-09-05"}
SIDECAR = ".why.json"
DATA_URL = re.compile(r"^data:(image/(?:png|jpeg));base64,(.+)$")
# What OpenAI bills a high-detail image at: long edge 2048 px, then short edge 768 px.
# https://platform.openai.com/docs/guides/images-vision#calculating-costs
OPENAI_LONG_EDGE, OPENAI_SHORT_EDGE = 2048, 768


def needs(provider: str):
    return pytest.mark.skipif(
        not HAS[provider], reason=f"this agent was generated without the {provider} provider"
    )


@pytest.fixture
def answers():
    """The stand-in's answers: the fields the test sets, as a model that read them would."""
    fields = {}
    with stubs.LLMStub(responder=lambda system, prompt: json.dumps(fields)) as llm:
        llm.fields = fields
        yield llm


def setup(home, llm, provider: str, **env: str) -> None:
    people = home.root / "people.csv"
    people.write_text(PEOPLE, encoding="utf-8")
    home.write_env(
        PEOPLE_CSV=str(people),
        LLM_PROVIDER=provider,
        LLM_MODEL=MODELS[provider],
        LLM_BASE_URL=llm.anthropic_base if provider == "anthropic" else llm.openai_base,
        LLM_API_KEY=llm.api_key,
        OCR_LANGUAGES="fra+eng",
        HTTP_MAX_TOTAL_SECONDS="30",
        **env,
    )


def run(home) -> None:
    agent = home.agent()
    try:
        agent.run_once()
    finally:
        agent.close()


def why(home, folder: str, name: str) -> dict:
    return json.loads((home.state / folder / f"{name}{SIDECAR}").read_text())


def outbox(home) -> list[dict]:
    return [json.loads(path.read_text()) for path in (home.state / "outbox").iterdir()]


def cost_records(home) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((home.state / "costs").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def blocks(request) -> list[dict]:
    (message,) = [m for m in request.json["messages"] if m["role"] == "user"]
    return message["content"]


def referral_scan() -> bytes:
    return scans.scan(scans.letter("Youssef Benali", "21/04/1969"), 200)


def benali_photo() -> bytes:
    return scans.phone_photo(scans.letter("Youssef Benali", "21/04/1969"))


@needs("anthropic")
def test_anthropic_reads_the_scanned_pdf_and_the_prompt_carries_its_ocr_text(home, answers):
    pdf = referral_scan()
    answers.fields.update(BENALI)
    setup(home, answers, "anthropic")  # LLM_VISION=auto: Claude reads PDFs
    home.drop("referral.pdf", pdf)

    run(home)

    (request,) = answers.requests
    document, text = blocks(request)
    assert document["type"] == "document"
    assert document["source"]["media_type"] == "application/pdf"
    assert base64.b64decode(document["source"]["data"], validate=True) == pdf
    # The local OCR text reached the model beside the PDF: the words only the image holds.
    assert text["type"] == "text"
    assert "Benali" in text["text"] and "21/04/1969" in text["text"]
    assert home.files("done") == ["referral.pdf"]
    (result,) = outbox(home)
    assert result["person"]["id"] == 4
    assert {item["key"] for item in result["evidence"] if item["found"]} == {
        "last_name",
        "first_name",
        "birth_date",
    }
    (record,) = cost_records(home)
    assert record["pages"] == 1
    assert record["images"] == 0  # the PDF went whole, no page image
    assert record["read_via"] == "ocr+model"
    assert record["status"] == "ok" and record["cost_usd"] > 0


@needs("openai")
def test_a_local_openai_compatible_model_gets_the_phone_photo_scaled_and_no_file_part(
    home, answers
):
    photo = scans.phone_photo(scans.letter("Chidi Okafor", "05/09/1992"))
    assert Image.open(io.BytesIO(photo)).size == (2400, 3200)
    answers.fields.update(OKAFOR)
    setup(home, answers, "openai", LLM_VISION="on")  # not api.openai.com: page images only
    home.drop("photo.jpg", photo)

    run(home)

    (request,) = answers.requests
    parts = blocks(request)
    assert [part["type"] for part in parts] == ["image_url", "text"]
    assert all(part["type"] != "file" for part in parts)
    match = DATA_URL.match(parts[0]["image_url"]["url"])
    assert match is not None
    sent = Image.open(io.BytesIO(base64.b64decode(match[2], validate=True)))
    assert sent.format == {"image/png": "PNG", "image/jpeg": "JPEG"}[match[1]]
    # Scaled as OpenAI bills it: within 2048 px, then the short edge down to 768 px.
    assert min(sent.size) == OPENAI_SHORT_EDGE and max(sent.size) <= OPENAI_LONG_EDGE
    assert sent.size == (768, 1024)  # the photo's 3:4 kept
    assert "Okafor" in parts[1]["text"]
    assert home.files("done") == ["photo.jpg"]
    (result,) = outbox(home)
    assert result["person"]["id"] == 5
    (record,) = cost_records(home)
    assert (record["pages"], record["images"], record["read_via"]) == (1, 1, "ocr+model")


@pytest.mark.parametrize(
    ("provider", "vision", "name", "content"),
    [
        pytest.param("anthropic", "auto", "referral.pdf", referral_scan, marks=needs("anthropic")),
        pytest.param("openai", "on", "photo.jpg", benali_photo, marks=needs("openai")),
    ],
)
def test_only_the_model_read_the_scan_so_nothing_is_grounded_and_a_human_decides(
    home, answers, provider, vision, name, content
):
    answers.fields.update(BENALI)  # the right fields: still nothing in the document's own text
    setup(home, answers, provider, OCR_ENABLED="false", LLM_VISION=vision)
    home.drop(name, content())

    run(home)

    (request,) = answers.requests
    assert blocks(request)[0]["type"] in ("document", "image_url")
    assert home.files("review") == [name] and home.files("done") == []
    reason = why(home, "review", name)["reason"]
    assert reason == (
        "last name Benali does not appear in the document; first name Youssef does not appear "
        "in the document; birth date 1969-04-21 does not appear in the document"
    )
    (record,) = cost_records(home)
    assert record["read_via"] == "model"


@pytest.mark.parametrize(
    ("provider", "name", "content"),
    [
        pytest.param("anthropic", "referral.pdf", referral_scan, marks=needs("anthropic")),
        pytest.param(
            "openai",
            "photo.jpg",
            lambda: scans.phone_photo(scans.letter("Chidi Okafor", "05/09/1992")),
            marks=needs("openai"),
        ),
    ],
)
def test_with_neither_ocr_nor_a_model_that_reads_images_nothing_is_sent(
    home, answers, provider, name, content
):
    setup(home, answers, provider, OCR_ENABLED="false", LLM_VISION="off")
    home.drop(name, content())

    run(home)

    assert answers.requests == []
    assert home.files("failed") == [name]
    reason = why(home, "failed", name)["error"]
    assert "set OCR_ENABLED=true" in reason and "LLM_VISION=on" in reason
    assert "apt install tesseract-ocr" in reason
    assert cost_records(home) == []


@pytest.mark.parametrize(
    ("provider", "vision", "name", "content"),
    [
        # A page of PDF read by Claude is thousands of tokens: far over a tenth of a cent.
        pytest.param("anthropic", "auto", "referral.pdf", referral_scan, marks=needs("anthropic")),
        # A high-detail photo is 6 tiles at gpt-4o-mini's tile price: over 30,000 tokens.
        pytest.param("openai", "on", "photo.jpg", benali_photo, marks=needs("openai")),
    ],
)
def test_a_scan_whose_estimate_passes_the_budget_waits_without_a_call(
    home, answers, caplog, provider, vision, name, content
):
    answers.fields.update(BENALI)
    setup(home, answers, provider, LLM_VISION=vision, DAILY_BUDGET_USD="0.001")
    home.drop(name, content())

    with caplog.at_level(logging.WARNING):
        run(home)

    assert answers.requests == []
    assert home.files("incoming") == [name]
    assert home.files("done") == home.files("review") == home.files("failed") == []
    assert cost_records(home) == []
    audit = [json.loads(line) for line in (home.state / "audit.jsonl").read_text().splitlines()]
    waiting = [e["detail"]["reason"] for e in audit if e["action"] == "item.waiting"]
    assert waiting == ["daily budget reached"]
    # The alert names the budget as set, not rounded to cents ($0.00 would read as no budget).
    (alert,) = [r.getMessage() for r in caplog.records if "is estimated at" in r.getMessage()]
    assert "would pass the daily budget of $0.001;" in alert

    # With a budget the estimate fits, the same scan is read on the next run.
    home.write_env(DAILY_BUDGET_USD="5")
    run(home)
    assert len(answers.requests) == 1
    assert home.files("done") == [name]
