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

# Every threshold is the contract's default (contract.health.Thresholds), the one agentctl uses
# too, so both sides say the same thing about the same state; check() takes other heartbeat and
# backlog ages as parameters.
DEFAULTS = Thresholds()
HEARTBEAT_MAX_AGE = timedelta(seconds=DEFAULTS.heartbeat_max_age)
BACKLOG_MAX_AGE = timedelta(seconds=DEFAULTS.backlog_max_age)
SYSTEMCTL_TIMEOUT_SECONDS = 5


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
    limits = DEFAULTS._replace(
        heartbeat_max_age=heartbeat_max_age.total_seconds(),
        backlog_max_age=backlog_max_age.total_seconds(),
    )
    findings = check_state(state, settings.daily_budget_usd, limits, now)
    findings += service_findings(settings.health_services, systemctl)
    return {
        "agent": read_heartbeat(state).get("agent"),
        "status": "ok" if all(f.ok for f in findings) else "problem",
        "checked": now.isoformat(timespec="seconds"),
        "checks": [f.to_json() for f in findings],
    }
