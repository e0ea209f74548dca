"""The heartbeat file: what agentctl and the health check read to know how the agent is doing."""

import os
from pathlib import Path

from ..contract.files import atomic_write_json, read_json
from ..contract.layout import HEARTBEAT_FILE
from ..contract.times import iso, utc_now

# What a new process keeps from the heartbeat of the one before: when the agent last did its work
# is a fact about the agent, not about this process. Everything else describes this process only
# (pid, started, and the counters, which count what this process did since it started).
CARRIED_OVER = ("last_success", "last_llm_success")


def now_iso() -> str:
    return iso(utc_now())


class Heartbeat:
    """Keep the agent's vital signs in memory and write them atomically on every loop."""

    def __init__(
        self,
        state_dir: Path,
        agent: str,
        version: str,
        budget_usd: float,
        health_services: tuple[str, ...] = (),
    ):
        self.path = state_dir / HEARTBEAT_FILE
        self.data = {
            "agent": agent,
            "version": version,
            "pid": os.getpid(),
            "started": now_iso(),
            "last_loop": None,
            "last_success": None,
            "last_llm_success": None,
            "counters": {"done": 0, "failed": 0, "review": 0, "duplicate": 0},
            "cost_today_usd": 0.0,
            "budget_usd": budget_usd,
            "budget_reached": False,
            "unknown_price_models": [],
            # HEALTH_SERVICES as the settings validated them: agentctl checks them from here,
            # without running anything as the agent.
            "health_services": list(health_services),
            "status": "starting",
        }
        self.data.update(carried_over(read_heartbeat(state_dir)))

    def count(self, outcome: str) -> None:
        self.data["counters"][outcome] = self.data["counters"].get(outcome, 0) + 1
        if outcome in ("done", "review"):
            self.data["last_success"] = now_iso()

    def write(self, **changes) -> None:
        self.data.update(changes)
        self.data["last_loop"] = now_iso()
        # Rewritten on every loop and only describes the present: atomic, but not worth an fsync.
        atomic_write_json(self.path, self.data, durable=False)


def carried_over(previous) -> dict:
    """Return the CARRIED_OVER times of a previous heartbeat; a damaged one carries nothing."""
    if not isinstance(previous, dict):
        return {}
    return {key: previous[key] for key in CARRIED_OVER if isinstance(previous.get(key), str)}


def read_heartbeat(state_dir: Path) -> dict | None:
    """Return the last heartbeat written, or None when there is none (yet) or it is damaged."""
    document = read_json(state_dir / HEARTBEAT_FILE)
    return document if isinstance(document, dict) else None
