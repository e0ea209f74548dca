"""Cost records: the answered model priced by genai-prices' rules, never a silent $0, one file per
UTC day, reports."""

import importlib.util
import json
import logging
import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

import stubs
from {{ cookiecutter.package_name }}.contract import files
from {{ cookiecutter.package_name }}.contract.costs import DayFacts, read_records, summarize
from {{ cookiecutter.package_name }}.integrations.llm.base import Usage
from {{ cookiecutter.package_name }}.observability import costs
from {{ cookiecutter.package_name }}.observability.costs import CostLedger, PriceTable
from {{ cookiecutter.package_name }}.observability.prices import PriceFileError

AGENT = "test-agent"
TODAY = date(2025, 3, 10)
GEN_AI_FIELDS = (
    "gen_ai.system",
    "gen_ai.operation.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
)
OTHER_FIELDS = ("ts", "agent", "cost_usd", "latency_ms", "purpose", "item_id", "status")
PRICE_FIELDS = ("price_match", "price_model", "price_snapshot")
DOCUMENT_FIELDS = ("pages", "images", "read_via")
CACHED_USAGE = Usage(
    input_tokens=1234, output_tokens=567, cache_read_tokens=8901, cache_write_tokens=2345
)
# claude-sonnet-4 prices per million tokens: input 3, output 15, cache read 0.30, cache write 3.75.
CACHED_USAGE_SONNET_COST = (
    Decimal(1234) * Decimal(3)
    + Decimal(567) * Decimal(15)
    + Decimal(8901) * Decimal("0.3")
    + Decimal(2345) * Decimal("3.75")
) / Decimal(1_000_000)


@pytest.fixture
def prices() -> PriceTable:
    return PriceTable.load()


@pytest.fixture
def ledger(tmp_path, prices) -> CostLedger:
    return CostLedger(tmp_path / "costs", AGENT, prices)


def record(ledger: CostLedger, model: str = "gpt-4o-mini", usage: Usage | None = None, **kw):
    arguments = {
        "provider": "openai",
        "model": model,
        "usage": usage or Usage(input_tokens=1000, output_tokens=100),
        "latency_ms": 123.456,
        "purpose": "extract",
        "item_id": "item-1",
        "status": "ok",
        **kw,
    }
    return ledger.record(**arguments)


def utc_days_around_now() -> set[date]:
    """Today in UTC, and tomorrow in case the test runs across midnight."""
    today = datetime.now(UTC).date()
    return {today, today + timedelta(days=1)}


def write_day(directory, day: date, lines: list) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    (directory / f"{day.isoformat()}.jsonl").write_text(text, encoding="utf-8")


def cost_line(day: date, cost, model="gpt-4o-mini", purpose="extract", tokens=(10, 5)) -> dict:
    return {
        "ts": f"{day.isoformat()}T12:00:00.000+00:00",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": tokens[0],
        "gen_ai.usage.output_tokens": tokens[1],
        "cost_usd": cost,
        "purpose": purpose,
    }


# Prices ---------------------------------------------------------------------------------------

ANTHROPIC = "https://api.anthropic.com/v1/messages"
OPENAI = "https://api.openai.com/v1/chat/completions"
OPENROUTER = "https://openrouter.ai/api/v1/chat/completions"
LOCAL = "http://127.0.0.1:8080/v1/chat/completions"


@pytest.mark.parametrize(
    ("model", "api_url", "priced_as", "match"),
    [
        ("claude-sonnet-4-5-20250929", ANTHROPIC, "claude-sonnet-4-5", "rule"),
        ("claude-opus-4-6", ANTHROPIC, "claude-opus-4-6", "exact"),
        ("claude-opus-4-20250514", None, "claude-opus-4-0", "exact"),
        ("gpt-4o-mini", OPENAI, "gpt-4o-mini", "exact"),
        ("gpt-4o-mini-realtime-preview", OPENAI, "gpt-4o-mini-realtime-preview", "exact"),
        ("openai/gpt-4o-mini", OPENROUTER, "openai/gpt-4o-mini", "exact"),
        # a server the snapshot does not know: priced by the id alone
        ("gpt-4o-mini", LOCAL, "gpt-4o-mini", "exact"),
        ("fake-extractor-1", "fake://", "fake-extractor", "rule"),
    ],
)
def test_model_ids_find_their_price_by_genai_prices_rules(prices, model, api_url, priced_as, match):
    price = prices.price(model, api_url)

    assert (price.model, price.match) == (priced_as, match)
    assert price.source == prices.snapshot.label
    assert prices.snapshot.label.startswith("genai-prices ")


