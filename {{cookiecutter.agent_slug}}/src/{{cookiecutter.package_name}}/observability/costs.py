"""A cost record for every LLM call, one JSON-lines file per UTC day, and the reports over them.

Field names follow the OpenTelemetry GenAI semantic conventions. The model the server answered
with is priced from the genai-prices snapshot (observability/prices.py) or PRICES_FILE, and the
record says how (exact, rule, none). An unknown model records cost_usd null and is remembered as a
problem to alert on: never a silent $0.
"""

import errno
import json
import logging
import os
from datetime import UTC, date, datetime
from pathlib import Path

from ..contract.costs import DayFacts, read_records
from ..contract.files import fsync_file
from ..contract.times import today_utc
from .prices import Price, Snapshot, read_price_file

logger = logging.getLogger(__name__)


class PriceTable:
    """Prices from PRICES_FILE (by exact model id) first, then from the genai-prices snapshot."""

    def __init__(self, overrides: dict[str, dict] | None = None, snapshot: Snapshot | None = None):
        self.overrides = {model.lower(): prices for model, prices in (overrides or {}).items()}
        self.snapshot = snapshot or Snapshot()

    @classmethod
    def load(cls, override: Path | None = None) -> "PriceTable":
        return cls(read_price_file(override) if override is not None else None)

    def price(self, model: str, api_url: str | None = None, when=None) -> Price | None:
        """Return the price of the model id a server answered with, and how it was found.

        The API URL chooses the price list (OpenAI, OpenRouter, Mistral, Anthropic); a server the
        snapshot does not know (a local or self-hosted one) is priced by the model id alone, as
        genai-prices does without a provider.
        """
        if (prices := self.overrides.get(model.lower())) is not None:
            return Price(model, "PRICES_FILE", "exact", "PRICES_FILE", prices)
        if api_url is not None and self.snapshot.provider(None, api_url=api_url) is None:
            api_url = None
        return self.snapshot.find(model, api_url=api_url, when=when)

    def cost(self, model: str, usage, api_url: str | None = None) -> float | None:
        """Return the USD cost of usage on model, or None when the price is unknown."""
        price = self.price(model, api_url)
        return None if price is None else float(price.cost(usage).total_usd)


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
        # The day file whose last record is written but not yet fdatasynced (see record()).
        self.unsynced: Path | None = None
        self.spent_today()

    def path_for(self, day: date) -> Path:
        return self.directory / f"{day.isoformat()}.jsonl"

    def spent_today(self) -> float:
        """Return today's spend in USD (read from today's file once per day).

        The last record may not be durable yet: what acts on the spend syncs first (a call
        allowed by the budget, see Gateway.ask; an alert, sent after the runtime's
        settle).
        """
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
        api_url: str | None = None,
        pages: int | None = None,
        images: int | None = None,
        read_via: str | None = None,
    ) -> dict:
        """Write one cost record and return it; sync() makes it durable.

        The record is written at once (a killed process loses nothing) and fdatasynced with the
        item's next sync point (the runtime's settle, before the input moves or an alert is
        sent), or before the budget allows another call: nothing acts on a record not yet durable.

        The model the server says answered is priced (a router or an alias may answer with
        another model than the one asked for); the record keeps both ids and how the price was
        found. pages, images and read_via say what the call carried: the document's pages, the
        images sent, how the document was read ("text_layer", "ocr", "model", ...); null when
        the caller did not say.
        """
        self.spent_today()  # a new day starts from its file first, so this record counts once
        now = datetime.now(UTC)
        answered = response_model or model
        price = self.prices.price(answered, api_url, when=now)
        cost = None if price is None else float(price.cost(usage).total_usd)
        if price is None:
            self.unknown_models.add(model)
            logger.warning(
                "No price known for model %s (asked for %s) in %s: its cost is recorded as null; "
                "add it to PRICES_FILE",
                answered,
                model,
                self.prices.snapshot.label,
                extra={"model": answered},
            )
        record = {
            "ts": now.isoformat(timespec="milliseconds"),
            "agent": self.agent,
            "gen_ai.system": provider,
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.response.model": answered,
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": usage.cache_read_tokens,
            "gen_ai.usage.cache_creation.input_tokens": usage.cache_write_tokens,
            "cost_usd": cost,
            "price_match": price.match if price else "none",
            "price_model": price.model if price else None,
            "price_snapshot": price.source if price else self.prices.snapshot.label,
            "latency_ms": round(latency_ms, 1),
            "purpose": purpose,
            "item_id": item_id,
            "status": status,
            "pages": pages,
            "images": images,
            "read_via": read_via,
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path_for(now.date())
        append_line(path, json.dumps(record, ensure_ascii=False), durable=False)
        self.unsynced = path
        if self._day == now.date():
            self._spent += cost or 0.0
        return record

    def sync(self) -> None:
        """Make the record written last durable (nothing to do when it is already).

        A failed sync is raised once, where it happens (the item's step, which a full disk
        pauses); it is not tried again: a second fdatasync would not bring the data back.
        """
        if self.unsynced is None:
            return
        path, self.unsynced = self.unsynced, None
        fsync_file(path, data_only=True)


def usd(amount: float) -> str:
    """Return a budget in dollars: cents, or as many decimals (up to 6) as a smaller one needs."""
    for decimals in range(2, 7):
        if round(amount, decimals) == amount:
            break
    return f"${amount:.{decimals}f}"


def append_line(path: Path, line: str, durable: bool = True) -> None:
    """Append one line (durably unless durable=False), on a line of its own, or not at all.

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
        if durable:
            os.fdatasync(fd)
    finally:
        os.close(fd)
