"""Cost records: one JSON line per LLM call, one file per UTC day (costs/YYYY-MM-DD.jsonl).

    read_cost_records(path) -> iterator of dict    one day file; a torn or damaged line is skipped
    read_records(directory, since, until)          the days since..until, only their files read
    amount(record) -> Decimal | None               cost_usd, exact; None when unpriced
    DayFacts.of(records)                           spent_usd (Decimal), unpriced_models, last_ok
    CostTable(by)                                  calls, tokens and exact cost by a key; .add(key,
                                                   record), .rows(), .total(), .report_json(since,
                                                   until): the JSON both costs commands print
    tabulate(records, by) -> CostTable             one agent's records by day, model or purpose
    summarize(records, by) -> list of dict         tabulate's rows, each cost as a float

Field names follow the OpenTelemetry GenAI conventions: gen_ai.request.model, gen_ai.response.model,
gen_ai.usage.input_tokens, ...; cost_usd is null when the model's price is unknown (never $0).
"""

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from .layout import COST_FILE_SUFFIX

REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
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


class CostTable:
    """Calls, tokens and exact cost of cost records grouped by one key, and the JSON report of them.

    The report is what `<agent> costs --json` and `agentctl costs --json` print: since, until, by,
    rows (one per key, sorted) and total; costs are summed as Decimals and written as JSON numbers.
    """

    def __init__(self, by: str):
        self.by = by
        self.groups: dict[str, dict] = {}

    def add(self, key: str, record: dict) -> None:
        row = self.groups.get(key)
        if row is None:
            row = self.groups[key] = {self.by: key, **_zero()}
        _count(row, record)

    def rows(self) -> list[dict]:
        return [self.groups[key] for key in sorted(self.groups)]

    def total(self) -> dict:
        total = _zero()
        for row in self.groups.values():
            for field in total:
                total[field] += row[field]
        return total

    def report(self, since: date, until: date, **extra) -> dict:
        """The report's fields; extra ones (agentctl's host) come first."""
        return {
            **extra,
            "since": str(since),
            "until": str(until),
            "by": self.by,
            "rows": self.rows(),
            "total": self.total(),
        }

    def report_json(self, since: date, until: date, **extra) -> str:
        return json.dumps(self.report(since, until, **extra), indent=2, default=float)


def _zero() -> dict:
    return {
        "calls": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": Decimal(0),
        "unpriced_calls": 0,
    }


def _count(row: dict, record: dict) -> None:
    row["calls"] += 1
    row["input_tokens"] += _tokens(record.get(INPUT_TOKENS))
    row["output_tokens"] += _tokens(record.get(OUTPUT_TOKENS))
    cost = amount(record)
    if cost is None:
        row["unpriced_calls"] += 1
    else:
        row["cost_usd"] += cost


def _tokens(value) -> int:
    """A token count as written; anything else (a damaged record) counts as none."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


KEYS = {
    "day": lambda record: str(record.get("ts", ""))[:10],
    "model": model_of,
    "purpose": lambda record: str(record.get("purpose") or UNKNOWN_MODEL),
}


def tabulate(records, by: str) -> CostTable:
    """Group one agent's records by day (of their ts), model or purpose."""
    table, key_of = CostTable(by), KEYS[by]
    for record in records:
        table.add(key_of(record), record)
    return table


def summarize(records, by: str) -> list[dict]:
    """tabulate's rows with each cost as a float (the exact sum, rounded once)."""
    return [{**row, "cost_usd": float(row["cost_usd"])} for row in tabulate(records, by).rows()]
