"""One item's state machine: incoming/ -> processing/ -> done/, review/ or failed/ (or back).

Each end state is committed with the effects it owes (result file, messages) in one transaction,
then the input is moved, then the effects are delivered: a crash anywhere leaves what recovery.py
finishes. The job only says what the content is; everything here is the same for every job.

Items decided done back to back are a group commit: while files wait, the loop decides a few
(agent.py, BATCH_ITEMS within BATCH_SECONDS), then flush() makes their records durable with one set
of syncs, moves them and delivers their effects together. Each item's order is the same as alone:
its decision and records are durable before its move, its move before its result, its result before
its message; only the syncs are shared.
"""

import hashlib
import logging
import os
import stat
from pathlib import Path

from .. import AGENT_SLUG
from ..contract.times import today_utc
from ..reliability import effects
from ..reliability.http import PermanentError, TransientError
from ..reliability.inbox import read_regular_file
from .clock import ItemTimeout
from .disk import WRITE_ERRORS, DiskFull, is_disk_full
from .gateway import BudgetReached, ItemContext
from .protocol import Done, ItemFailed, NeedsReview, TryLater

logger = logging.getLogger(__name__)

ITEM_ID_CHARS = 16
# The item statuses that are decided, and the folder of each.
TERMINAL = {"done": "done", "review": "review", "failed": "failed"}


