"""The agent's own health check: is it alive, keeping up, within budget, and are its services up?

The checks over the state directory are the contract's (contract.health), run with this agent's
thresholds; only the systemd services the settings name are checked here. Read-only: it never
takes the state directory's lock, so it runs beside the service.
"""

import shutil
import subprocess
from datetime import timedelta

from ..contract.health import Finding, Thresholds, check_state, service_finding
from ..contract.heartbeat import read_heartbeat
from ..contract.times import utc_now

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


def thresholds(heartbeat_max_age: timedelta, backlog_max_age: timedelta) -> Thresholds:
    return Thresholds(
        heartbeat_max_age=heartbeat_max_age.total_seconds(),
        backlog_max_age=backlog_max_age.total_seconds(),
        failures_window=FAILURES_WINDOW.total_seconds(),
        llm_success_max_age=LLM_SUCCESS_MAX_AGE.total_seconds(),
        min_free_bytes=MIN_FREE_BYTES,
        min_free_ratio=MIN_FREE_RATIO,
    )


def service_findings(services, systemctl: str | None) -> list[Finding]:
    """Ask systemd whether each allowed service is active."""
    findings = []
    systemctl = systemctl or shutil.which("systemctl")
    for service in services:  # an allowlist: only these units are queried
        if systemctl is None:
            findings.append(Finding(f"service {service}", False, "systemctl is not available here"))
            continue
        result = subprocess.run(  # noqa: S603 - fixed binary, validated unit name, no shell
            [systemctl, "is-active", "--", service],
            capture_output=True,
            text=True,
            timeout=SYSTEMCTL_TIMEOUT_SECONDS,
            check=False,
        )
        findings.append(service_finding(service, result.stdout.strip()))
    return findings


def check(
    settings,
    systemctl: str | None = None,
    *,
    heartbeat_max_age: timedelta = HEARTBEAT_MAX_AGE,
    backlog_max_age: timedelta = BACKLOG_MAX_AGE,
) -> dict:
    """Return {"status": "ok"|"problem", "checks": [...]} for this agent's state directory."""
    now = utc_now()
    state = settings.state_dir
    findings = check_state(
        state, settings.daily_budget_usd, thresholds(heartbeat_max_age, backlog_max_age), now
    )
    findings += service_findings(settings.health_services, systemctl)
    return {
        "agent": read_heartbeat(state).get("agent"),
        "status": "ok" if all(f.ok for f in findings) else "problem",
        "checked": now.isoformat(timespec="seconds"),
        "checks": [f.to_json() for f in findings],
    }