@pytest.mark.parametrize(
    ("model", "api_url"),
    [
        ("llama-3.1-70b", None),
        ("my-local-model", LOCAL),
        ("", None),
        ("claude", ANTHROPIC),
        ("mystery-model-7b", OPENAI),
        ("openai/gpt-4o-mini", OPENAI),  # OpenAI's own list has no router ids
        ("claude-sonnet-4-5", OPENAI),  # nor another provider's models
    ],
)
def test_unknown_models_have_no_price(prices, model, api_url):
    assert prices.price(model, api_url) is None
    assert prices.cost(model, Usage(input_tokens=10), api_url) is None


def test_cache_tokens_are_priced_exactly(prices):
    cost = prices.cost("claude-sonnet-4-5-20250929", CACHED_USAGE, ANTHROPIC)

    assert Decimal(str(cost)) == CACHED_USAGE_SONNET_COST == Decimal("0.02367105")
    without_cache = prices.cost(
        "claude-sonnet-4-5-20250929", Usage(input_tokens=1234, output_tokens=567), ANTHROPIC
    )
    assert cost > without_cache


def write_override(tmp_path, models):
    override = tmp_path / "prices.json"
    override.write_text(json.dumps({"models": models}), encoding="utf-8")
    return override


def test_a_price_file_adds_and_replaces_models_by_their_exact_id(tmp_path):
    override = write_override(
        tmp_path,
        {
            "my-local-model": {"input": 0, "output": 0},
            "GPT-4o-mini": {"input": 1.0, "output": 2.0},
            "house-model": {"input": 2.0, "output": 4.0},
        },
    )

    table = PriceTable.load(override)

    assert table.cost("my-local-model", Usage(1000, 1000)) == 0.0
    assert table.cost("gpt-4o-mini", Usage(1_000_000, 1_000_000), OPENAI) == 3.0
    assert table.price("gpt-4o-mini").source == "PRICES_FILE"
    assert table.price("my-local-model-q4") is None  # exact ids only, no prefixes
    assert table.price("claude-opus-4-5") == PriceTable.load().price("claude-opus-4-5")
    # Missing cache prices charge cached tokens at the input price.
    assert table.cost("house-model", Usage(1_000_000, 0, 500_000, 250_000)) == 2.0 + 1.0 + 0.5


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("{not json", "is not JSON"),
        ('{"prices": {}}', "is not JSON with a"),
        ('{"models": []}', '"models" is not an object'),
        ('{"models": {"m": {"input": 1}}}', "m needs an input and an output price"),
        ('{"models": {"m": {"input": 1, "output": -2}}}', "not a number >= 0"),
        ('{"models": {"m": {"input": 1, "output": "2"}}}', "not a number >= 0"),
        ('{"models": {"m": {"input": 1, "output": 2, "reasoning": 3}}}', "unknown price"),
    ],
)
def test_a_bad_price_file_is_one_clear_error(tmp_path, content, complaint):
    override = tmp_path / "prices.json"
    override.write_text(content, encoding="utf-8")

    with pytest.raises(PriceFileError) as caught:
        PriceTable.load(override)

    assert complaint in str(caught.value)
    assert f"fix PRICES_FILE={override}" in str(caught.value)


def test_a_missing_price_file_is_one_clear_error(tmp_path):
    with pytest.raises(PriceFileError, match=r"cannot read .*No such file"):
        PriceTable.load(tmp_path / "nowhere.json")


# Records ------------------------------------------------------------------------------------


