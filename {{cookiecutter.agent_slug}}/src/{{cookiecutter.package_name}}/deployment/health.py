"""The agent's own health check: is it alive, keeping up, within budget, and are its services up?

Read-only: it never takes the state directory's lock, so it runs beside the service.
"""

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..deployment.heartbeat import read_heartbeat
from ..observability.costs import DayFacts, read_records, today_utc
from ..reliability.inbox import SIDECAR_SUFFIX

# The thresholds agentctl also checks are agentctl's role defaults (roles/health/defaults/main.yml:
# health_heartbeat_max_age_minutes, health_backlog_max_age_minutes), so both sides say the same
# thing about the same state; check() takes other values as parameters.
HEARTBEAT_MAX_AGE = timedelta(minutes=10)
BACKLOG_MAX_AGE = timedelta(minutes=30)
FAILURES_WINDOW = timedelta(hours=24)
LLM_SUCCESS_MAX_AGE = timedelta(hours=6)
MIN_FREE_BYTES = 200 * 1024 * 1024
MIN_FREE_RATIO = 0.05
SYSTEMCTL_TIMEOUT_SECONDS = 5


def _parse(timestamp) -> datetime | None:
    """Read an ISO 8601 time (one without a zone is UTC, as agentctl reads it), or None."""
    try:
        moment = datetime.fromisoformat(timestamp) if isinstance(timestamp, str) else None
    except ValueError:
        return None
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _age(timestamp: str | None, now: datetime) -> timedelta | None:
    moment = _parse(timestamp)
    return None if moment is None else now - moment


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [
        p
        for p in folder.iterdir()
        if not p.name.startswith(".") and not p.name.endswith(SIDECAR_SUFFIX)
    ]


