"""Reading an agent's state directory the way the agent writes it: heartbeat, folders, costs."""

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from .agents import SIDECAR_SUFFIX, Agent, discover_agents
from .clock import parse_time
from .config import is_number
from .systemd import property_int, systemctl_show


def read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, ValueError, UnicodeDecodeError):
        return None


def visible_files(folder: Path) -> list[os.DirEntry]:
    """Return the entries of a folder an operator cares about: no hidden files, no sidecars."""
    try:
        with os.scandir(folder) as scan:
            return [
                entry
                for entry in scan
                if not entry.name.startswith(".") and not entry.name.endswith(SIDECAR_SUFFIX)
            ]
    except (FileNotFoundError, NotADirectoryError):
        return []


def entry_mtime(entry: os.DirEntry) -> float | None:
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return None  # moved on by the agent while we looked


def placed_time(folder: Path, name: str, fallback: float | None) -> float | None:
    """Return when the agent put an item in failed/ or review/: the "time" of its sidecar.

    Never the item's own mtime first: a move keeps it, so a file dated three days back that fails
    now is a new failure. Without a readable time, the sidecar's mtime (written just before the
    move), then fallback. The agent's `health` reads them the same way (deployment/health.py).
    """
    sidecar = folder / f"{name}{SIDECAR_SUFFIX}"
    why = read_json(sidecar)
    moment = parse_time(why.get("time")) if isinstance(why, dict) else None
    if moment is not None:
        return moment.timestamp()
    try:
        return sidecar.stat().st_mtime
    except (FileNotFoundError, NotADirectoryError):
        return fallback


def cost_file(agent: Agent, day: date) -> Path:
    return agent.state / "costs" / f"{day.isoformat()}.jsonl"


def read_cost_records(path: Path):
    """Yield the cost records of one day file; a torn last line (crash mid-write) is skipped."""
    try:
        handle = path.open(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return
    with handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


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
        self.cost_today_usd = 0.0
        self.calls_today = 0
        self.unpriced_models: list[str] = []

    @property
    def budget_usd(self) -> float | None:
        value = self.heartbeat.get("budget_usd")
        return float(value) if is_number(value) else None

    @property
    def budget_reached(self) -> bool:
        budget = self.budget_usd
        return budget is not None and self.cost_today_usd >= budget

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
            "cost_today_usd": round(self.cost_today_usd, 6),
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
    """Read an agent's heartbeat, folders and today's costs."""
    heartbeat = read_json(agent.state / "heartbeat.json")
    snapshot = Snapshot(agent, unit, heartbeat if isinstance(heartbeat, dict) else {})
    stamp = now.timestamp()

    incoming = [t for t in map(entry_mtime, visible_files(agent.state / "incoming")) if t]
    snapshot.backlog = len(incoming)
    snapshot.backlog_oldest_seconds = max((stamp - t for t in incoming), default=0.0)

    failed_dir = agent.state / "failed"
    start_of_yesterday = datetime.combine(now.date() - timedelta(days=1), datetime.min.time(), UTC)
    for entry in visible_files(failed_dir):
        placed = placed_time(failed_dir, entry.name, entry_mtime(entry))
        if placed is None:
            continue
        snapshot.failed[entry.name] = placed
        if placed >= start_of_yesterday.timestamp():
            snapshot.failed_since_yesterday += 1

    review_dir = agent.state / "review"
    waiting = [
        placed_time(review_dir, entry.name, entry_mtime(entry))
        for entry in visible_files(review_dir)
    ]
    waiting = [t for t in waiting if t]
    snapshot.review = len(waiting)
    snapshot.review_oldest_seconds = max((stamp - t for t in waiting), default=0.0)

    unpriced = set(snapshot.heartbeat.get("unknown_price_models") or [])
    beat_day = parse_time(snapshot.heartbeat.get("last_loop"))
    if beat_day is None or beat_day.date() != now.date():
        unpriced = set()  # yesterday's list: the agent has not looped today
    for record in read_cost_records(cost_file(agent, now.date())):
        snapshot.calls_today += 1
        cost = record.get("cost_usd")
        if is_number(cost):
            snapshot.cost_today_usd += cost
        else:
            unpriced.add(str(record.get("gen_ai.request.model", "?")))
    snapshot.unpriced_models = sorted(unpriced)
    return snapshot


def inspect_all(config: dict, now: datetime) -> tuple[list[Snapshot], str | None]:
    agents = discover_agents(config)
    units, error = systemctl_show([a.unit for a in agents])
    return [inspect_agent(a, units.get(a.unit, {}), now) for a in agents], error
