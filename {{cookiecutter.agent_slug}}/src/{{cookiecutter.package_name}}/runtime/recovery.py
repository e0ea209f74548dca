"""After a crash: finish the moves it cut short, and give back the items it interrupted."""

import logging

from .. import AGENT_SLUG
from .items import TERMINAL, content_hash_of

logger = logging.getLogger(__name__)

# An item in hand when the process died this many times is taken for the cause (a document that
# crashes a parser, or exhausts memory): it goes to failed/. Below systemd's start limit
# (agent_start_limit_burst), so the unit is still running when the item is given up.
MAX_CRASHES = 3


def recover(agent) -> None:
    """Finish the moves a crash cut short, and give back the items it interrupted.

    An item decided before the crash (its status and effects committed) gets its last move. An
    item interrupted while in hand goes back to the end of the queue with its attempt given
    back: a kill, a power cut or a stop is not the item's fault. Only an item in hand at
    MAX_CRASHES deaths of the process is taken for their cause and goes to failed/.
    """
    inbox, db = agent.inbox, agent.db
    # The rows acted on below were committed by the process that died, maybe never synced (its
    # page cache still holds them after a kill): durable first, as any act's decision is.
    db.sync()
    for temp in inbox.remove_temp_files():
        logger.info("Removed %s, left by an interrupted write", temp.name)
    for path in inbox.leftovers():
        content_hash = content_hash_of(path)
        row = db.item(content_hash) if content_hash else None
        item_id = row["item_id"] if row else None
        if row and row["status"] in TERMINAL:
            target = inbox.place(path, TERMINAL[row["status"]], decided_why(row))
            if row["status"] == "review":
                db.set_review_file(item_id, target.name)
        elif row and row["status"] == "processing":
            row = db.give_back_attempt(content_hash, crashed=True)
            if row["crashes"] >= MAX_CRASHES:
                reason = (
                    f"the agent process died {row['crashes']} times while it held this "
                    "document (killed, out of memory, or crashed by it); it is set aside so "
                    "the others go on. Retry it once the cause is fixed: agentctl retry"
                )
                target = agent.items.fail(path, item_id, reason, row["attempts"], content_hash)
            else:
                target = inbox.give_back_last(path)
        else:
            target = inbox.give_back(path)
        agent.audit.append(
            "item.recovered",
            item_id,
            file=path.name,
            to=str(target.parent.name),
            **({"crashes": row["crashes"]} if row else {}),
        )
        logger.warning("Recovered %s from processing/ into %s/", path.name, target.parent.name)


def decided_why(row) -> dict | None:
    """Return the sidecar of an item decided before a crash cut its last move."""
    if row["status"] == "failed":
        return {"item_id": row["item_id"], "error": row["reason"], "attempts": row["attempts"]}
    if row["status"] == "review":
        return {
            "item_id": row["item_id"],
            "reason": row["reason"],
            "decide_with": f"{AGENT_SLUG} review show {row['item_id']}",
        }
    return None
