"""The agent's own health check: is it alive, keeping up, within budget, and are its services up?

Read-only: it never takes the state directory's lock, so it runs beside the service.
"""

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..deployment.heartbeat import read_heartbeat
from ..observability.costs import read_records, today_utc
from ..reliability.inbox import SIDECAR_SUFFIX

BACKLOG_MAX_AGE = timedelta(minutes=30)
FAILURES_WINDOW = timedelta(hours=24)
HEARTBEAT_MAX_AGE = timedelta(minutes=5)
LLM_SUCCESS_MAX_AGE = timedelta(hours=6)
MIN_FREE_BYTES = 200 * 1024 * 1024
MIN_FREE_RATIO = 0.05
SYSTEMCTL_TIMEOUT_SECONDS = 5


def _age(timestamp: str | None, now: datetime) -> timedelta | None:
    if not timestamp:
        return None
    try:
        return now - datetime.fromisoformat(timestamp)
    except ValueError:
        return None


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if not p.name.startswith(".")]


def check(settings, systemctl: str | None = None) -> dict:
    """Return {"status": "ok"|"problem", "checks": [...]} for this agent's state directory."""
    now = datetime.now(UTC)
    state = settings.state_dir
    checks = []

    def add(name: str, ok: bool, detail: str) -> None:
        checks.append({"name": name, "ok": ok, "detail": detail})

    heartbeat = read_heartbeat(state) or {}
    age = _age(heartbeat.get("last_loop"), now)
    if age is None:
        add("heartbeat", False, "no heartbeat yet: the agent has not run here")
    else:
        add(
            "heartbeat",
            age <= HEARTBEAT_MAX_AGE,
            f"last loop {int(age.total_seconds())} s ago (status {heartbeat.get('status')})",
        )

    waiting = _files(state / "incoming")
    oldest = max((now.timestamp() - p.lstat().st_mtime for p in waiting), default=0.0)
    add(
        "backlog",
        oldest <= BACKLOG_MAX_AGE.total_seconds(),
        f"{len(waiting)} waiting, oldest {int(oldest)} s",
    )

    cutoff = (now - FAILURES_WINDOW).timestamp()
    failed = [
        p
        for p in _files(state / "failed")
        if not p.name.endswith(SIDECAR_SUFFIX) and p.lstat().st_mtime >= cutoff
    ]
    add("failures", not failed, f"{len(failed)} failed in the last 24 h")

    review = [p for p in _files(state / "review") if not p.name.endswith(SIDECAR_SUFFIX)]
    add("review", True, f"{len(review)} waiting for a human")

    today = today_utc()
    spent = sum(r.get("cost_usd") or 0.0 for r in read_records(state / "costs", today, today))
    budget = settings.daily_budget_usd
    add("budget", spent < budget, f"${spent:.4f} of ${budget:.2f} today")

    unknown = heartbeat.get("unknown_price_models") or []
    add(
        "prices",
        not unknown,
        f"no price for: {', '.join(unknown)}" if unknown else "every model used has a price",
    )

    llm_age = _age(heartbeat.get("last_llm_success"), now)
    stale_llm = bool(waiting) and (llm_age is None or llm_age > LLM_SUCCESS_MAX_AGE)
    add(
        "llm",
        not stale_llm,
        "never succeeded"
        if llm_age is None
        else f"last success {int(llm_age.total_seconds())} s ago",
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
