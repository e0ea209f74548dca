"""The heartbeat file the agent rewrites on every loop (heartbeat.json in its state directory).

    read_heartbeat(state) -> dict        {} when missing, damaged or not an object
    last_loop(heartbeat) -> datetime | None
    unpriced_today(heartbeat, today) -> set[str]   its models of unknown price, if it is today's

Fields: agent, version, pid, started, last_loop, last_success, last_llm_success, counters,
cost_today_usd, budget_usd, budget_reached, unknown_price_models, status.
"""

from datetime import date, datetime
from pathlib import Path

from .files import read_json
from .layout import HEARTBEAT_FILE
from .times import parse_time


def read_heartbeat(state: Path) -> dict:
    """Return the last heartbeat written, or {} when there is none (yet) or it is damaged."""
    document = read_json(state / HEARTBEAT_FILE)
    return document if isinstance(document, dict) else {}


def last_loop(heartbeat: dict) -> datetime | None:
    return parse_time(heartbeat.get("last_loop"))


def unpriced_today(heartbeat: dict, today: date) -> set[str]:
    """Return the heartbeat's models of unknown price; none when it was written another day."""
    beat = last_loop(heartbeat)
    if beat is None or beat.date() != today:
        return set()  # yesterday's list: the agent has not looped today
    return {str(model) for model in heartbeat.get("unknown_price_models") or []}
