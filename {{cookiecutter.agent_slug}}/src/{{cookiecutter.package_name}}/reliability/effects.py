"""Effects once: every outward effect is queued durably under an idempotency key, then delivered.

An item's end state and the effects it owes are committed in one transaction (security/db.py), so a
crash can neither lose an effect nor let a reprocessed item queue it twice: the key is derived from
the item and the effect, and a key already queued is kept. The sender then delivers each due
effect and marks it sent:

- a result file is created under a name that is never replaced: it is written exactly once;
- a message goes to a service without idempotency keys (the Telegram Bot API), so it is sent again
  only when the process dies between the service accepting it and the sender marking it sent, a
  window of one request. Every message carries its item id, so a repeat is recognisable.

A failed delivery is tried again later (jittered, growing delays) up to MAX_TRIES times, then given
up and audited as such. See docs/contract.md, "Effects".
"""

import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

from ..contract.files import fsync_directory, fsync_file, json_bytes, rename_no_replace, write_temp
from .errors import PermanentError, TransientError
from .files import sync_together

logger = logging.getLogger(__name__)

RESULT = "result"
MESSAGE = "message"
MAX_TRIES = 8
FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 3600.0


@dataclass(frozen=True)
class Effect:
    key: str
    item_id: str | None
    kind: str
    payload: dict


def result_file(item_id: str, result: dict, audit: dict | None = None) -> Effect:
    """The item's result, as outbox/<item_id>.json; audit: what its outbox.written entry says."""
    payload = {"file": f"{item_id}.json", "result": result, "audit": audit or {}}
    return Effect(f"{item_id}:result", item_id, RESULT, payload)


def message(key: str, item_id: str | None, text: str) -> Effect:
    """A notification or an alert; key says what it is about (one message per key, ever)."""
    return Effect(key, item_id, MESSAGE, {"text": text})


def create_results(files: list[tuple[Path, bytes]], settle, durable: bool = True) -> None:
    """Create each (path, data) of one folder once, after what settle syncs and their data.

    settle(*syncs) issues the data's syncs together with its own (the audit log's, the folders of
    the items' last moves); the names appear only once all are done, and are never replaced: a
    result written by a delivery that died before marking it sent is kept. durable=False leaves
    the folder's fsync, which makes the names durable, to the caller.
    """
    temps: list[tuple[Path, Path]] = []
    try:
        for path, data in files:
            temps.append((write_temp(path, data, 0o640, durable=False), path))
        if temps:
            settle(*(lambda temp=temp: fsync_file(temp) for temp, _ in temps))
        for temp, path in temps:
            with contextlib.suppress(FileExistsError):
                rename_no_replace(temp, path)
    finally:
        for temp, _ in temps:
            temp.unlink(missing_ok=True)  # gone after a move; left behind by a failure or a link
    if durable and files:
        fsync_directory(files[0][0].parent)


def retry_delay(tries: int) -> float:
    """Return how long to wait after the tries-th failed delivery: doubling, capped, jittered."""
    ceiling = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (tries - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - spreading retries, not a secret


class Sender:
    """Deliver the due effects of one agent's queue, recording each in the audit log."""

    def __init__(self, db, outbox: Path):
        self.db = db
        self.outbox = outbox
        self.audit = self.notifier = self.settle = None
        # The results named whose outbox/ fsync is still owed: each is marked sent only after it,
        # issued at the end of the pass with the messages' audit entries.
        self.named: list[str] = []

    def deliver(self, audit, notifier, settle=None) -> int:
        """Deliver every due effect, recording each in audit; return how many were delivered now.

        settle(*syncs): makes what the agent recorded or did so far durable, together with syncs,
        before an effect acts (by default the audit log's sync). Disk-full and database errors
        propagate: the effect stays queued for the next call.
        """
        self.audit, self.notifier = audit, notifier
        self.settle = settle or (lambda *syncs: sync_together(audit.sync, *syncs))
        due = self.db.due_effects(time.time())
        # The results first, written together: a message may tell of one.
        results = [row for row in due if row["kind"] == RESULT]
        self._write_results(results)
        messages = [row for row in due if row["kind"] != RESULT]
        if messages:
            self.settle()  # the messages tell of what came before them: made durable first
        delivered, sent = len(results), 0
        for row in messages:
            if not self._send_message(row):
                break  # one failed send per pass: the others wait, not the whole loop
            sent += 1
        # The messages' entries are synced together, with the outbox folder of the results.
        self._mark_named(settle=sent > 0)
        return delivered + sent

    def _mark_named(self, settle: bool = False) -> None:
        """Sync the outbox folder (when results were named) with what settle syncs (the audit
        entries noted, when settle or results were named); mark those results sent.

        A power cut before leaves a named result pending in the queue: the next delivery finds
        the file, or writes it again when its name was lost with the cut.
        """
        if self.named:
            self.settle(lambda: fsync_directory(self.outbox))
        elif settle:
            self.settle()
        named, self.named = self.named, []
        for key in named:
            self.db.effect_sent(key)

    def _write_results(self, rows) -> None:
        files = []
        for row in rows:
            payload = json.loads(row["payload"])
            path = self.outbox / payload["file"]
            if not path.exists():
                # Recorded first: a result never leaves unrecorded. A crash between the two records
                # the write twice; the effect's tries in the database count both.
                self.db.effect_started(row["key"])
                details = payload.get("audit") or {}
                self.audit.note("outbox.written", row["item_id"], file=path.name, **details)
                files.append((path, json_bytes(payload["result"])))
        create_results(files, self.settle, durable=False)
        # Marked sent once their names are durable (_mark_named); a name a process killed before
        # the mark left behind is made durable the same way.
        self.named.extend(row["key"] for row in rows)

    def _send_message(self, row) -> bool:
        text = json.loads(row["payload"])["text"]
        tries = self.db.effect_started(row["key"])
        try:
            self.notifier.send(text)
        except (TransientError, PermanentError) as error:
            give_up = isinstance(error, PermanentError) or tries >= MAX_TRIES
            next_try = None if give_up else time.time() + retry_delay(tries)
            self.db.effect_failed(row["key"], str(error), next_try)
            self.audit.append(
                "notification.failed",
                row["item_id"],
                channel=self.notifier.name,
                key=row["key"],
                tries=tries,
                error=str(error),
                **({"gave_up": True} if give_up else {}),
            )
            logger.warning(
                "Notification %s not delivered (try %d of %d%s): %s",
                row["key"],
                tries,
                MAX_TRIES,
                ", given up" if give_up else ", will try again",
                error,
                extra={"item_id": row["item_id"]},
            )
            return False
        # Recorded before it is marked sent: a crash in between sends and records it once more.
        # The entry is synced with the pass's others, at its end (deliver).
        self.audit.note(
            "notification.sent", row["item_id"], channel=self.notifier.name, key=row["key"]
        )
        self.db.effect_sent(row["key"])
        return True
