"""What is wrong with an agent or the host: lasting problems and events since the last check."""

import contextlib
import os
import re
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from .agents import Agent
from .backup import backup_problem, read_status
from .contract.files import read_json
from .contract.health import (
    Thresholds,
    backlog_detail,
    budget_detail,
    heartbeat_finding,
    llm_finding,
    prices_detail,
    review_detail,
    service_finding,
)
from .contract.layout import FAILED, SERVICE_NAME_PATTERN, sidecar_path
from .contract.times import utc_now
from .output import human_bytes
from .snapshot import Snapshot, uptime_seconds
from .systemd import journal_lines, property_int

HOST_KEY = "host"
# A failed item older than this is not news on the very first check after installation.
FIRST_RUN_FAILED_WINDOW = timedelta(hours=24)
SYSTEMD_FAILURE_RESULT = re.compile(r"Failed with result '([a-z-]+)'")

# The agent's own `health` checks that no other check here makes: the LLM answering while documents
# wait (at the contract's threshold, as the agent checks it) and its HEALTH_SERVICES units.
LLM_SUCCESS_MAX_AGE = Thresholds().llm_success_max_age
UNIT_TYPES = tuple(
    f".{kind}"
    for kind in (
        "service",
        "socket",
        "target",
        "device",
        "mount",
        "automount",
        "swap",
        "timer",
        "path",
        "slice",
        "scope",
    )
)


class Finding:
    """One problem (lasting until it clears) or one event (news once) about an agent or the host."""

    def __init__(self, subject: str, check: str, text: str, command: str, event: bool = False):
        self.subject = subject  # an agent's slug, or HOST_KEY
        self.check = check
        self.text = text
        self.command = command
        self.event = event

    def __repr__(self) -> str:
        return f"Finding({self.key!r}, {self.text!r})"

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.check}"


def agent_conditions(
    s: Snapshot, config: dict, now: datetime, now_monotonic: float
) -> list[Finding]:
    """Return the lasting problems of one agent (no events, no agent CLI call)."""
    slug, unit = s.agent.slug, s.unit
    found = []

    def add(check: str, text: str, command: str) -> None:
        found.append(Finding(slug, check, text, command))

    logs = f"agentctl logs {slug}"
    active = unit.get("ActiveState")
    if unit and unit.get("LoadState") != "loaded":
        add("unit", f"{s.agent.unit} is not installed ({unit.get('LoadState')})", "agentctl status")
    elif unit and active not in ("active", "reloading"):
        if active == "activating" and unit.get("SubState") == "auto-restart":
            text = (
                f"{s.agent.unit} keeps crashing and restarting (last result: {unit.get('Result')})"
            )
        else:
            text = (
                f"{s.agent.unit} is {active} ({unit.get('SubState')}, result: {unit.get('Result')})"
            )
        add("unit", text, logs)
    elif unit:
        # A unit started less than max_age ago may not have looped yet.
        max_age = config["heartbeat_max_age_minutes"] * 60
        uptime = uptime_seconds(unit, now_monotonic)
        beat = heartbeat_finding(s.heartbeat, now, max_age)
        if (uptime is None or uptime > max_age) and not beat.ok:
            add("heartbeat", beat.detail, logs)

    if s.backlog and s.backlog_oldest_seconds > config["backlog_max_age_minutes"] * 60:
        add("backlog", backlog_detail(s.backlog, s.backlog_oldest_seconds), logs)
    if s.review and s.review_oldest_seconds > config["review_max_age_hours"] * 3600:
        add(
            "review",
            review_detail(s.review, s.review_oldest_seconds),
            f"agentctl review {slug} list",
        )
    costs_today = f"agentctl costs --since today --by model --agent {slug}"
    if s.budget_reached:
        add("budget", budget_detail(s.cost_today_usd, Decimal(str(s.budget_usd))), costs_today)
    if s.unpriced_models:
        add("prices", prices_detail(s.unpriced_models), costs_today)
    memory = property_int(unit, "MemoryCurrent")
    limit = property_int(unit, "MemoryMax")
    if memory is not None and limit:
        percent = memory * 100 / limit
        if percent >= config["agent_memory_max_percent"]:
            add(
                "memory",
                f"uses {human_bytes(memory)} of its {human_bytes(limit)} memory limit "
                f"({percent:.0f}%)",
                "agentctl status",
            )
    return found


