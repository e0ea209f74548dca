"""The human review queue: an item the job cannot decide is parked in review/ for a human, its
choices shown by number; the one chosen continues the item.

Only the process that holds the state directory decides: the running agent applies the decisions
handed over in decisions/ (by `review resolve` while it runs, or by the operator's Telegram bot,
which writes <id>.telegram-<token>.json with a decided_by {telegram_user_id, username}), or
`review resolve` decides itself when no agent runs.
"""

import json
import logging
import re
from pathlib import Path

from .. import AGENT_SLUG
from ..contract.files import atomic_create_json, atomic_write_bytes, free_path
from ..reliability import effects
from .items import outbox_name
from .protocol import Done, NeedsReview

logger = logging.getLogger(__name__)

# Operator decisions handed to the running agent (one writer per state directory).
DECISIONS_FOLDER = "decisions"
REFUSED_SUFFIX = ".refused.json"
# A Telegram username: letters, digits and underscores (empty when the user has none).
USERNAME = re.compile(r"[A-Za-z0-9_]{0,32}")


class ReviewQueue:
    """Decide the reviews of one agent: check, resolve, hand over, apply."""

    def __init__(self, agent):
        self.agent = agent
        self.decisions = agent.settings.state_dir / DECISIONS_FOLDER

    def park(
        self, path: Path, item_id: str, content_hash: str, outcome: NeedsReview, round_: int
    ) -> None:
        """Hand the decision on a claimed item to a human: the runtime never picks among the
        choices. round_: the item's round (items.ItemRunner.round), in its message's key."""
        agent = self.agent
        agent.audit.note(
            "match.undecided",
            item_id,
            reason=outcome.reason,
            candidates=[choice.get("id") for choice in outcome.choices],
        )
        # The review row, the item's status and the message are committed together: a crash
        # before retries the item, a crash after lets recovery finish the move.
        planned = free_path(agent.settings.state_dir / "review", path.name)
        message = effects.message(
            f"{item_id}:{round_}:review",
            item_id,
            f"{AGENT_SLUG}: a document needs a human decision ({outcome.reason}). "
            f"Run: {AGENT_SLUG} review show {item_id} [item {item_id}]",
        )
        agent.db.add_review(
            item_id,
            planned.name,
            outcome.reason,
            outcome.fields,
            outcome.choices,
            evidence=outcome.evidence,
            content_hash=content_hash,
            effects=(message,),
        )
        agent.settle()
        target = agent.inbox.place(
            path,
            "review",
            {
                "item_id": item_id,
                "reason": outcome.reason,
                "fields": outcome.fields,
                "choices": [
                    {"number": number, "label": agent.job.label(choice), "choice": choice}
                    for number, choice in enumerate(outcome.choices, start=1)
                ],
                "evidence": outcome.evidence,
                "decide_with": f"{AGENT_SLUG} review show {item_id}",
            },
        )
        if target.name != planned.name:  # the planned name was taken meanwhile
            agent.db.set_review_file(item_id, target.name)
        agent.audit.note("item.moved", item_id, to="review", file=target.name)
        agent.heartbeat.count("review")
        agent.deliver_effects()
        agent.audit.sync()
        logger.info(
            "Needs review: %s (%s)", target.name, outcome.reason, extra={"item_id": item_id}
        )

    def check_decision(self, item_id: str, choose: int | None) -> tuple[dict, Done | None]:
        """Return the pending review and how the chosen choice continues it (None to reject).

        Raise LookupError or ValueError, saying why, for a decision that cannot be applied.
        """
        review = self.agent.db.review(item_id)
        if review is None or review["status"] != "pending":
            raise LookupError(f"no pending review {item_id!r}; see: {AGENT_SLUG} review list")
        if choose is None:
            return review, None
        choices = review["choices"]
        if not 1 <= choose <= len(choices):
            raise ValueError(
                f"--choose must be between 1 and {len(choices)} for {item_id}"
                if choices
                else f"{item_id} has no candidates to choose from; fix the data and drop the "
                "document again, or --reject it"
            )
        return review, self.agent.job.decide(review["fields"], choices[choose - 1])

    def resolve(
        self,
        item_id: str,
        choose: int | None,
        note: str = "",
        by: str = "",
        decided_by: dict | None = None,
    ) -> str:
        """Continue a parked item with the human's choice (1-based) or reject it (choose None).

        by names the decider in the audit log; decided_by (the Telegram user) goes into the audit
        entry and the result too.
        """
        agent = self.agent
        review, done = self.check_decision(item_id, choose)
        path = agent.settings.state_dir / "review" / review["file"]
        row = agent.db.item_by_id(item_id)
        content_hash = row["content_hash"] if row else item_id
        who = {"by": by} if by else {}
        if decided_by:
            who["decided_by"] = decided_by
        if done is None:
            reason = f"rejected by a human: {note or 'no reason given'}"
            agent.audit.append("human.decision", item_id, decision="reject", note=note, **who)
            if not agent.db.decide_review(
                item_id,
                "rejected",
                {"reject": True, "note": note, **who},
                item_status="failed",
                reason=reason,
            ):
                raise LookupError(f"review {item_id!r} was decided meanwhile")
            attempts = row["attempts"] if row else 0
            target = agent.inbox.place(
                path, "failed", {"item_id": item_id, "error": reason, "attempts": attempts}
            )
            agent.audit.append("item.moved", item_id, to="failed", file=target.name, reason=reason)
            agent.heartbeat.count("failed")
            path.with_name(path.name + ".why.json").unlink(missing_ok=True)
            return "rejected"
        agent.audit.append(
            "human.decision", item_id, decision="choose", **done.audit, note=note, **who
        )
        result = agent.job.result(item_id, row["name"] if row else review["file"], done, "human")
        if decided_by:
            result["decided_by"] = decided_by
        if not agent.db.decide_review(
            item_id,
            "resolved",
            {**done.audit, "note": note, **who},
            item_status="done",
            outbox=outbox_name(item_id),
            effects=agent.items.done_effects(item_id, content_hash, result, done),
        ):
            raise LookupError(f"review {item_id!r} was decided meanwhile")
        target = agent.inbox.place(path, "done")
        agent.audit.append("item.moved", item_id, to="done", file=target.name)
        agent.heartbeat.count("done")
        path.with_name(path.name + ".why.json").unlink(missing_ok=True)
        agent.deliver_effects()
        return "resolved"

    def hand_over(self, item_id: str, choose: int | None, note: str, by: str) -> Path:
        """Queue a checked decision for the running agent; FileExistsError if one waits."""
        self.check_decision(item_id, choose)
        path = self.decisions / f"{item_id}.json"
        (self.decisions / f"{item_id}{REFUSED_SUFFIX}").unlink(missing_ok=True)
        atomic_create_json(path, {"item_id": item_id, "choose": choose, "note": note, "by": by})
        return path

    def apply_handed_over(self) -> None:
        """Apply the decisions handed over, oldest first; refuse those that no longer fit."""
        requests = sorted(
            (p for p in self.decisions.glob("*.json") if not p.name.endswith(REFUSED_SUFFIX)),
            key=lambda p: p.stat().st_mtime,
        )
        for path in requests:
            try:
                request = json.loads(path.read_text(encoding="utf-8"))
                item_id = str(request["item_id"])
                choose = request["choose"]
                self.agent.resolve_review(
                    item_id,
                    None if choose is None else int(choose),
                    str(request.get("note") or ""),
                    str(request.get("by") or ""),
                    decider(request.get("decided_by")),
                )
            except (ValueError, KeyError, TypeError, LookupError, PermissionError) as error:
                refusal = self.decisions / f"{path.stem}{REFUSED_SUFFIX}"
                atomic_write_bytes(refusal, json.dumps({"error": str(error)}).encode() + b"\n")
                logger.warning("Decision %s refused: %s", path.name, error)
            path.unlink(missing_ok=True)


def decider(value) -> dict | None:
    """Return the Telegram user a handed-over decision names, checked: {telegram_user_id, username}.

    Raise ValueError for anything else: the spool's writers (the bot) are not the agent's code.
    """
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"telegram_user_id", "username"}:
        raise ValueError("decided_by must hold telegram_user_id and username only")
    user_id, username = value["telegram_user_id"], value["username"]
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise ValueError("decided_by.telegram_user_id must be a whole number")
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise ValueError("decided_by.username must be a Telegram username (or empty)")
    return {"telegram_user_id": user_id, "username": username}
