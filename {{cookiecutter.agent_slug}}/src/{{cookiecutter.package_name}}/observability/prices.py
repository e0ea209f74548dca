"""Find a model's price in the bundled genai-prices snapshot, by genai-prices' own rules.

prices.json is a pruned copy of genai-prices' data (scripts/update_prices.py in the pillars
repository regenerates it from a pinned release). This reader follows genai-prices' lookup: the
provider by id, by API URL or by its model match; then the first model whose match clause (equals,
starts_with, ends_with, contains, regex, or, and) accepts the lower-cased id, then the provider's
fallback providers, then the id with a compact date (-20251211) written -2025-12-11; the last
dated price in force; tiers chosen by the call's total input tokens. A test checks it against
genai-prices itself; genai-prices is not imported here (it pulls pydantic and httpx).

PRICES_FILE, the operator's own prices by exact model id, is read here too (read_price_file).
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cached_property
from pathlib import Path

from ..reliability.errors import PermanentError

SNAPSHOT_FILE = Path(__file__).with_name("prices.json")
PER_TOKENS = 1_000_000
COMPACT_DATE = re.compile(r"(-)(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)")
INPUT_PARTS = ("cache_read", "cache_write")  # input tokens priced apart when the model says so
# PRICES_FILE's names (USD per million tokens) and the snapshot's.
OVERRIDE_KEYS = {
    "input": "input_mtok",
    "output": "output_mtok",
    "cache_read": "cache_read_mtok",
    "cache_write": "cache_write_mtok",
}


def clause_matches(clause: dict, text: str) -> bool:
    """Evaluate one genai-prices match clause against a model or provider id."""
    ((kind, value),) = clause.items()
    if kind == "or":
        return any(clause_matches(part, text) for part in value)
    if kind == "and":
        return all(clause_matches(part, text) for part in value)
    if kind == "regex":
        return re.search(value, text) is not None
    text, value = text.lower(), value.lower()
    if kind == "equals":
        return text == value
    if kind == "starts_with":
        return text.startswith(value)
    if kind == "ends_with":
        return text.endswith(value)
    if kind == "contains":
        return value in text
    raise ValueError(f"unknown price match clause {kind!r}")


def equals_matches(clause: dict, text: str) -> bool:
    """Say whether the clause names text itself (an `equals`), not a family of ids."""
    ((kind, value),) = clause.items()
    if kind == "or":
        return any(equals_matches(part, text) for part in value)
    return kind == "equals" and text == value.lower()


@dataclass(frozen=True)
class Cost:
    """What a call cost in USD, split as genai-prices splits it."""

    input_usd: Decimal
    output_usd: Decimal

    @property
    def total_usd(self) -> Decimal:
        return self.input_usd + self.output_usd


@dataclass(frozen=True)
class Price:
    """The price found for a model id, and how it was found."""

    model: str  # the price list's model id
    provider: str  # the price list's provider id
    match: str  # "exact": the list names the id (model id or alias); "rule": a rule took it in
    source: str  # which price list: "genai-prices <version> (<date>)" or PRICES_FILE
    prices: dict  # price key (input_mtok, ...) -> Decimal, or {"base", "tiers"}

    def cost(self, usage) -> Cost:
        """Return the cost of usage (input_tokens NOT counting cache reads and writes)."""
        parts = {part: getattr(usage, f"{part}_tokens") for part in INPUT_PARTS}
        total_input = usage.input_tokens + sum(parts.values())
        # The input price covers every input token the model does not price apart.
        counts = {"input": total_input - sum(parts[p] for p in parts if f"{p}_mtok" in self.prices)}
        counts.update(parts)
        input_usd = sum(
            (self._unit(name, count, total_input) for name, count in counts.items()), Decimal(0)
        )
        return Cost(input_usd, self._unit("output", usage.output_tokens, total_input))

    def _unit(self, name: str, count: int, total_input: int) -> Decimal:
        price = self.prices.get(f"{name}_mtok")
        if price is None:
            return Decimal(0)
        if isinstance(price, dict):  # tiered: crossing a tier's start prices every token at it
            price = next(
                (t["price"] for t in reversed(price["tiers"]) if total_input > t["start"]),
                price["base"],
            )
        return price * Decimal(count) / PER_TOKENS


class Snapshot:
    """The bundled price list, read on first use."""

    def __init__(self, path: Path = SNAPSHOT_FILE):
        self.path = path

    @cached_property
    def data(self) -> dict:
        return json.loads(self.path.read_text(encoding="utf-8"), parse_float=Decimal)

    @property
    def label(self) -> str:
        return f"{self.data['source']} {self.data['version']} ({self.data['taken']})"

    def provider(
        self, model_ref: str | None, provider_id: str | None = None, api_url: str | None = None
    ) -> dict | None:
        """Return the provider genai-prices would choose, or None."""
        providers = self.data["providers"]
        if provider_id is not None:
            wanted = provider_id.lower().strip()
            return next((p for p in providers if p["id"] == wanted), None) or next(
                (p for p in providers if _matches(p.get("provider_match"), wanted)), None
            )
        if api_url is not None:
            return next((p for p in providers if re.match(p["api_pattern"], api_url)), None)
        if model_ref:
            return next((p for p in providers if _matches(p.get("model_match"), model_ref)), None)
        return None

    def find(
        self,
        model_ref: str,
        *,
        provider_id: str | None = None,
        api_url: str | None = None,
        when: datetime | None = None,
    ) -> Price | None:
        """Return the price of model_ref at `when` (default now), or None when it has none."""
        ref = model_ref.lower()
        provider = self.provider(ref, provider_id, api_url)
        if provider is None:
            return None
        model = self._model(provider, ref)
        exact = model is not None and (
            model["id"].lower() == ref or equals_matches(model["match"], ref)
        )
        if model is None:
            dashed = COMPACT_DATE.sub(_dashed_date, ref)
            model = self._model(provider, dashed) if dashed != ref else None
        if model is None:
            return None
        return Price(
            model=model["id"],
            provider=provider["id"],
            match="exact" if exact else "rule",
            source=self.label,
            prices=prices_at(model["prices"], when or datetime.now(UTC)),
        )

    def _model(self, provider: dict, ref: str, fallback: bool = True) -> dict | None:
        for model in provider["models"]:
            if clause_matches(model["match"], ref):
                return model
        if fallback:  # one step only, as genai-prices does
            for name in provider.get("fallback_model_providers", ()):
                other = next((p for p in self.data["providers"] if p["id"] == name), None)
                if other and (model := self._model(other, ref, fallback=False)):
                    return model
        return None


def prices_at(prices: dict | list, when: datetime) -> dict:
    """Return the prices in force at `when`: the last dated option active, else the first."""
    if isinstance(prices, dict):
        return prices
    for option in reversed(prices):
        if option["constraint"] is None or _active(option["constraint"], when):
            return option["prices"]
    return prices[0]["prices"]


def _active(constraint: dict, when: datetime) -> bool:
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    if "start_date" in constraint:
        return when.date() >= date.fromisoformat(constraint["start_date"])
    start, end = (_utc_time(constraint[key]) for key in ("start_time", "end_time"))
    now = when.timetz()
    return (now >= start or now < end) if end < start else start <= now < end


def _utc_time(text: str) -> time:
    value = time.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return datetime.combine(date(1970, 1, 1), value).astimezone(UTC).timetz()


def _matches(clause: dict | None, text: str) -> bool:
    return clause is not None and clause_matches(clause, text)


def _dashed_date(match: re.Match) -> str:
    year, month, day = (int(match.group(index)) for index in range(2, 5))
    try:
        date(year, month, day)
    except ValueError:
        return match.group(0)
    return f"-{year:04d}-{month:02d}-{day:02d}"


class PriceFileError(PermanentError):
    """The file PRICES_FILE names cannot be used; the message says why and how to fix it."""


def read_price_file(path: Path) -> dict[str, dict]:
    """Read PRICES_FILE: {"models": {"<model id>": {"input": 3, "output": 15, ...}}}."""
    fix = f"fix PRICES_FILE={path} (see the README, Costs and budget)"
    try:
        models = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)["models"]
    except OSError as error:
        raise PriceFileError(f"cannot read {path}: {error.strerror}; {fix}") from None
    except (ValueError, KeyError, TypeError):
        raise PriceFileError(f'{path} is not JSON with a "models" object; {fix}') from None
    if not isinstance(models, dict):
        raise PriceFileError(f'{path}: "models" is not an object; {fix}')
    overrides = {}
    for model, prices in models.items():
        if not isinstance(prices, dict) or not {"input", "output"} <= set(prices):
            raise PriceFileError(f"{path}: {model} needs an input and an output price; {fix}")
        unknown = set(prices) - set(OVERRIDE_KEYS)
        if unknown:
            raise PriceFileError(f"{path}: {model} has unknown price(s) {sorted(unknown)}; {fix}")
        values = {OVERRIDE_KEYS[key]: value for key, value in prices.items()}
        if not all(_is_price(value) for value in values.values()):
            raise PriceFileError(f"{path}: {model} has a price that is not a number >= 0; {fix}")
        overrides[model] = {key: Decimal(value) for key, value in values.items()}
    return overrides


def _is_price(value) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool) and value >= 0