def host_conditions(config: dict, systemctl_error: str | None) -> list[Finding]:
    found = []
    if systemctl_error:
        found.append(Finding(HOST_KEY, "systemd", systemctl_error, "systemctl status"))
    status = read_status(config)
    problem = backup_problem(status, config, utc_now()) if status is not None else None
    if problem:
        found.append(Finding(HOST_KEY, "backup", problem, "journalctl -u pillars-backup"))
    root = config["state_root"]
    probe = root if root.exists() else Path("/")
    # shutil.disk_usage's arithmetic, straight from statvfs.
    usage = os.statvfs(probe)
    total, free = usage.f_blocks * usage.f_frsize, usage.f_bavail * usage.f_frsize
    percent = (total - free) * 100 / total if total else 0
    if percent >= config["disk_max_percent"]:
        found.append(
            Finding(
                HOST_KEY,
                "disk",
                f"disk of {probe} is {percent:.0f}% full ({human_bytes(free)} free)",
                f"df -h {probe}",
            )
        )
    meminfo = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            key, _, value = line.partition(":")
            meminfo[key] = int(value.split()[0]) * 1024
    total, available = meminfo.get("MemTotal"), meminfo.get("MemAvailable")
    if total and available is not None:
        percent = (total - available) * 100 / total
        if percent >= config["memory_max_percent"]:
            found.append(
                Finding(
                    HOST_KEY,
                    "memory",
                    f"memory {percent:.0f}% used ({human_bytes(available)} available)",
                    "agentctl status",
                )
            )
    return found


def restart_reason(agent: Agent, since: datetime | None) -> str:
    """Return why systemd last restarted the unit (watchdog, exit-code...), from its journal."""
    lines = journal_lines(agent.unit, 200, since=since)
    reasons = [m.group(1) for line in lines for m in [SYSTEMD_FAILURE_RESULT.search(line)] if m]
    return reasons[-1] if reasons else ""


def agent_events(
    s: Snapshot, config: dict, remembered: dict, last_check: datetime | None, now: datetime
) -> list[Finding]:
    """Return the news since the last check: new failed items, restarts."""
    slug = s.agent.slug
    found = []
    seen = remembered.get("failed")
    if seen is None:
        horizon = (now - FIRST_RUN_FAILED_WINDOW).timestamp()
        new = sorted(n for n, t in s.failed.items() if t >= horizon)
    else:
        new = sorted(set(s.failed) - set(seen))
    if new:
        reasons = []
        for name in new[:5]:
            why = read_json(sidecar_path(s.agent.state / FAILED / name))
            why = why if isinstance(why, dict) else {}
            reason = why.get("error") or why.get("reason") or "no reason recorded"
            reasons.append(f"{name} ({reason})")
        more = f" and {len(new) - 5} more" if len(new) > 5 else ""
        found.append(
            Finding(
                slug,
                "failed",
                f"{len(new)} new item(s) in failed/: {'; '.join(reasons)}{more}",
                f"agentctl failed {slug}",
                event=True,
            )
        )
    restarts = property_int(s.unit, "NRestarts")
    if restarts is not None:
        before = remembered.get("restarts") or 0
        # systemd resets the counter when someone starts the unit by hand.
        delta = restarts - before if restarts >= before else restarts
        if delta >= config["restart_alert_count"]:
            reason = restart_reason(s.agent, last_check)
            why = f" (last failure: {reason})" if reason else ""
            found.append(
                Finding(
                    slug,
                    "restarts",
                    f"systemd restarted it {delta} time(s) since the last check{why}",
                    f"agentctl logs {slug}",
                    event=True,
                )
            )
    return found


def agent_own_health(s: Snapshot, services: dict, now: datetime) -> Finding | None:
    """Return a finding for what only the agent's own `health` checks, checked the same way here.

    Those are the LLM answering while documents wait (the contract's check, over the files the
    snapshot read) and the systemd units its HEALTH_SERVICES names, as its heartbeat publishes them
    (services: their properties from systemctl show). Nothing runs as the agent: this tool's user
    needs no right to start anything.
    """
    own = [llm_finding(s.heartbeat, s.facts, now, s.backlog > 0, LLM_SUCCESS_MAX_AGE)]
    own += [
        service_finding(name, services.get(unit_id(name), {}).get("ActiveState"))
        for name in health_services(s.heartbeat)
    ]
    failing = [f"{f.name}: {f.detail}" for f in own if not f.ok]
    if not failing:
        return None
    return Finding(
        s.agent.slug,
        "health",
        f"its own health check fails: {'; '.join(failing)}",
        f"agentctl logs {s.agent.slug}",
    )


def health_services(heartbeat: dict) -> list[str]:
    """Return the unit names of the heartbeat's health_services that are unit names at all."""
    names = heartbeat.get("health_services")
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str) and SERVICE_NAME_PATTERN.match(n)]


def unit_id(name: str) -> str:
    """Return the name systemctl show reports a unit under: with .service when it has no type."""
    return name if name.endswith(UNIT_TYPES) else f"{name}.service"