def human_duration(seconds: float) -> str:
    """Say a duration as agentctl does (its human_duration): 45s, 12m, 3h05m, 2d4h."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


def placed_time(path: Path) -> float | None:
    """Return when an item was put in failed/ or review/: the "time" its sidecar records.

    Not the item's own mtime: a move keeps it, so a file dated three days back that fails now
    would count as an old failure. Without a readable time, the sidecar's mtime (it is written just
    before the move), then the file's; None when the item has gone meanwhile (a retry).
    agentctl's placed_time() reads them the same way.
    """
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    try:
        why = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        why = None
    moment = _parse(why.get("time")) if isinstance(why, dict) else None
    if moment is not None:
        return moment.timestamp()
    for candidate in (sidecar, path):
        try:
            return candidate.lstat().st_mtime
        except OSError:
            continue
    return None


# Problem texts: word for word what agentctl says for the same check (roles/health/files/agentctl,
# agent_conditions), so an owner reading both sees one problem, not two.


def heartbeat_detail(age: timedelta | None, status, max_age: timedelta) -> str:
    if age is None:
        return "never wrote a heartbeat"
    if age > max_age:
        return f"no heartbeat for {human_duration(age.total_seconds())}: its loop may be stuck"
    return f"last loop {human_duration(age.total_seconds())} ago (status {status})"


def backlog_detail(count: int, oldest_seconds: float) -> str:
    if not count:
        return "nothing waiting in incoming/"
    return f"{count} file(s) waiting in incoming/, the oldest for {human_duration(oldest_seconds)}"


def review_detail(count: int, oldest_seconds: float) -> str:
    if not count:
        return "no document waiting for a human decision"
    return (
        f"{count} document(s) waiting for a human decision, the oldest for "
        f"{human_duration(oldest_seconds)}"
    )


def budget_detail(spent: float, budget: float) -> str:
    if spent >= budget:
        return (
            f"daily LLM budget reached: ${spent:.2f} of ${budget:.2f}; "
            "documents wait until 00:00 UTC or a higher DAILY_BUDGET_USD"
        )
    return f"${spent:.4f} of ${budget:.2f} today"


def prices_detail(models: list[str]) -> str:
    if not models:
        return "every model used today has a price"
    return (
        f"no price known for model(s) {', '.join(models)}: their cost is "
        "recorded as unknown; add them to PRICES_FILE"
    )


def unpriced_models(heartbeat: dict, facts: DayFacts, now: datetime) -> list[str]:
    """Return today's models of unknown price: today's records, and a heartbeat of today's.

    Today's records hold them whatever process wrote them, even when the heartbeat is stale or
    new; a heartbeat of an earlier day speaks of that day (agentctl's rule too).
    """
    models = set(facts.unpriced_models)
    beat = _parse(heartbeat.get("last_loop"))
    if beat is not None and beat.date() == now.date():
        models.update(str(m) for m in heartbeat.get("unknown_price_models") or [])
    return sorted(models)


def last_llm_success(heartbeat: dict, facts: DayFacts) -> str | None:
    """Return the later of the heartbeat's last LLM success and today's last call that was ok."""
    moments = [m for m in (_parse(heartbeat.get("last_llm_success")), _parse(facts.last_ok)) if m]
    return max(moments).isoformat(timespec="seconds") if moments else None


def check(
    settings,
    systemctl: str | None = None,
    *,
    heartbeat_max_age: timedelta = HEARTBEAT_MAX_AGE,
    backlog_max_age: timedelta = BACKLOG_MAX_AGE,
) -> dict:
    """Return {"status": "ok"|"problem", "checks": [...]} for this agent's state directory."""
    now = datetime.now(UTC)
    state = settings.state_dir
    checks = []

    def add(name: str, ok: bool, detail: str) -> None:
        checks.append({"name": name, "ok": ok, "detail": detail})

    heartbeat = read_heartbeat(state)
    heartbeat = heartbeat if isinstance(heartbeat, dict) else {}
    age = _age(heartbeat.get("last_loop"), now)
    add(
        "heartbeat",
        age is not None and age <= heartbeat_max_age,
        heartbeat_detail(age, heartbeat.get("status"), heartbeat_max_age),
    )

    waiting = _files(state / "incoming")
    oldest = max((now.timestamp() - p.lstat().st_mtime for p in waiting), default=0.0)
    add(
        "backlog",
        oldest <= backlog_max_age.total_seconds(),
        backlog_detail(len(waiting), oldest),
    )

    cutoff = (now - FAILURES_WINDOW).timestamp()
    failed = [t for t in map(placed_time, _files(state / "failed")) if t and t >= cutoff]
    add("failures", not failed, f"{len(failed)} failed in the last 24 h")

    review = [now.timestamp() - t for t in map(placed_time, _files(state / "review")) if t]
    add("review", True, review_detail(len(review), max(review, default=0.0)))

    today = today_utc()
    facts = DayFacts.of(read_records(state / "costs", today, today))
    budget = settings.daily_budget_usd
    add("budget", facts.spent_usd < budget, budget_detail(facts.spent_usd, budget))

    unknown = unpriced_models(heartbeat, facts, now)
    add("prices", not unknown, prices_detail(unknown))

    llm_age = _age(last_llm_success(heartbeat, facts), now)
    stale_llm = bool(waiting) and (llm_age is None or llm_age > LLM_SUCCESS_MAX_AGE)
    add(
        "llm",
        not stale_llm,
        "never succeeded"
        if llm_age is None
        else f"last success {human_duration(llm_age.total_seconds())} ago",
    )

    usage = shutil.disk_usage(state if state.exists() else state.parent)
    free_ok = usage.free >= MIN_FREE_BYTES and usage.free / usage.total >= MIN_FREE_RATIO
    add("disk", free_ok, f"{usage.free // (1024 * 1024)} MB free")

    systemctl = systemctl or shutil.which("systemctl")
    for service in settings.health_services:  # an allowlist: only these units are queried
        if systemctl is None:
            add(f"service {service}", False, "systemctl is not available here")
            continue
        result = subprocess.run(  # noqa: S603 - fixed binary, validated unit name, no shell
            [systemctl, "is-active", "--", service],
            capture_output=True,
            text=True,
            timeout=SYSTEMCTL_TIMEOUT_SECONDS,
            check=False,
        )
        state_text = result.stdout.strip() or "unknown"
        add(f"service {service}", state_text == "active", state_text)

    return {
        "agent": heartbeat.get("agent"),
        "status": "ok" if all(c["ok"] for c in checks) else "problem",
        "checked": now.isoformat(timespec="seconds"),
        "checks": checks,
    }