def test_a_record_has_the_gen_ai_fields_and_lands_in_todays_utc_file(ledger):
    entry = record(
        ledger,
        model="claude-sonnet-4-5",
        usage=CACHED_USAGE,
        provider="anthropic",
        response_model="claude-sonnet-4-5-20250929",
    )

    files = sorted(ledger.directory.iterdir())
    assert len(files) == 1
    assert files[0].name in {f"{day.isoformat()}.jsonl" for day in utc_days_around_now()}
    assert entry["ts"].startswith(files[0].stem)
    (line,) = files[0].read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == entry
    assert set(entry) == (
        set(GEN_AI_FIELDS) | set(OTHER_FIELDS) | set(PRICE_FIELDS) | set(DOCUMENT_FIELDS)
    )
    assert [entry[field] for field in DOCUMENT_FIELDS] == [None, None, None]  # none given
    assert entry["gen_ai.system"] == "anthropic"
    assert entry["gen_ai.operation.name"] == "chat"
    assert entry["gen_ai.request.model"] == "claude-sonnet-4-5"
    assert entry["gen_ai.response.model"] == "claude-sonnet-4-5-20250929"
    assert entry["gen_ai.usage.input_tokens"] == 1234
    assert entry["gen_ai.usage.output_tokens"] == 567
    assert entry["gen_ai.usage.cache_read.input_tokens"] == 8901
    assert entry["gen_ai.usage.cache_creation.input_tokens"] == 2345
    assert Decimal(str(entry["cost_usd"])) == CACHED_USAGE_SONNET_COST
    assert (entry["price_match"], entry["price_model"]) == ("rule", "claude-sonnet-4-5")
    assert entry["price_snapshot"] == ledger.prices.snapshot.label
    assert entry["latency_ms"] == 123.5
    assert entry["agent"] == AGENT
    assert (entry["purpose"], entry["item_id"], entry["status"]) == ("extract", "item-1", "ok")


def test_a_record_notes_the_pages_images_and_reading_of_its_document(ledger):
    entry = record(ledger, pages=3, images=2, read_via="text_layer+ocr")

    (line,) = sorted(ledger.directory.iterdir())[0].read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == entry
    assert (entry["pages"], entry["images"], entry["read_via"]) == (3, 2, "text_layer+ocr")


def test_records_written_before_the_document_fields_still_count(tmp_path):
    older = {
        "ts": f"{TODAY.isoformat()}T10:00:00.000+00:00",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5,
        "cost_usd": 0.25,
        "purpose": "extract",
        "status": "ok",
    }
    newer = {**older, "cost_usd": 0.5, "pages": 2, "images": 2, "read_via": "model"}
    directory = tmp_path / "costs"
    write_day(directory, TODAY, [older, newer])

    records = list(read_records(directory, TODAY, TODAY))

    assert DayFacts.of(records).spent_usd == Decimal("0.75")
    assert summarize(records, "purpose")[0]["calls"] == 2


def test_records_append_to_the_same_day_file(ledger):
    for number in range(3):
        record(ledger, item_id=f"item-{number}", status="error" if number else "ok")

    (path,) = ledger.directory.iterdir()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["item_id"] for line in lines] == ["item-0", "item-1", "item-2"]
    assert [line["status"] for line in lines] == ["ok", "error", "error"]


def test_an_unknown_model_records_null_cost_and_warns(ledger, caplog):
    with caplog.at_level(logging.WARNING, logger=costs.__name__):
        entry = record(ledger, model="mystery-model-7b")

    assert entry["cost_usd"] is None
    assert (entry["price_match"], entry["price_model"]) == ("none", None)
    assert entry["price_snapshot"] == ledger.prices.snapshot.label
    (path,) = ledger.directory.iterdir()
    assert '"cost_usd": null' in path.read_text(encoding="utf-8")
    assert ledger.unknown_models == {"mystery-model-7b"}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "mystery-model-7b" in warnings[0].getMessage()
    assert ledger.spent_today() == 0.0


def test_a_new_ledger_knows_todays_unpriced_models_from_todays_file(tmp_path, prices):
    directory = tmp_path / "costs"
    today = datetime.now(UTC).date()
    write_day(directory, today - timedelta(days=1), [cost_line(today, None, model="yesterday-7b")])
    write_day(directory, today, [cost_line(today, None, model="mystery-model-7b")])

    # What a restart does: a new process, a new ledger, the same files.
    assert CostLedger(directory, AGENT, prices).unknown_models == {"mystery-model-7b"}


