"""The bundled price snapshot, read by the stdlib reader, prices model ids as genai-prices does."""

import json
import warnings
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from {{ cookiecutter.package_name }}.integrations.llm.base import Usage
from {{ cookiecutter.package_name }}.observability.prices import (
    SNAPSHOT_FILE,
    Price,
    Snapshot,
    clause_matches,
)

MODEL_IDS = [
    # current ids
    "claude-sonnet-4-5",
    "claude-opus-4-6",
    "claude-haiku-4-5",
    "claude-opus-4-1",
    "claude-3-5-haiku-latest",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1-nano",
    "gpt-5",
    "gpt-5-mini",
    "o3-mini",
    "o1",
    "mistral-small-latest",
    "mistral-large-latest",
    "codestral-latest",
    # dated ids, and the compact date genai-prices rewrites
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-20250514",
    "claude-3-5-haiku-20241022",
    "claude-sonnet-4@20250514",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-4.1-2025-04-14",
    "gpt-5.2-20251211",
    # the two a longest-prefix table priced as another model
    "gpt-4o-mini-realtime-preview",
    "gpt-4o-mini-realtime-preview-2024-12-17",
    # unknown ids
    "mystery-model-7b",
    "llama3.1:8b",
    "claude-nonexistent-9",
    "gpt-nonexistent-9",
    "",
    # ids with provider prefixes (OpenRouter's)
    "openai/gpt-4o-mini",
    "anthropic/claude-sonnet-4.5",
    "anthropic/claude-sonnet-4-5",
    "mistralai/mistral-small-3.2-24b-instruct",
    "meta-llama/llama-3.1-8b-instruct",
    "openrouter/auto",
    # case
    "Claude-Sonnet-4-5",
    "GPT-4o-Mini",
]
HINTS = [
    {},
    {"provider_id": "anthropic"},
    {"provider_id": "openai"},
    {"provider_id": "openrouter"},
    {"provider_id": "mistral"},
    {"provider_id": "mistralai"},
    {"provider_api_url": "https://api.anthropic.com/v1/messages"},
    {"provider_api_url": "https://api.openai.com/v1/chat/completions"},
    {"provider_api_url": "https://openrouter.ai/api/v1/chat/completions"},
    {"provider_api_url": "https://api.mistral.ai/v1/chat/completions"},
    {"provider_api_url": "http://127.0.0.1:8080/v1/chat/completions"},
]
USAGES = [
    Usage(input_tokens=1234, output_tokens=567),
    Usage(input_tokens=1234, output_tokens=567, cache_read_tokens=8901, cache_write_tokens=2345),
    # on and over the 200k-token tiers some models have (cached tokens count toward them)
    Usage(input_tokens=190_000, output_tokens=10, cache_read_tokens=10_000),
    Usage(input_tokens=150_000, output_tokens=4000, cache_read_tokens=60_000, cache_write_tokens=5),
]
WHEN = [datetime(2024, 6, 1, 12, tzinfo=UTC), datetime.now(UTC)]
SNAPSHOT = Snapshot()


@pytest.fixture(scope="module")
def genai_prices():
    return pytest.importorskip("genai_prices", reason="genai-prices is a test dependency")


