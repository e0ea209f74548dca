"""`agentctl on-failure UNIT`: tell the owner at once that systemd gave up on a unit."""

import re

from ..agents import discover_agents, load_agent_secrets
from ..alerts import deliver, enqueue, load_state, save_state, state_lock
from ..contract.layout import SYSTEM_USER_PREFIX, UNIT_SUFFIX
from ..contract.telegram import escape
from ..contract.times import iso, utc_now
from ..errors import EXIT_OK, EXIT_PROBLEM
from ..output import logger
from ..redaction import REDACT, read_bot_token
from ..systemd import hostname, journal_lines


def command_on_failure(config: dict, args) -> int:
    """Tell the owner at once that systemd gave up on a unit, with its last journal lines."""
    unit = args.unit
    now = utc_now()
    slug = unit.removeprefix(SYSTEM_USER_PREFIX).removesuffix(UNIT_SUFFIX)
    agents = discover_agents(config)
    agent = next((a for a in agents if a.slug == slug and unit == a.unit), None)
    load_agent_secrets(agents)
    REDACT.add(read_bot_token(config))
    host = hostname()
    # The host is in the message's first line already: drop it from every journal line.
    lines = [
        re.sub(rf"^(\S+) {re.escape(host)} ", r"\1 ", line)
        for line in journal_lines(unit, config["journal_lines"])
    ]
    message = [
        (
            f"🔴 <b>{escape(host)}</b>: <b>{escape(unit)}</b> failed: systemd stopped restarting "
            "it (its start limit was reached)."
        ),
        f"Last {len(lines)} journal line(s):" if lines else "(its journal could not be read)",
        *(f"<code>{escape(REDACT(line))}</code>" for line in lines),
        f"→ <code>{escape(f'agentctl logs {slug}' if agent else f'journalctl -u {unit}')}</code>",
    ]
    with state_lock(config):
        state = load_state(config)
        if agent is not None:
            # The 15-minute check will find the unit failed: it is already told, so it only reminds.
            state["problems"][f"{agent.slug}/unit"] = {
                "subject": agent.slug,
                "check": "unit",
                "text": f"{unit} failed (start limit reached)",
                "command": f"agentctl logs {agent.slug}",
                "since": iso(now),
                "last_sent": iso(now),
            }
        enqueue(state, message, now)
        save_state(config, state)
        logger.error("%s failed; alert queued", unit)
        delivered = deliver(config, state)
    return EXIT_OK if delivered else EXIT_PROBLEM
