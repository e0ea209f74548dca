"""Cost records: one JSON line per LLM call, one file per UTC day (costs/YYYY-MM-DD.jsonl).

    read_cost_records(path) -> iterator of dict    one day file; a torn or damaged line is skipped
    read_records(directory, since, until)          the days since..until, only their files read
    amount(record) -> Decimal | None               cost_usd, exact; None when unpriced
    DayFacts.of(records)                           spent_usd (Decimal), unpriced_models, last_ok
    summarize(records, by) -> list of dict         calls, tokens and cost by day, model or purpose

Field names follow the OpenTelemetry GenAI conventions: gen_ai.request.model, gen_ai.response.model,
gen_ai.usage.input_tokens, ...; cost_usd is null when the model's price is unknown (never $0).
"""

import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from .layout import COST_FILE_SUFFIX

REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
UNKNOWN_MODEL = "?"
GROUPINGS = ("day", "model", "purpose")


def read_cost_records(path: Path):
    """Yield the records of one day file; a line that is not a JSON object is logged and skipped.

    The last line may be torn by a crash mid-write; an earlier bad line is damage: both are
    skipped, so one bad line never hides a day's spend.
    """
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return
    with handle:
        for number, line in enumerate(handle, start=1):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict):
                yield record
            elif line.strip():
                _warn_unreadable(path, number)


def _warn_unreadable(path: Path, number: int) -> None:
    import logging  # most reads find nothing to warn about: they do not pay for the import

    logging.getLogger(__name__).warning("Skipping unreadable cost record %s line %d", path, number)


def read_records(directory: Path, since: date, until: date):
    """Yield the records of the days since..until (inclusive)."""
    day = since
    while day <= until:
        yield from read_cost_records(directory / f"{day.isoformat()}{COST_FILE_SUFFIX}")
        day += timedelta(days=1)


def amount(record: dict) -> Decimal | None:
    """Return a record's cost in USD as written (a float's shortest repr), or None if unpriced."""
    cost = record.get("cost_usd")
    if isinstance(cost, bool) or not isinstance(cost, int | float):
        return None
    return Decimal(str(cost))


def model_of(record: dict) -> str:
    return str(record.get(REQUEST_MODEL) or UNKNOWN_MODEL)


class DayFacts:
    """What one day's cost records say: spend, models of unknown price, last successful call."""

    def __init__(self):
        self.calls = 0
        self.spent_usd = Decimal(0)
        self.unpriced_models: list[str] = []
        self.last_ok: str | None = None  # the ts of the latest call with status "ok"

    @classmethod
    def of(cls, records) -> "DayFacts":
        facts, unpriced = cls(), set()
        for record in records:
            facts.calls += 1
            cost = amount(record)
            if cost is None:
                unpriced.add(model_of(record))
            else:
                facts.spent_usd += cost
            stamp = record.get("ts")
            # Every ts is written the same way (UTC, milliseconds), so the text orders as the time.
            if record.get("status") == "ok" and isinstance(stamp, str):
                facts.last_ok = max(facts.last_ok or stamp, stamp)
        facts.unpriced_models = sorted(unpriced)
        return facts


def summarize(records, by: str) -> list[dict]:
    """Group records by day, model or purpose: calls, tokens, known cost, calls of unknown price."""
    groups: dict[str, dict] = defaultdict(
        lambda: {
            "calls": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": Decimal(0),
            "unpriced_calls": 0,
        }
    )
    for record in records:
        key = {
            "day": str(record.get("ts", ""))[:10],
            "model": record.get("gen_ai.request.model") or "?",
            "purpose": record.get("purpose") or "?",
        }[by]
        group = groups[key]
        group["calls"] += 1
        group["input_tokens"] += int(record.get("gen_ai.usage.input_tokens") or 0)
        group["output_tokens"] += int(record.get("gen_ai.usage.output_tokens") or 0)
        if record.get("cost_usd") is None:
            group["unpriced_calls"] += 1
        else:
            group["cost_usd"] += Decimal(str(record["cost_usd"]))
    return [
        {by: key, **values, "cost_usd": float(values["cost_usd"])}
        for key, values in sorted(groups.items())
    ]
