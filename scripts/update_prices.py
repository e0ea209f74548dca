"""Regenerate the agent's price snapshot from a pinned genai-prices release.

    make .venv/.dev-installed       # requirements-dev.txt pins genai-prices
    .venv/bin/python scripts/update_prices.py

(or in any environment with `pip install genai-prices==0.2.3`.) tests/test_update_prices.py checks
that the committed snapshot is what this script writes.

genai-prices (Pydantic's price database, https://github.com/pydantic/genai-prices) is the source;
the agent reads the snapshot with a small stdlib reader (observability/prices.py) that follows the
same match rules, so neither pydantic nor httpx is loaded by the agent. The snapshot keeps:

- the providers the agent can call: Anthropic, OpenAI, and the OpenAI-compatible servers its
  `openai` provider is documented for (OpenRouter, Mistral), in genai-prices' order, every model
  kept (dropping one could change which model an id matches first);
- the prices a text call can incur (input, output, cache read, cache write per million tokens),
  with their tiers and dated conditions; audio, image, search and per-request prices are left out,
  and so are the price variants chosen by a request context (the agent passes none);
- the agent's own offline `fake` provider, which genai-prices does not know.

To move to a newer release, change GENAI_PRICES_VERSION here and the pins in requirements-dev.txt
and the template's pyproject.toml, run this script, then the template's price tests.
"""

import argparse
import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import metadata
from pathlib import Path

GENAI_PRICES_VERSION = "0.2.3"
PROVIDERS = ("anthropic", "openai", "openrouter", "mistral")
PRICE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
TEMPLATE = Path(__file__).resolve().parent.parent / "{{cookiecutter.agent_slug}}"
SNAPSHOT = TEMPLATE / "src" / "{{cookiecutter.package_name}}" / "observability" / "prices.json"
# The template is rendered by Jinja: these would be taken for its tags.
JINJA_MARKS = ("{{", "{%", "{#")
# The offline provider's made-up price, so its calls exercise the cost and budget paths.
FAKE_PROVIDER = {
    "id": "fake",
    "api_pattern": "fake://",
    "model_match": {"starts_with": "fake-extractor"},
    "models": [
        {
            "id": "fake-extractor",
            "match": {"starts_with": "fake-extractor"},
            "prices": {
                "input_mtok": 0.5,
                "output_mtok": 1.5,
                "cache_read_mtok": 0.05,
                "cache_write_mtok": 0.625,
            },
        }
    ],
}


def number(value: Decimal) -> float:
    """Return a price as a JSON number that reads back as the same Decimal."""
    as_float = float(value)
    if Decimal(repr(as_float)) != value:
        raise SystemExit(f"price {value} has no exact JSON number; extend update_prices.py")
    return as_float


def clause(logic) -> dict:
    """Return a genai-prices match clause as the JSON genai-prices' own data file uses."""
    name = type(logic).__name__
    if name == "ClauseOr":
        return {"or": [clause(part) for part in logic.or_]}
    if name == "ClauseAnd":
        return {"and": [clause(part) for part in logic.and_]}
    fields = {
        "ClauseEquals": "equals",
        "ClauseStartsWith": "starts_with",
        "ClauseEndsWith": "ends_with",
        "ClauseContains": "contains",
        "ClauseRegex": "regex",
    }
    if name not in fields:
        raise SystemExit(f"unknown genai-prices match clause {name}; extend update_prices.py")
    return {fields[name]: getattr(logic, fields[name])}


def price_value(value):
    if hasattr(value, "tiers"):
        return {
            "base": number(value.base),
            "tiers": [{"start": tier.start, "price": number(tier.price)} for tier in value.tiers],
        }
    return number(value)


def model_price(prices) -> dict:
    kept = {}
    for key in PRICE_KEYS:
        value = getattr(prices, key, None)
        if value is not None:
            kept[key] = price_value(value)
    return kept


def constraint(value) -> dict | None:
    if value is None:
        return None
    if hasattr(value, "start_date"):
        return {"start_date": value.start_date.isoformat()}
    return {"start_time": value.start_time.isoformat(), "end_time": value.end_time.isoformat()}


def model(info) -> dict:
    if isinstance(info.prices, list):
        prices = [
            {"constraint": constraint(option.constraint), "prices": model_price(option.prices)}
            for option in info.prices
        ]
    else:
        prices = model_price(info.prices)
    return {"id": info.id, "match": clause(info.match), "prices": prices}


def provider(info) -> dict:
    entry = {"id": info.id, "api_pattern": info.api_pattern}
    if info.model_match is not None:
        entry["model_match"] = clause(info.model_match)
    if info.provider_match is not None:
        entry["provider_match"] = clause(info.provider_match)
    fallbacks = [name for name in info.fallback_model_providers or () if name in PROVIDERS]
    if fallbacks:
        entry["fallback_model_providers"] = fallbacks
    entry["models"] = [model(item) for item in info.models]
    return entry


def snapshot(taken: date) -> dict:
    from genai_prices.data import providers

    kept = [provider(item) for item in providers if item.id in PROVIDERS]
    missing = set(PROVIDERS) - {item["id"] for item in kept}
    if missing:
        raise SystemExit(f"genai-prices {GENAI_PRICES_VERSION} has no provider {sorted(missing)}")
    return {
        "_comment": (
            "Generated by scripts/update_prices.py from genai-prices; do not edit. USD per million "
            "tokens; input_mtok prices the input tokens that are neither cache reads nor writes."
        ),
        "source": "genai-prices",
        "version": GENAI_PRICES_VERSION,
        "taken": taken.isoformat(),
        "providers": [*kept, FAKE_PROVIDER],
    }


def dump(data: dict) -> str:
    """Return the snapshot as JSON with one model a line, so an update reads as a short diff."""
    head = {key: value for key, value in data.items() if key != "providers"}
    lines = ["{"]
    lines += [
        f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},"
        for key, value in head.items()
    ]
    lines.append(' "providers": [')
    for index, entry in enumerate(data["providers"]):
        fields = {key: value for key, value in entry.items() if key != "models"}
        lines.append("  " + json.dumps(fields, ensure_ascii=False)[:-1] + ', "models": [')
        models = [json.dumps(item, ensure_ascii=False) for item in entry["models"]]
        lines += [f"   {text}," for text in models[:-1]] + [f"   {models[-1]}"]
        lines.append("  ]}" + ("," if index < len(data["providers"]) - 1 else ""))
    lines += [" ]", "}"]
    text = "\n".join(lines) + "\n"
    if json.loads(text) != data:
        raise SystemExit("update_prices: the snapshot does not read back as written")
    if any(mark in text for mark in JINJA_MARKS):
        raise SystemExit("update_prices: the snapshot holds a Jinja tag; the template would break")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=SNAPSHOT, help="default: %(default)s")
    parser.add_argument(
        "--taken", type=date.fromisoformat, help="the date to record (default: today, UTC)"
    )
    args = parser.parse_args(argv)
    try:
        installed = metadata.version("genai-prices")
    except metadata.PackageNotFoundError:
        installed = None
    if installed != GENAI_PRICES_VERSION:
        print(
            f"update_prices: genai-prices {installed or 'is not installed'}; this script reads "
            f"{GENAI_PRICES_VERSION}: pip install genai-prices=={GENAI_PRICES_VERSION}",
            file=sys.stderr,
        )
        return 2
    taken = args.taken or datetime.now(UTC).date()
    text = dump(snapshot(taken))
    args.output.write_text(text, encoding="utf-8")
    print(f"update_prices: wrote {args.output} (genai-prices {installed}, {len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