def test_a_new_day_counts_its_first_record_once_and_forgets_yesterdays_models(
    tmp_path, prices, monkeypatch
):
    today = datetime.now(UTC).date()
    monkeypatch.setattr(costs, "today_utc", lambda: today - timedelta(days=1))
    ledger = CostLedger(tmp_path / "costs", AGENT, prices)
    ledger.unknown_models.add("yesterday-7b")
    monkeypatch.setattr(costs, "today_utc", lambda: today)  # midnight passes

    entry = record(ledger)

    assert ledger.spent_today() == pytest.approx(entry["cost_usd"])
    assert ledger.unknown_models == set()


def test_the_answered_model_is_priced_and_both_ids_are_recorded(ledger):
    usage = Usage(input_tokens=1000, output_tokens=100)
    routed = record(ledger, model="router-default", response_model="gpt-4o-mini-2024-07-18")
    upgraded = record(ledger, model="claude-opus-4-0", response_model="claude-opus-4-6")

    assert routed["cost_usd"] == ledger.prices.cost("gpt-4o-mini", usage)
    assert (routed["gen_ai.request.model"], routed["gen_ai.response.model"]) == (
        "router-default",
        "gpt-4o-mini-2024-07-18",
    )
    assert upgraded["price_model"] == "claude-opus-4-6"
    assert upgraded["cost_usd"] == ledger.prices.cost("claude-opus-4-6", usage)
    assert upgraded["cost_usd"] < ledger.prices.cost("claude-opus-4-0", usage)
    assert ledger.unknown_models == set()


def test_an_answered_model_of_unknown_price_is_not_priced_as_the_one_asked_for(ledger, caplog):
    with caplog.at_level(logging.WARNING, logger=costs.__name__):
        entry = record(ledger, model="gpt-4o-mini", response_model="mystery-build-7b")

    assert entry["cost_usd"] is None
    assert entry["price_match"] == "none"
    assert ledger.unknown_models == {"gpt-4o-mini"}  # what the records' readers alert on
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "mystery-build-7b (asked for gpt-4o-mini)" in warning.getMessage()


def test_the_api_url_chooses_the_price_list(ledger):
    entry = record(ledger, model="openai/gpt-4o-mini", api_url=OPENROUTER)
    direct = record(ledger, model="openai/gpt-4o-mini", api_url=OPENAI)

    assert entry["price_model"] == "openai/gpt-4o-mini"
    assert entry["cost_usd"] is not None
    assert direct["cost_usd"] is None


