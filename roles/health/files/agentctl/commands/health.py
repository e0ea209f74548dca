"""`agentctl health` and `agentctl check` (the timer's): every check, alerts sent once."""

import contextlib
import time
from datetime import timedelta

from ..agents import discover_agents, load_agent_secrets
from ..alerts import advance, compose_alert, deliver, enqueue, load_state, save_state, state_lock
from ..checks import (
    agent_conditions,
    agent_events,
    agent_own_health,
    health_services,
    host_conditions,
)
from ..contract.times import iso, parse_time, utc_now
from ..errors import EXIT_OK, EXIT_PROBLEM
from ..output import logger, say
from ..redaction import REDACT, read_bot_token
from ..snapshot import inspect_agent
from ..systemd import hostname, property_int, systemctl_show
from ..telegram import html_to_text

PING_TIMEOUT_SECONDS = 10


# Conditions the agent alerts on itself, at once and once (docs/contract.md, "Alerts: one owner per
# kind"): agentctl shows them in status and health, and never sends them a second time.
AGENT_ALERTS = frozenset({"budget", "prices"})


def own_health_services(config: dict, snapshots: list) -> dict:
    """Return {unit: properties} of every HEALTH_SERVICES unit the agents' heartbeats name."""
    if not config["run_agent_health"]:
        return {}
    names = sorted({name for s in snapshots for name in health_services(s.heartbeat)})
    # An error here shows as "unknown" states; the host finding already names a broken systemctl.
    return systemctl_show(names)[0] if names else {}


def run_check(config: dict, *, send: bool) -> tuple[int, int]:
    """Run every check; with send, update the alert state and deliver. Return (problems, exit)."""
    now, now_monotonic = utc_now(), time.monotonic()
    agents = discover_agents(config)
    load_agent_secrets(agents)
    REDACT.add(read_bot_token(config))
    with state_lock(config) if send else contextlib.nullcontext():
        state = load_state(config)
        last_check = parse_time(state.get("last_check"))
        units, error = systemctl_show([a.unit for a in agents])
        findings = host_conditions(config, error)
        remembered_agents = state["agents"]
        snapshots = [inspect_agent(a, units.get(a.unit, {}), now) for a in agents]
        services = own_health_services(config, snapshots)
        for snapshot in snapshots:
            agent = snapshot.agent
            findings += agent_conditions(snapshot, config, now, now_monotonic)
            remembered = remembered_agents.get(agent.slug, {})
            findings += agent_events(snapshot, config, remembered, last_check, now)
            # A unit that is not running is the problem already; its own check would only echo it.
            if config["run_agent_health"] and snapshot.unit.get("ActiveState") == "active":
                own = agent_own_health(snapshot, services, now)
                if own:
                    findings.append(own)
            remembered_agents[agent.slug] = {
                "failed": sorted(snapshot.failed),
                "restarts": property_int(snapshot.unit, "NRestarts") or 0,
            }
        for slug in set(remembered_agents) - {a.slug for a in agents}:
            del remembered_agents[slug]
        reminder = timedelta(hours=config["reminder_hours"])
        alerted = [f for f in findings if f.check not in AGENT_ALERTS]
        new, reminders, recovered, events = advance(state, alerted, now, reminder)
        message = compose_alert(hostname(), new, reminders, recovered, events, now)
        problems = len([f for f in findings if not f.event])
        if not send:
            if message:
                say("would send:")
                for line in message:
                    say(html_to_text(line))
            else:
                say(
                    f"would send nothing ({problems} problem(s) open, all already told)"
                    if problems
                    else "would send nothing: all healthy"
                )
            return problems, EXIT_OK
        state["last_check"] = iso(now)
        if message:
            enqueue(state, message, now)
        save_state(config, state)
        for finding in findings:
            logger.info("%s: %s", finding.subject, finding.text)
        delivered = deliver(config, state)
        save_state(config, state)
        return problems, EXIT_OK if delivered else EXIT_PROBLEM


def command_health(config: dict, args) -> int:
    problems, delivery = run_check(config, send=args.send)
    if delivery != EXIT_OK:
        return delivery
    return EXIT_PROBLEM if problems else EXIT_OK


def command_check(config: dict, args) -> int:
    ping(config["heartbeat_url"], "/start")
    try:
        _, status = run_check(config, send=True)
    except BaseException:
        ping(config["heartbeat_url"], "/fail")
        raise
    ping(config["heartbeat_url"], "" if status == EXIT_OK else f"/{status}")
    return status


def ping(url: str, suffix: str) -> None:
    """Tell an external dead-man's switch (healthchecks.io style) how this run goes."""
    if not url:
        return
    # A third of agentctl's start-up time: loaded only when there is a URL to ping.
    import urllib.error
    import urllib.request

    target = f"{url.rstrip('/')}{suffix}"
    try:
        # S310: the ping URL is from agentctl's root-owned configuration.
        with urllib.request.urlopen(target, timeout=PING_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read()
    except (urllib.error.URLError, OSError, ValueError) as error:
        logger.warning(
            "Could not ping the heartbeat URL (%s): %s",
            suffix or "success",
            getattr(error, "reason", error),
        )