class ItemRunner:
    """Carry the items of one agent through its job."""

    def __init__(self, agent):
        self.agent = agent
        # Items decided done whose move and effects wait for flush(): (input in processing/, id).
        self.pending: list[tuple[Path, str]] = []

    def process_file(self, path: Path, defer: bool = False) -> str:
        """Carry one waiting file to done/, failed/ or review/ (or back to incoming/).

        defer: an item decided done waits in processing/ for flush(), with the others of its
        batch. Raise DiskFull, with the file back in incoming/, when a write fails for lack of
        space.
        """
        # A name that is not UTF-8 (copied from a Latin-1 system) decodes with surrogates, which
        # no database, JSON file or message can hold: records show its bad bytes as \xNN.
        original_name = os.fsencode(path.name).decode("utf-8", "backslashreplace")
        if not path.exists() and not path.is_symlink():
            return "gone"
        inbox = self.agent.inbox
        claimed = inbox.claim(path)
        try:
            return self.process_claimed(claimed, original_name, defer)
        except WRITE_ERRORS as error:
            if not is_disk_full(error):
                raise
            # Renames need no space: the input goes back untouched, under its own name, unless
            # it was already decided (then recovery finishes the move once there is space).
            row = self.agent.db.item(content_hash_of(claimed))
            if (claimed.exists() or claimed.is_symlink()) and not (
                row and row["status"] in TERMINAL
            ):
                inbox.drop_unsynced_originals()
                inbox.give_back(claimed, path.name)
            raise DiskFull(f"{error} (while processing {original_name})") from None

    def process_claimed(self, claimed: Path, original_name: str, defer: bool = False) -> str:
        agent = self.agent
        try:
            data = read_regular_file(claimed, agent.settings.max_file_bytes)
        except (ValueError, OSError) as error:
            agent.audit.note("item.received", None, file=original_name)
            self.fail(claimed, None, str(error), 1, None)
            return "failed"
        content_hash = hashlib.sha256(data).hexdigest()
        item_id = content_hash[:ITEM_ID_CHARS]
        row = agent.db.item(content_hash)
        if row and row["status"] == "failed":
            # Dropped again after it failed (by hand or `agentctl retry`): a fresh set of attempts.
            agent.db.reset_attempts(content_hash)
            agent.audit.note(
                "item.retry",
                item_id,
                file=original_name,
                reason=row["reason"],
                attempts=row["attempts"],
                crashes=row["crashes"],
            )
        elif row and row["status"] in TERMINAL:
            agent.settle()
            target = agent.inbox.place(
                claimed,
                "done",
                {"item_id": item_id, "duplicate_of": row["name"], "status": row["status"]},
            )
            agent.audit.append("item.duplicate", item_id, file=original_name, first=row["name"])
            agent.heartbeat.count("duplicate")
            logger.info(
                "Duplicate of an item already handled: %s", target.name, extra={"item_id": item_id}
            )
            return "duplicate"
        attempt = agent.db.start_attempt(content_hash, item_id, original_name)
        agent.audit.note(
            "item.received", item_id, file=original_name, attempt=attempt, bytes=len(data)
        )
        agent.inbox.keep_original(item_id, claimed.suffix, data)
        try:
            # The watchdog is fed while the item is within its limit (an LLM call in flight when
            # the limit passes holds the clock back, HTTP_MAX_TOTAL_SECONDS at most). Outermost,
            # so that the item's alarm is disarmed before the keep-alive thread is joined.
            with (
                agent.systemd.keepalive(
                    agent.settings.item_time_limit_seconds + agent.settings.http_max_total_seconds
                ),
                agent.clock.limit(),
            ):
                outcome = agent.job.process(claimed, data, ItemContext(agent, item_id))
        except ItemTimeout as error:
            self.fail(claimed, item_id, str(error), attempt, content_hash)
            return "failed"
        except BudgetReached:
            agent.db.give_back_attempt(content_hash)
            agent.settle()
            agent.inbox.give_back(claimed)
            agent.audit.append("item.waiting", item_id, reason="daily budget reached")
            raise
        except ItemFailed as error:
            self.fail(claimed, item_id, str(error), attempt, content_hash)
            return "failed"
        except (TryLater, TransientError) as error:
            return self.retry_later(claimed, item_id, str(error), attempt, content_hash)
        except PermanentError as error:
            # A configuration problem (bad API key...): the document itself is fine; keep it.
            agent.alert(f"config:{today_utc().isoformat()}:{error}", f"{AGENT_SLUG}: {error}")
            return self.retry_later(claimed, item_id, str(error), attempt, content_hash)
        if isinstance(outcome, NeedsReview):
            agent.reviews.park(claimed, item_id, content_hash, outcome, self.round(content_hash))
            return "review"
        agent.audit.note("match.decided", item_id, **outcome.audit, by="rules")
        result = agent.job.result(item_id, original_name, outcome, "rules")
        self.finish(claimed, item_id, content_hash, result, outcome, defer)
        return "done"

    def finish(
        self,
        path: Path,
        item_id: str,
        content_hash: str,
        result: dict,
        outcome: Done,
        defer: bool = False,
    ) -> None:
        """Mark the item done with its result and notification queued; move it and deliver them
        now, or with its batch's at flush() (defer)."""
        self.agent.db.finish_item(
            content_hash,
            "done",
            outbox=outbox_name(item_id),
            effects=self.done_effects(item_id, content_hash, result, outcome),
        )
        self.pending.append((path, item_id))
        if not defer:
            self.flush()

    def flush(self) -> None:
        """Move the items decided done to done/ and deliver their effects, with shared syncs.

        Every effect waits for it (agent.deliver_effects flushes first): no result or message of
        an item comes before its move.
        """
        if not self.pending:
            return
        decided, self.pending = self.pending, []
        agent = self.agent
        # The items' entries so far and their archived originals are made durable before their
        # first effect (these moves). The moves' folders, their entries and the outbox.written
        # entries that follow are synced together with the results' content, before the results
        # are named (or before any other effect acts, or at the end here when there is none).
        agent.settle()
        for path, item_id in decided:
            target = agent.inbox.place(path, "done", durable=False)
            agent.audit.note("item.moved", item_id, to="done", file=target.name)
            agent.heartbeat.count("done")
            logger.info(
                "Done: %s", target.name, extra={"item_id": item_id, "outbox": outbox_name(item_id)}
            )
        agent.deliver_effects()
        agent.settle()

    def forget_pending(self) -> None:
        """Leave the items decided done in processing/ (a full disk): recovery moves them."""
        self.pending.clear()

    def done_effects(self, item_id: str, content_hash: str, result: dict, outcome: Done) -> tuple:
        return (
            effects.result_file(item_id, result, outcome.audit),
            effects.message(
                f"{item_id}:{self.round(content_hash)}:done",
                item_id,
                f"{self.agent.job.notification(result)} [item {item_id}]",
            ),
        )

    def round(self, content_hash: str) -> int:
        """Return how many times the item was dropped again after it failed, plus one."""
        row = self.agent.db.item(content_hash)
        return row["round"] if row else 1

    def retry_later(
        self, path: Path, item_id: str, reason: str, attempt: int, content_hash: str
    ) -> str:
        agent = self.agent
        if attempt >= agent.settings.max_attempts:
            self.fail(
                path, item_id, f"gave up after {attempt} attempts: {reason}", attempt, content_hash
            )
            return "failed"
        agent.db.finish_item(content_hash, "waiting", reason=reason)
        agent.settle()
        target = agent.inbox.give_back(path)
        agent.audit.append("item.moved", item_id, to="incoming", reason=reason, attempt=attempt)
        logger.warning(
            "Will retry %s later (attempt %d of %d): %s",
            target.name,
            attempt,
            agent.settings.max_attempts,
            reason,
            extra={"item_id": item_id},
        )
        return "retry"

    def fail(
        self, path: Path, item_id: str | None, reason: str, attempts: int, content_hash: str | None
    ) -> Path:
        agent = self.agent
        if content_hash:
            agent.db.finish_item(content_hash, "failed", reason=reason)
        agent.settle()
        target = agent.inbox.place(
            path, "failed", {"item_id": item_id, "error": reason, "attempts": attempts}
        )
        agent.audit.append("item.moved", item_id, to="failed", file=target.name, reason=reason)
        agent.heartbeat.count("failed")
        logger.error("Failed: %s: %s", target.name, reason, extra={"item_id": item_id})
        return target


def outbox_name(item_id: str) -> str:
    return effects.result_file(item_id, {}).payload["file"]


def content_hash_of(path: Path) -> str:
    """Return the SHA-256 of a regular file, or "" for anything else (a link, a pipe, a folder).

    Reading a named pipe would block, and a link would be followed out of the state directory.
    """
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return ""
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""