# (provider module, asked for, answered with, price list model) for the agent-level test.
ANSWERED = [
    ("anthropic", "anthropic", "claude-opus-4-0", "claude-opus-4-6", "claude-opus-4-6"),
    ("openai", "openai_compat", "gpt-4o", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
]


@pytest.mark.parametrize(
    ("provider", "asked", "answered", "priced_as"),
    [
        pytest.param(*case[:1], *case[2:], id=case[0])
        for case in ANSWERED
        if importlib.util.find_spec(f"{{ cookiecutter.package_name }}.integrations.llm.{case[1]}")
    ],
)
def test_the_agent_prices_the_model_the_server_answered_with(
    home, provider, asked, answered, priced_as
):
    fields = {"last_name": "Doe", "first_name": "Jane", "birth_date": "1980-01-02"}
    with stubs.LLMStub() as llm:
        llm.push(
            stubs.reply(json.dumps(fields), input_tokens=1000, output_tokens=100, model=answered)
        )
        base = llm.anthropic_base if provider == "anthropic" else llm.openai_base
        home.write_env(
            LLM_PROVIDER=provider, LLM_MODEL=asked, LLM_BASE_URL=base, LLM_API_KEY=stubs.LLM_API_KEY
        )
        home.drop("referral.txt", "Name: Jane Doe\nDate of birth: 1980-01-02\n")
        result = home.cli("once")

    assert result.returncode == 0, result.stderr
    (path,) = (home.state / "costs").glob("*.jsonl")
    (entry,) = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert (entry["gen_ai.request.model"], entry["gen_ai.response.model"]) == (asked, answered)
    assert entry["price_model"] == priced_as
    usage = Usage(input_tokens=1000, output_tokens=100)
    assert entry["cost_usd"] == PriceTable.load().cost(priced_as, usage)
    assert entry["cost_usd"] != PriceTable.load().cost(asked, usage)


def test_spent_today_sums_todays_file_only(tmp_path, prices):
    directory = tmp_path / "costs"
    today = datetime.now(UTC).date()
    write_day(directory, today - timedelta(days=1), [cost_line(today, 100.0)])
    write_day(
        directory,
        today,
        [cost_line(today, 0.25), cost_line(today, None), "{torn", cost_line(today, 0.5)],
    )

    ledger = CostLedger(directory, AGENT, prices)

    assert ledger.spent_today() == 0.75
    entry = record(ledger)
    assert ledger.spent_today() == pytest.approx(0.75 + entry["cost_usd"])
    # Another process (the CLI) reading the same files agrees.
    assert CostLedger(directory, AGENT, prices).spent_today() == pytest.approx(
        0.75 + entry["cost_usd"]
    )


# Reading and reports ------------------------------------------------------------------------


def test_read_records_reads_only_the_files_in_range(tmp_path, caplog):
    directory = tmp_path / "costs"
    for offset in range(-4, 2):
        day = TODAY + timedelta(days=offset)
        write_day(directory, day, [cost_line(day, 0.01)])
    before_range = TODAY - timedelta(days=3)
    inside_range = TODAY - timedelta(days=1)
    write_day(directory, before_range, [cost_line(before_range, 0.01), "not json"])
    write_day(directory, inside_range, [cost_line(inside_range, 0.01), "not json"])
    # A day file that cannot even be opened proves the day is never touched.
    (directory / f"{(TODAY - timedelta(days=4)).isoformat()}.jsonl").unlink()
    (directory / f"{(TODAY - timedelta(days=4)).isoformat()}.jsonl").mkdir()

    with caplog.at_level(logging.WARNING, logger=read_records.__module__):
        records = list(read_records(directory, TODAY - timedelta(days=2), TODAY))

    assert sorted(r["ts"][:10] for r in records) == [
        (TODAY - timedelta(days=2)).isoformat(),
        inside_range.isoformat(),
        TODAY.isoformat(),
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"{inside_range.isoformat()}.jsonl line 2" in warnings[0]


def test_read_records_of_an_empty_range_or_missing_directory_is_empty(tmp_path):
    write_day(tmp_path, TODAY, [cost_line(TODAY, 1.0)])

    assert list(read_records(tmp_path, TODAY, TODAY - timedelta(days=1))) == []
    assert list(read_records(tmp_path / "missing", TODAY, TODAY)) == []


SUMMARY_RECORDS = [
    cost_line(date(2025, 3, 9), 0.1, model="gpt-4o-mini", purpose="extract", tokens=(100, 10)),
    cost_line(date(2025, 3, 9), 0.2, model="gpt-4o-mini", purpose="match", tokens=(200, 20)),
    cost_line(date(2025, 3, 10), None, model="mystery", purpose="extract", tokens=(300, 30)),
    cost_line(date(2025, 3, 10), 0.7, model="claude-haiku-4-5", purpose="extract", tokens=(1, 2)),
]


def test_summarize_by_day_adds_cost_exactly_and_counts_unpriced_calls():
    assert summarize(SUMMARY_RECORDS, "day") == [
        {
            "day": "2025-03-09",
            "calls": 2,
            "input_tokens": 300,
            "output_tokens": 30,
            "cost_usd": 0.3,  # 0.1 + 0.2 in floats would be 0.30000000000000004
            "unpriced_calls": 0,
        },
        {
            "day": "2025-03-10",
            "calls": 2,
            "input_tokens": 301,
            "output_tokens": 32,
            "cost_usd": 0.7,
            "unpriced_calls": 1,
        },
    ]


def test_summarize_by_model():
    rows = {row["model"]: row for row in summarize(SUMMARY_RECORDS, "model")}

    assert list(rows) == ["claude-haiku-4-5", "gpt-4o-mini", "mystery"]
    assert rows["gpt-4o-mini"]["calls"] == 2
    assert rows["gpt-4o-mini"]["cost_usd"] == 0.3
    assert rows["mystery"]["cost_usd"] == 0.0
    assert rows["mystery"]["unpriced_calls"] == 1


def test_summarize_by_purpose():
    rows = {row["purpose"]: row for row in summarize(SUMMARY_RECORDS, "purpose")}

    assert rows["extract"]["calls"] == 3
    assert rows["extract"]["cost_usd"] == 0.8
    assert rows["extract"]["unpriced_calls"] == 1
    assert rows["match"]["calls"] == 1
    assert rows["match"]["cost_usd"] == 0.2


def test_summarize_reads_what_the_ledger_wrote(ledger):
    record(ledger, purpose="extract")
    record(ledger, model="mystery-model", purpose="extract")
    record(ledger, purpose="match")

    days = sorted(utc_days_around_now())
    rows = summarize(read_records(ledger.directory, days[0], days[-1]), "purpose")

    assert [(r["purpose"], r["calls"], r["unpriced_calls"]) for r in rows] == [
        ("extract", 2, 1),
        ("match", 1, 0),
    ]


def test_a_record_after_a_line_cut_off_by_a_crash_stands_on_its_own_line(ledger, caplog):
    ledger.directory.mkdir(parents=True)
    for day in utc_days_around_now():
        ledger.path_for(day).write_text('{"ts": "2026-01-01T00:00:00", "cost_us', encoding="utf-8")

    entry = record(ledger, item_id="after-the-crash")

    path = ledger.path_for(date.fromisoformat(entry["ts"][:10]))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[1]) == entry
    assert "cut off by a crash" in caplog.text
    day = date.fromisoformat(entry["ts"][:10])
    assert [r["item_id"] for r in read_records(ledger.directory, day, day)] == ["after-the-crash"]


def test_a_record_cut_short_by_a_full_disk_is_taken_back(ledger, monkeypatch):
    entry = record(ledger, item_id="before")
    path = ledger.path_for(date.fromisoformat(entry["ts"][:10]))
    before = path.read_bytes()
    real_write = costs.os.write
    monkeypatch.setattr(costs.os, "write", lambda fd, data: real_write(fd, data[:7]))

    with pytest.raises(OSError, match="cut short"):
        record(ledger, item_id="cut")

    assert path.read_bytes() == before
    monkeypatch.undo()
    record(ledger, item_id="after")
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["item_id"] for line in lines] == ["before", "after"]


