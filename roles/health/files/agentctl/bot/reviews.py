"""The agents' review queues as the bot sees them, and the decision spool it writes into.

The bot reads review/*.why.json (what the agent wrote when it parked the item) and never decides
itself: a press becomes a small JSON file in the agent's decisions/ folder (review id, choice,
decided_by, token), written atomically under a name no other writer takes; the agent's loop
applies it with the code of `review resolve`, being the only writer of its state, or refuses it
in <id>.refused.json. The bot then reads the outcome back.
"""

import json
import os
from pathlib import Path

from ..agents import Agent
from ..contract.files import atomic_create_bytes, json_bytes, read_json
from ..contract.layout import DECISIONS, REVIEW, sidecar_path, visible_files
from ..output import logger

REFUSED_SUFFIX = ".refused.json"


def pending_reviews(agent: Agent) -> list[dict]:
    """Return the items parked in review/, oldest first, each with its sidecar's content."""
    folder = agent.state / REVIEW
    found = []
    for entry in visible_files(folder):
        why = read_json(sidecar_path(folder / entry.name))
        if isinstance(why, dict) and why.get("item_id"):
            found.append({**why, "file": entry.name, "mtime": entry.stat().st_mtime})
    return sorted(found, key=lambda review: (review["mtime"], review["file"]))


def find_review(agent: Agent, item_id: str) -> dict | None:
    for review in pending_reviews(agent):
        if review["item_id"] == item_id:
            return review
    return None


def decision_path(agent: Agent, item_id: str, token: str) -> Path:
    # The token in the name: never the name `review resolve` hands over, nor another press's.
    return agent.state / DECISIONS / f"{item_id}.telegram-{token}.json"


def hand_over(agent: Agent, item_id: str, choose: int | None, user: dict, token: str) -> Path:
    """Write the decision for the agent to apply; FileExistsError if this press was written."""
    who = {"telegram_user_id": user.get("id"), "username": user.get("username") or ""}
    label = f"@{who['username']}" if who["username"] else str(who["telegram_user_id"])
    path = decision_path(agent, item_id, token)
    request = {
        "item_id": item_id,
        "choose": choose,
        "note": "decided in Telegram",
        "by": f"telegram:{who['telegram_user_id']} ({label})",
        "decided_by": who,
        "token": token,
    }
    # The agent owns the folder, the bot's group may write in it: the agent reads what the bot
    # wrote as "others", from the moment the name appears. The unit's UMask=0027 would take that
    # read away; this one file is made readable, nothing else the bot writes.
    umask = os.umask(0o022)
    try:
        atomic_create_bytes(path, json_bytes(request), mode=0o644)
    finally:
        os.umask(umask)
    return path


def outcome(agent: Agent, item_id: str, token: str) -> tuple[str, str]:
    """Return ("waiting" | "refused" | "done", detail) for a decision handed over."""
    path = decision_path(agent, item_id, token)
    if path.exists():
        return "waiting", ""
    refusal = refusal_path(agent, item_id, token)
    if refusal.exists():
        try:
            error = json.loads(refusal.read_text(encoding="utf-8")).get("error", "?")
        except (OSError, ValueError):
            error = "?"
        return "refused", str(error)
    return "done", ""


def refusal_path(agent: Agent, item_id: str, token: str) -> Path:
    path = decision_path(agent, item_id, token)
    return path.with_name(path.name.removesuffix(".json") + REFUSED_SUFFIX)


def clear_refusal(agent: Agent, item_id: str, token: str) -> None:
    """Remove the agent's refusal once told (the group may delete in the spool)."""
    try:
        refusal_path(agent, item_id, token).unlink(missing_ok=True)
    except OSError as error:
        logger.warning("could not remove the refusal of %s (%s)", item_id, error)
