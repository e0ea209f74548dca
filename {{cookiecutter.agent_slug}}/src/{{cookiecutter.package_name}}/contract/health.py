"""The checks over an agent's state directory, with their thresholds given by the caller.

    Finding(name, ok, detail)
    Thresholds(heartbeat_max_age=600, backlog_max_age=1800, review_max_age=None,
               failures_window=86400, llm_success_max_age=21600,
               min_free_bytes=200 MiB, min_free_ratio=0.05)            seconds, bytes
    check_state(state, budget_usd, thresholds, now=None) -> list[Finding]   all of the below
    CHECK_NAMES                                   their names, in that order
    heartbeat_finding(heartbeat, now, max_age)
    backlog_finding(state, now, max_age)
    failures_finding(state, now, window)
    review_finding(state, now, max_age=None)      None: waiting is never a problem by itself
    budget_finding(facts, budget_usd)
    prices_finding(heartbeat, facts, today)
    llm_finding(heartbeat, facts, now, waiting, max_age)
    disk_finding(path, min_free_bytes, min_free_ratio)
    service_finding(service, state)               a HEALTH_SERVICES unit, by its ActiveState
    placed_time(item) -> float | None             when an item was put in failed/ or review/

The detail texts are the ones agentctl alerts with, so an owner reading the agent's `health` and
agentctl's alert sees one problem in the same words.
"""

import os
from collections import namedtuple
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from .costs import DayFacts, read_records
from .files import read_json
from .heartbeat import read_heartbeat, unpriced_today
from .layout import COSTS, FAILED, INCOMING, REVIEW, sidecar_path, visible_files
from .times import age_seconds, human_duration, parse_time, utc_now

MIB = 1024 * 1024
# What check_state() looks at, from the state directory's files alone: a host tool that also runs
# the agent's own `health` needs report only the other checks (services) from it.
CHECK_NAMES = ("heartbeat", "backlog", "failures", "review", "budget", "prices", "llm", "disk")


# Named tuples, not dataclasses: agentctl imports this module on every run, and dataclasses (with
# inspect) would be a tenth of its start-up.
class Finding(namedtuple("Finding", ("name", "ok", "detail"))):
    """One check's result: its name, whether it passed, and what it found in words."""

    __slots__ = ()

    def to_json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


Thresholds = namedtuple(
    "Thresholds",
    (
        "heartbeat_max_age",
        "backlog_max_age",
        "review_max_age",  # None: a wait for a human is never a problem by itself
        "failures_window",
        "llm_success_max_age",
        "min_free_bytes",
        "min_free_ratio",
    ),
    defaults=(10 * 60, 30 * 60, None, 24 * 3600, 6 * 3600, 200 * MIB, 0.05),
)
Thresholds.__doc__ = "When a check fails; every duration in seconds, sizes in bytes."


def placed_time(item: Path) -> float | None:
    """Return when an item was put in failed/ or review/: the "time" its sidecar records.

    Not the item's own mtime: a move keeps it, so a file dated three days back that fails now
    would count as an old failure. Without a readable time, the sidecar's mtime (it is written just
    before the move), then the item's; None when the item has gone meanwhile (a retry).
    """
    sidecar = sidecar_path(item)
    why = read_json(sidecar)
    moment = parse_time(why.get("time")) if isinstance(why, dict) else None
    if moment is not None:
        return moment.timestamp()
    for candidate in (sidecar, item):
        try:
            return candidate.lstat().st_mtime
        except OSError:
            continue
    return None


def waiting_ages(folder: Path, now: datetime) -> list[float]:
    """Return how long each item of incoming/ has waited (seconds, from its mtime)."""
    ages = []
    for entry in visible_files(folder):
        try:
            ages.append(now.timestamp() - entry.stat(follow_symlinks=False).st_mtime)
        except FileNotFoundError:
            continue  # taken by the agent while we looked
    return ages


def placed_ages(folder: Path, now: datetime) -> list[float]:
    """Return how long each item of failed/ or review/ has been there (seconds)."""
    placed = (placed_time(folder / entry.name) for entry in visible_files(folder))
    return [now.timestamp() - moment for moment in placed if moment is not None]


def heartbeat_finding(heartbeat: dict, now: datetime, max_age: float) -> Finding:
    age = age_seconds(heartbeat.get("last_loop"), now)
    if age is None:
        return Finding("heartbeat", False, "never wrote a heartbeat")
    if age > max_age:
        detail = f"no heartbeat for {human_duration(age)}: its loop may be stuck"
        return Finding("heartbeat", False, detail)
    detail = f"last loop {human_duration(age)} ago (status {heartbeat.get('status')})"
    return Finding("heartbeat", True, detail)


def backlog_detail(count: int, oldest: float) -> str:
    if not count:
        return "nothing waiting in incoming/"
    return f"{count} file(s) waiting in incoming/, the oldest for {human_duration(oldest)}"


