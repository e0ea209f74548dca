"""A cost record for every LLM call, one JSON-lines file per UTC day, and the reports over them.

Field names follow the OpenTelemetry GenAI semantic conventions. An unknown model records
cost_usd null and is remembered as a problem to alert on: never a silent $0.
"""

import errno
import json
import logging
import os
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from ..contract.costs import DayFacts, read_records
from ..contract.times import today_utc

logger = logging.getLogger(__name__)

PRICES_FILE = Path(__file__).with_name("prices.json")
TOKENS_PER_PRICE_UNIT = 1_000_000
GROUPINGS = ("day", "model", "purpose")


class PriceTable:
    """USD prices per million tokens, looked up by the longest known prefix of a model id."""

    def __init__(self, models: dict[str, dict[str, float]]):
        self.models = models
        self._by_length = sorted(models, key=len, reverse=True)

    @classmethod
    def load(cls, override: Path | None = None) -> "PriceTable":
        models = json.loads(PRICES_FILE.read_text(encoding="utf-8"))["models"]
        if override is not None:
            models = {**models, **json.loads(override.read_text(encoding="utf-8"))["models"]}
        return cls(models)

    def price(self, model: str) -> dict[str, float] | None:
        # OpenRouter-style ids ("openai/gpt-4o-mini") are priced by the part after the slash.
        for candidate in (model, model.rsplit("/", 1)[-1]):
            for known in self._by_length:
                if candidate.startswith(known):
                    return self.models[known]
        return None

    def cost(self, model: str, usage) -> float | None:
        """Return the USD cost of usage on model, or None when the price is unknown."""
        price = self.price(model)
        if price is None:
            return None
        total = (
            Decimal(usage.input_tokens) * Decimal(str(price["input"]))
            + Decimal(usage.output_tokens) * Decimal(str(price["output"]))
            + Decimal(usage.cache_read_tokens)
            * Decimal(str(price.get("cache_read", price["input"])))
            + Decimal(usage.cache_write_tokens)
            * Decimal(str(price.get("cache_write", price["input"])))
        )
        return float(total / TOKENS_PER_PRICE_UNIT)


class CostLedger:
    """Append cost records and keep today's total at hand for the budget."""

    def __init__(self, directory: Path, agent: str, prices: PriceTable):
        self.directory = directory
        self.agent = agent
        self.prices = prices
        # The models of unknown price seen today, by any process: read from today's file, so a
        # restart does not forget them while today's records still hold cost_usd null.
        self.unknown_models: set[str] = set()
        self._day: date | None = None
        self._spent = 0.0
        self.spent_today()

    def path_for(self, day: date) -> Path:
        return self.directory / f"{day.isoformat()}.jsonl"

    def spent_today(self) -> float:
        """Return today's spend in USD (read from today's file once per day)."""
        day = today_utc()
        if day != self._day:
            self._day = day
            facts = DayFacts.of(read_records(self.directory, day, day))
            self._spent, self.unknown_models = float(facts.spent_usd), set(facts.unpriced_models)
        return self._spent

    def record(
        self,
        *,
        provider: str,
        model: str,
        usage,
        latency_ms: float,
        purpose: str,
        item_id: str | None,
        status: str,
        response_model: str | None = None,
    ) -> dict:
        """Write one cost record durably and return it."""
        self.spent_today()  # a new day starts from its file first, so this record counts once
        cost = self.prices.cost(response_model or model, usage)
        if cost is None:
            cost = self.prices.cost(model, usage)
        if cost is None:
            self.unknown_models.add(model)
            logger.warning(
                "No price known for model %s: its cost is recorded as null; add it to the price "
                "table (PRICES_FILE)",
                model,
                extra={"model": model},
            )
        now = datetime.now(UTC)
        record = {
            "ts": now.isoformat(timespec="milliseconds"),
            "agent": self.agent,
            "gen_ai.system": provider,
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.response.model": response_model or model,
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": usage.cache_read_tokens,
            "gen_ai.usage.cache_creation.input_tokens": usage.cache_write_tokens,
            "cost_usd": cost,
            "latency_ms": round(latency_ms, 1),
            "purpose": purpose,
            "item_id": item_id,
            "status": status,
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        append_line(self.path_for(now.date()), json.dumps(record, ensure_ascii=False))
        if self._day == now.date():
            self._spent += cost or 0.0
        return record


def append_line(path: Path, line: str) -> None:
    """Append one line durably, on a line of its own, or not at all (raise OSError).

    A write cut short by a full disk is taken back, so the file never holds half a record; a line a
    crash left unfinished is ended first, so it cannot swallow this one.
    """
    data = (line + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            logger.warning("Ending a cost record cut off by a crash in %s", path)
            data = b"\n" + data
        written = os.write(fd, data)
        if written != len(data):
            os.ftruncate(fd, size)
            why = f"cost record cut short ({written} of {len(data)} bytes)"
            raise OSError(errno.ENOSPC, why, str(path))
        os.fsync(fd)
    finally:
        os.close(fd)


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
