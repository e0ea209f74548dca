"""The gateway with images and PDFs: LLM_VISION, the budget estimated before the call, the cost
record's pages, images and read_via, and the refusals that need no HTTP call."""

import json
import logging
import os
from datetime import timedelta

import pytest

import scans
import stubs
from {{ cookiecutter.package_name }}.contract import files
from {{ cookiecutter.package_name }}.contract.times import today_utc
from {{ cookiecutter.package_name }}.integrations.llm import available
from {{ cookiecutter.package_name }}.integrations.llm.attachments import Attachment
from {{ cookiecutter.package_name }}.integrations.llm.base import Usage
from {{ cookiecutter.package_name }}.observability import costs
from {{ cookiecutter.package_name }}.reliability.http import PermanentError
from {{ cookiecutter.package_name }}.runtime import gateway
from {{ cookiecutter.package_name }}.runtime.gateway import BudgetReached
from {{ cookiecutter.package_name }}.runtime.protocol import ItemFailed

CLAUDE = "claude-sonnet-4-5"
PROMPT = "Extract the patient.\n--- DOCUMENT ---\n(a scan)"


def cost_records(home) -> list[dict]:
    records = []
    for path in sorted((home.state / "costs").glob("*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines()]
    return records


@pytest.fixture
def make_agent(home, llm_stub):
    agents = []

    def make(provider: str = "anthropic", **env: str):
        if provider not in available():
            pytest.skip(f"this agent was baked without the {provider} provider")
        base = llm_stub.anthropic_base if provider == "anthropic" else llm_stub.openai_base
        home.write_env(
            LLM_PROVIDER=provider,
            LLM_MODEL={"anthropic": CLAUDE, "openai": "gpt-4o"}.get(provider, "fake-extractor-1"),
            LLM_BASE_URL=base,
            LLM_API_KEY=stubs.LLM_API_KEY,
            HTTP_TIMEOUT_SECONDS="2",
            **env,
        )
        agent = home.agent()
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.close()  # closing twice is harmless


def ask(agent, *attachments, max_tokens=100, **kw):
    return agent.gateway.ask(
        "Answer in JSON.",
        PROMPT,
        purpose="extract",
        max_tokens=max_tokens,
        item_id="item-1",
        attachments=attachments,
        **kw,
    )


@pytest.mark.parametrize(
    ("provider", "vision", "reads"),
    [
        ("anthropic", "auto", {"image/png", "image/jpeg", "image/webp", "application/pdf"}),
        ("anthropic", "on", {"image/png", "image/jpeg", "image/webp", "application/pdf"}),
        ("anthropic", "off", set()),
        ("openai", "auto", set()),  # a server that is not api.openai.com: no eyes unless told
        ("openai", "on", {"image/png", "image/jpeg"}),  # a local vision model: page images only
        ("openai", "off", set()),
        ("fake", "on", set()),
    ],
)
def test_what_the_model_reads_follows_the_provider_and_llm_vision(
    make_agent, provider, vision, reads
):
    agent = make_agent(provider, LLM_VISION=vision)

    assert agent.gateway.media_types() == reads
    kinds = ("image/png", "image/jpeg", "image/webp", "application/pdf", "image/tiff")
    assert {kind for kind in kinds if agent.gateway.reads(kind)} == reads


def test_the_gateway_refuses_what_the_model_does_not_read_without_a_call(
    make_agent, llm_stub, home
):
    agent = make_agent("openai", LLM_VISION="on")
    with pytest.raises(PermanentError, match=r"LLM_VISION=on does not read application/pdf"):
        ask(agent, Attachment("application/pdf", scans.pdf(1)))
    agent.close()
    with pytest.raises(PermanentError, match=r"LLM_VISION=off does not read image/png"):
        ask(make_agent("anthropic", LLM_VISION="off"), Attachment("image/png", scans.png(5, 5)))

    assert llm_stub.requests == []
    assert cost_records(home) == []


def test_a_document_over_a_limit_fails_the_item_without_a_call(make_agent, llm_stub, home):
    agent = make_agent("anthropic")

    with pytest.raises(ItemFailed, match=r"a PDF of 101 pages, over the 100 pages"):
        ask(agent, Attachment("application/pdf", scans.pdf(101)))

    assert llm_stub.requests == []
    assert cost_records(home) == []


def test_the_cost_record_notes_pages_images_and_how_the_document_was_read(
    make_agent, llm_stub, home
):
    agent = make_agent("anthropic")
    pages = (
        Attachment("image/png", scans.png(300, 400), 1),
        Attachment("image/png", scans.png(300, 400), 2),
    )

    ask(agent, *pages, read_via="ocr+model", pages=2)
    agent.gateway.ask("s", "text only", purpose="extract", max_tokens=20, item_id="item-2")

    with_images, text_only = cost_records(home)
    assert (with_images["pages"], with_images["images"], with_images["read_via"]) == (
        2,
        2,
        "ocr+model",
    )
    assert (text_only["pages"], text_only["images"], text_only["read_via"]) == (None, None, None)
    sent = llm_stub.requests[0].json["messages"][0]["content"]
    assert [block["type"] for block in sent] == ["image", "image", "text"]


def estimate(agent, attachment, max_tokens):
    provider = agent.gateway.provider()
    prepared = provider.prepare((attachment,))
    tokens = provider.input_tokens(
        system="Answer in JSON.", prompt=PROMPT, model=CLAUDE, attachments=prepared
    )
    price = agent.ledger.prices.price(CLAUDE, provider.url)
    cost = price.cost(Usage(input_tokens=tokens, output_tokens=max_tokens)).total_usd
    return tokens, float(cost)


def test_a_call_whose_estimate_passes_the_budget_is_not_made(make_agent, llm_stub, caplog):
    agent = make_agent("anthropic", DAILY_BUDGET_USD="0.01")
    scan = Attachment("image/png", scans.png(1500, 1000), page=1)
    tokens, dear = estimate(agent, scan, max_tokens=1000)
    _, cheap = estimate(agent, scan, max_tokens=100)
    assert 1590 < tokens < 1700  # scaled to ~1.2 megapixels: about 1600 tokens, at w*h/750
    assert cheap < 0.01 < dear

    ask(agent, scan, max_tokens=100)  # within the budget: made
    with caplog.at_level(logging.WARNING), pytest.raises(BudgetReached):
        ask(agent, scan, max_tokens=1000)  # the same scan, a longer answer allowed: not made

    assert len(llm_stub.requests) == 1
    (line,) = [r.getMessage() for r in caplog.records if "estimated at" in r.getMessage()]
    assert f"estimated at {tokens} input tokens, ${dear:.4f} at most" in line
    assert "daily budget of $0.01" in line
    assert agent.db.effect(f"alert:budget:{today_utc().isoformat()}:item-1") is not None
    # The documents wait for tomorrow, as when the budget is reached: no call, no new reading.
    assert agent.gateway.budget_reached() is True
    with pytest.raises(BudgetReached):
        agent.gateway.ask("s", "text only", purpose="extract", max_tokens=5, item_id="item-2")
    assert len(llm_stub.requests) == 1


def test_the_wait_for_an_estimate_ends_with_the_day(make_agent, llm_stub, monkeypatch):
    agent = make_agent("anthropic", DAILY_BUDGET_USD="0.01")
    scan = Attachment("image/png", scans.png(1500, 1000), page=1)
    with pytest.raises(BudgetReached):
        ask(agent, scan, max_tokens=1000)

    tomorrow = today_utc() + timedelta(days=1)
    monkeypatch.setattr(gateway, "today_utc", lambda: tomorrow)
    monkeypatch.setattr(costs, "today_utc", lambda: tomorrow)

    assert agent.gateway.budget_reached() is False
    agent.gateway.ask("s", "text only", purpose="extract", max_tokens=5, item_id="item-2")
    assert len(llm_stub.requests) == 1


def test_todays_spend_counts_in_the_estimate(make_agent, llm_stub, home):
    agent = make_agent("anthropic", DAILY_BUDGET_USD="0.01")
    scan = Attachment("image/png", scans.png(1500, 1000), page=1)
    _, cheap = estimate(agent, scan, max_tokens=100)
    # Spend enough today that the cheap call no longer fits.
    agent.ledger.record(
        provider="anthropic",
        model=CLAUDE,
        usage=Usage(input_tokens=round((0.01 - cheap / 2) / 3e-6)),
        latency_ms=1.0,
        purpose="extract",
        item_id="earlier",
        status="ok",
        api_url=agent.gateway.provider().url,
    )

    with pytest.raises(BudgetReached):
        ask(agent, scan, max_tokens=100)

    assert llm_stub.requests == []
    assert [r["item_id"] for r in cost_records(home)] == ["earlier"]


def test_a_call_is_made_only_once_the_record_of_the_one_before_is_durable(
    make_agent, llm_stub, home, monkeypatch
):
    agent = make_agent("anthropic")
    synced = []

    class SyncWatch:
        """The os module of contract/files.py, which syncs the cost records (and the WAL)."""

        def __getattr__(self, name):
            return getattr(os, name)

        def fdatasync(self, fd):
            os.fdatasync(fd)
            if os.readlink(f"/proc/self/fd/{fd}").endswith(".jsonl"):
                synced.append(len(cost_records(home)))

    monkeypatch.setattr(files, "os", SyncWatch())
    real_complete = agent.gateway.provider().complete
    at_each_call = []

    def complete(*args, **kwargs):
        at_each_call.append(list(synced))
        return real_complete(*args, **kwargs)

    monkeypatch.setattr(agent.gateway.provider(), "complete", complete)
    ask(agent)
    assert synced == []  # the record waits for the item's next sync point
    ask(agent)

    assert at_each_call == [[], [1]]  # the second call after the first record's fdatasync
    assert len(cost_records(home)) == 2


def test_the_unknown_price_alert_names_the_model_that_answered(make_agent, llm_stub, caplog):
    agent = make_agent("anthropic")
    llm_stub.push(stubs.reply('{"a": 1}', model="claude-mystery-9"))

    with caplog.at_level(logging.WARNING):
        agent.gateway.ask("s", "p", purpose="extract", max_tokens=20, item_id="item-3")

    assert agent.db.effect("alert:unknown_price:claude-mystery-9") is not None
    assert agent.db.effect(f"alert:unknown_price:{CLAUDE}") is None
    (line,) = [
        r.getMessage() for r in caplog.records if "no price known for model" in r.getMessage()
    ]
    assert f"claude-mystery-9 (answering for {CLAUDE})" in line