def backlog_finding(state: Path, now: datetime, max_age: float) -> Finding:
    ages = waiting_ages(state / INCOMING, now)
    oldest = max(ages, default=0.0)
    return Finding("backlog", oldest <= max_age, backlog_detail(len(ages), oldest))


def failures_finding(state: Path, now: datetime, window: float) -> Finding:
    recent = [age for age in placed_ages(state / FAILED, now) if age <= window]
    hours = f"{window / 3600:g} h"
    return Finding("failures", not recent, f"{len(recent)} failed in the last {hours}")


def review_detail(count: int, oldest: float) -> str:
    if not count:
        return "no document waiting for a human decision"
    return (
        f"{count} document(s) waiting for a human decision, the oldest for {human_duration(oldest)}"
    )


def review_finding(state: Path, now: datetime, max_age: float | None = None) -> Finding:
    ages = placed_ages(state / REVIEW, now)
    oldest = max(ages, default=0.0)
    ok = max_age is None or oldest <= max_age
    return Finding("review", ok, review_detail(len(ages), oldest))


def budget_detail(spent: Decimal, budget: Decimal) -> str:
    if spent >= budget:
        return (
            f"daily LLM budget reached: ${spent:.2f} of ${budget:.2f}; "
            "documents wait until 00:00 UTC or a higher DAILY_BUDGET_USD"
        )
    return f"${spent:.4f} of ${budget:.2f} today"


def budget_finding(facts: DayFacts, budget_usd) -> Finding:
    budget = Decimal(str(budget_usd))
    spent = facts.spent_usd
    return Finding("budget", spent < budget, budget_detail(spent, budget))


def prices_detail(models: list[str]) -> str:
    if not models:
        return "every model used today has a price"
    return (
        f"no price known for model(s) {', '.join(models)}: their cost is "
        "recorded as unknown; add them to PRICES_FILE"
    )


def unpriced_models(heartbeat: dict, facts: DayFacts, today: date) -> list[str]:
    """Return today's models of unknown price: today's records, and a heartbeat of today's."""
    return sorted(set(facts.unpriced_models) | unpriced_today(heartbeat, today))


def prices_finding(heartbeat: dict, facts: DayFacts, today: date) -> Finding:
    models = unpriced_models(heartbeat, facts, today)
    return Finding("prices", not models, prices_detail(models))


def last_llm_success(heartbeat: dict, facts: DayFacts) -> str | None:
    """Return the later of the heartbeat's last LLM success and today's last call that was ok."""
    moments = [
        m for m in (parse_time(heartbeat.get("last_llm_success")), parse_time(facts.last_ok)) if m
    ]
    return max(moments).isoformat(timespec="seconds") if moments else None


def llm_finding(
    heartbeat: dict, facts: DayFacts, now: datetime, waiting: bool, max_age: float
) -> Finding:
    """Fail when documents wait and the LLM has not answered for max_age (or ever)."""
    age = age_seconds(last_llm_success(heartbeat, facts), now)
    stale = waiting and (age is None or age > max_age)
    detail = "never succeeded" if age is None else f"last success {human_duration(age)} ago"
    return Finding("llm", not stale, detail)


def service_finding(service: str, state: str | None) -> Finding:
    """One unit the agent's HEALTH_SERVICES names: fine while systemd says it is active."""
    state = state or "unknown"
    return Finding(f"service {service}", state == "active", state)


def disk_finding(path: Path, min_free_bytes: int, min_free_ratio: float) -> Finding:
    # shutil.disk_usage's arithmetic, straight from statvfs (shutil is slow to import).
    usage = os.statvfs(path if path.exists() else path.parent)
    total, free = usage.f_blocks * usage.f_frsize, usage.f_bavail * usage.f_frsize
    ok = free >= min_free_bytes and (total and free / total) >= min_free_ratio
    return Finding("disk", ok, f"{free // MIB} MB free")


def check_state(
    state: Path, budget_usd, thresholds: Thresholds | None = None, now: datetime | None = None
) -> list[Finding]:
    """Run every check over one agent's state directory; read only, no lock taken."""
    thresholds = thresholds or Thresholds()
    now = now or utc_now()
    heartbeat = read_heartbeat(state)
    facts = DayFacts.of(read_records(state / COSTS, now.date(), now.date()))
    backlog = backlog_finding(state, now, thresholds.backlog_max_age)
    waiting = bool(visible_files(state / INCOMING))
    return [
        heartbeat_finding(heartbeat, now, thresholds.heartbeat_max_age),
        backlog,
        failures_finding(state, now, thresholds.failures_window),
        review_finding(state, now, thresholds.review_max_age),
        budget_finding(facts, budget_usd),
        prices_finding(heartbeat, facts, now.date()),
        llm_finding(heartbeat, facts, now, waiting, thresholds.llm_success_max_age),
        disk_finding(state, thresholds.min_free_bytes, thresholds.min_free_ratio),
    ]