def reference(genai_prices, model, hint, usage, when):
    """Return genai-prices' own answer: (model id, input, output, total), or None."""
    total_input = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    theirs = genai_prices.Usage(
        input_tokens=total_input,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = genai_prices.calc_price(theirs, model, genai_request_timestamp=when, **hint)
    except LookupError:
        return None
    return found.model.id, found.input_price, found.output_price, found.total_price


def ours(model, hint, usage, when):
    price = SNAPSHOT.find(
        model,
        provider_id=hint.get("provider_id"),
        api_url=hint.get("provider_api_url"),
        when=when,
    )
    if price is None:
        return None
    cost = price.cost(usage)
    return price.model, cost.input_usd, cost.output_usd, cost.total_usd


@pytest.mark.parametrize("hint", HINTS, ids=lambda hint: next(iter(hint.values()), "no hint"))
def test_the_reader_prices_model_ids_exactly_as_genai_prices(genai_prices, hint):
    compared = differ = 0
    problems = []
    for model in MODEL_IDS:
        for usage in USAGES:
            for when in WHEN:
                expected = reference(genai_prices, model, hint, usage, when)
                got = ours(model, hint, usage, when)
                compared += 1
                if got != expected:
                    differ += 1
                    problems.append(f"{model!r} {usage} {when:%Y-%m-%d}: {got} != {expected}")
    assert not problems, f"{differ} of {compared} differ:\n" + "\n".join(problems[:20])


def test_every_model_of_the_snapshot_is_priced_as_genai_prices_prices_it(genai_prices):
    """Each model's own id, under its own provider: the whole snapshot, not a sample."""
    usage = USAGES[1]
    for provider in SNAPSHOT.data["providers"]:
        if provider["id"] == "fake":
            continue
        for model in provider["models"]:
            hint = {"provider_id": provider["id"]}
            for when in WHEN:
                assert ours(model["id"], hint, usage, when) == reference(
                    genai_prices, model["id"], hint, usage, when
                ), (provider["id"], model["id"])


def test_the_snapshot_is_the_pinned_genai_prices_release(genai_prices):
    data = json.loads(SNAPSHOT_FILE.read_text(encoding="utf-8"))

    assert data["source"] == "genai-prices"
    assert data["version"] == genai_prices.__version__
    assert Snapshot().label == f"genai-prices {data['version']} ({data['taken']})"


# The reader's own rules, without genai-prices ----------------------------------------------


def test_the_two_ids_a_prefix_table_mispriced_get_their_own_price():
    snapshot = Snapshot()
    opus_46 = snapshot.find("claude-opus-4-6")
    opus_4 = snapshot.find("claude-opus-4-20250514")
    realtime = snapshot.find("gpt-4o-mini-realtime-preview")
    mini = snapshot.find("gpt-4o-mini")

    assert (opus_46.model, opus_4.model) == ("claude-opus-4-6", "claude-opus-4-0")
    assert opus_46.prices["input_mtok"] < opus_4.prices["input_mtok"]
    assert (realtime.model, mini.model) == ("gpt-4o-mini-realtime-preview", "gpt-4o-mini")
    assert realtime.prices["input_mtok"] != mini.prices["input_mtok"]


def test_a_price_says_whether_the_id_was_named_or_matched_by_a_rule():
    snapshot = Snapshot()

    assert snapshot.find("gpt-4o-mini").match == "exact"
    assert snapshot.find("claude-opus-4-20250514").match == "exact"  # an equals clause
    assert snapshot.find("claude-sonnet-4-5-20250929").match == "rule"
    assert snapshot.find("gpt-5.2-20251211").match == "rule"
    assert snapshot.find("mystery-model-7b") is None


def test_cache_tokens_are_priced_apart_and_missing_cache_prices_charge_the_input_price():
    snapshot = Snapshot()
    sonnet = snapshot.find("claude-sonnet-4-5-20250929", provider_id="anthropic")
    cached = Usage(
        input_tokens=1234, output_tokens=567, cache_read_tokens=8901, cache_write_tokens=2345
    )
    # Sonnet 4.5 per million tokens: input 3, output 15, cache read 0.30, cache write 3.75.
    expected = (
        Decimal(1234) * 3
        + Decimal(567) * 15
        + Decimal(8901) * Decimal("0.3")
        + Decimal(2345) * Decimal("3.75")
    ) / 1_000_000
    assert sonnet.cost(cached).total_usd == expected

    uncached = Price(
        sonnet.model,
        sonnet.provider,
        sonnet.match,
        sonnet.source,
        {"input_mtok": Decimal(2), "output_mtok": Decimal(4)},
    )
    assert uncached.cost(Usage(1_000_000, 0, 500_000, 250_000)).total_usd == Decimal("3.5")


def test_a_tier_prices_every_token_once_the_call_crosses_it():
    price = SNAPSHOT.find("claude-sonnet-4-5")
    tiered = price.prices["input_mtok"]
    assert isinstance(tiered, dict), "Sonnet 4.5's input price has a 200k-token tier"
    start, above = tiered["tiers"][0]["start"], tiered["tiers"][0]["price"]

    assert price.cost(Usage(input_tokens=start)).input_usd == tiered["base"] * start / 1_000_000
    assert price.cost(Usage(input_tokens=start + 1)).input_usd == above * (start + 1) / 1_000_000
    # cached tokens count toward the threshold
    crossing = price.cost(Usage(input_tokens=start, cache_read_tokens=1)).input_usd
    assert crossing > tiered["base"] * start / 1_000_000


@pytest.mark.parametrize(
    ("clause", "text", "expected"),
    [
        ({"equals": "GPT-4o"}, "gpt-4o", True),
        ({"starts_with": "claude-3"}, "claude-3-opus", True),
        ({"ends_with": "-mini"}, "gpt-4o", False),
        ({"contains": "claude"}, "anthropic/claude-x", True),
        ({"regex": "^o[134]"}, "o3-mini", True),
        ({"or": [{"equals": "a"}, {"equals": "b"}]}, "b", True),
        ({"and": [{"contains": "a"}, {"contains": "z"}]}, "ab", False),
    ],
)
def test_match_clauses(clause, text, expected):
    assert clause_matches(clause, text) is expected


def test_an_unknown_clause_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown price match clause 'fuzzy'"):
        clause_matches({"fuzzy": "x"}, "x")


def test_an_agent_reads_the_snapshot_only_when_it_prices_a_call(home):
    """The snapshot costs ~2 MiB once parsed: an idle agent does not pay it."""
    agent = home.agent()
    snapshot = agent.ledger.prices.snapshot
    assert "data" not in vars(snapshot)

    home.drop("referral.txt", "Name: Jane Doe\nDate of birth: 1980-01-02\n")
    agent.run_once()

    assert "data" in vars(snapshot)