class SyncCountingOs:
    """The os module, counting fdatasyncs and what the synced file held at each."""

    def __init__(self):
        self.synced: list[int] = []

    def __getattr__(self, name):
        return getattr(os, name)

    def fdatasync(self, fd):
        self.synced.append(os.fstat(fd).st_size)
        return os.fdatasync(fd)


def test_a_record_is_written_at_once_and_synced_once_at_the_next_sync_point(ledger, monkeypatch):
    counting = SyncCountingOs()
    monkeypatch.setattr(costs, "os", counting)  # the record's write
    monkeypatch.setattr(files, "os", counting)  # its sync (contract.files.fsync_file)
    entry = record(ledger)
    (path,) = ledger.directory.iterdir()
    size = path.stat().st_size
    assert json.loads(path.read_text(encoding="utf-8")) == entry  # a kill -9 loses nothing
    assert counting.synced == []  # left to the item's next sync point

    # Reading the spend acts on nothing: what acts (a call, an alert) syncs first.
    assert ledger.spent_today() == pytest.approx(entry["cost_usd"])
    assert counting.synced == []
    ledger.sync()
    assert counting.synced == [size]
    ledger.sync()
    assert counting.synced == [size]  # once

    record(ledger)
    ledger.sync()
    assert counting.synced == [size, path.stat().st_size]
