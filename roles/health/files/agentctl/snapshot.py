"""Reading an agent's state directory the way the agent writes it: heartbeat, folders, costs."""

from datetime import datetime, timedelta
from decimal import Decimal

from .agents import Agent, discover_agents
from .config import is_number
from .contract.costs import DayFacts, read_cost_records
from .contract.health import placed_ages, placed_time, unpriced_models, waiting_ages
from .contract.heartbeat import read_heartbeat
from .contract.layout import FAILED, INCOMING, REVIEW, cost_file, visible_files
from .contract.times import day_bounds
from .systemd import property_int, systemctl_show


class Snapshot:
    """What one look at an agent found."""

    def __init__(self, agent: Agent, unit: dict, heartbeat: dict):
        self.agent = agent
        self.unit = unit
        self.heartbeat = heartbeat
        self.backlog = 0
        self.backlog_oldest_seconds = 0.0
        self.failed: dict[str, float] = {}  # name -> time placed in failed/
        self.failed_since_yesterday = 0
        self.review = 0
        self.review_oldest_seconds = 0.0
        self.cost_today_usd = Decimal(0)
        self.calls_today = 0
        self.unpriced_models: list[str] = []
        self.facts = DayFacts.of([])  # today's cost records, summed

    @property
    def budget_usd(self) -> float | None:
        value = self.heartbeat.get("budget_usd")
        return float(value) if is_number(value) else None

    @property
    def budget_reached(self) -> bool:
        budget = self.budget_usd
        return budget is not None and self.cost_today_usd >= Decimal(str(budget))

    def to_json(self, now_monotonic: float) -> dict:
        unit = self.unit
        return {
            "agent": self.agent.slug,
            "unit": self.agent.unit,
            "load_state": unit.get("LoadState", "unknown"),
            "active_state": unit.get("ActiveState", "unknown"),
            "sub_state": unit.get("SubState", "unknown"),
            "result": unit.get("Result", "unknown"),
            "uptime_seconds": uptime_seconds(unit, now_monotonic),
            "restarts": property_int(unit, "NRestarts"),
            "memory_bytes": property_int(unit, "MemoryCurrent"),
            "memory_max_bytes": property_int(unit, "MemoryMax"),
            "version": self.heartbeat.get("version"),
            "status": self.heartbeat.get("status"),
            "last_loop": self.heartbeat.get("last_loop"),
            "last_success": self.heartbeat.get("last_success"),
            "backlog": self.backlog,
            "backlog_oldest_seconds": round(self.backlog_oldest_seconds),
            "failed_since_yesterday": self.failed_since_yesterday,
            "failed_total": len(self.failed),
            "review_pending": self.review,
            "review_oldest_seconds": round(self.review_oldest_seconds),
            "cost_today_usd": float(round(self.cost_today_usd, 6)),
            "calls_today": self.calls_today,
            "budget_usd": self.budget_usd,
            "budget_reached": self.budget_reached,
            "unknown_price_models": self.unpriced_models,
        }


def uptime_seconds(unit: dict, now_monotonic: float) -> float | None:
    if unit.get("ActiveState") != "active":
        return None
    entered = property_int(unit, "ActiveEnterTimestampMonotonic")
    if not entered:
        return None
    return max(now_monotonic - entered / 1_000_000, 0.0)


def inspect_agent(agent: Agent, unit: dict, now: datetime) -> Snapshot:
    """Read an agent's heartbeat, folders and today's costs, as the contract reads them."""
    state = agent.state
    snapshot = Snapshot(agent, unit, read_heartbeat(state))

    backlog = waiting_ages(state / INCOMING, now)
    snapshot.backlog = len(backlog)
    snapshot.backlog_oldest_seconds = max(backlog, default=0.0)

    start_of_yesterday, _ = day_bounds(now.date() - timedelta(days=1))
    for entry in visible_files(state / FAILED):
        placed = placed_time(state / FAILED / entry.name)
        if placed is None:
            continue  # retried meanwhile
        snapshot.failed[entry.name] = placed
        if placed >= start_of_yesterday.timestamp():
            snapshot.failed_since_yesterday += 1

    review = placed_ages(state / REVIEW, now)
    snapshot.review = len(review)
    snapshot.review_oldest_seconds = max(review, default=0.0)

    facts = snapshot.facts = DayFacts.of(read_cost_records(cost_file(state, now.date())))
    snapshot.calls_today = facts.calls
    snapshot.cost_today_usd = facts.spent_usd
    snapshot.unpriced_models = unpriced_models(snapshot.heartbeat, facts, now.date())
    return snapshot


def inspect_all(config: dict, now: datetime) -> tuple[list[Snapshot], str | None]:
    agents = discover_agents(config)
    units, error = systemctl_show([a.unit for a in agents])
    return [inspect_agent(a, units.get(a.unit, {}), now) for a in agents], error
