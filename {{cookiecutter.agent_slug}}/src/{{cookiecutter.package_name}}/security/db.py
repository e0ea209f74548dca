"""The agent's SQLite database: items seen (by content hash), reviews and effects.

A job may keep tables of its own in the same file, which it creates when the agent opens it.

An item's end state and the effects it owes (its result file, its messages) are written in one
transaction; the effects table is then the durable queue a sender works through (reliability/
effects.py).

The tables are in schema.py. Every statement is parameterized (ruff's S608 rule rejects SQL built
from strings). WAL mode lets the CLI read while the agent writes; write transactions BEGIN
IMMEDIATE so they never deadlock.
"""

import json
import logging
import sqlite3
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ..contract.files import fsync_file
from .schema import MIGRATIONS, SCHEMA, TABLE_INFO

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 10


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Database:
    """One connection, autocommit by default, explicit immediate transactions for writes."""

    def __init__(self, path: Path):
        self.path = path
        self.connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        self.connection.row_factory = sqlite3.Row
        self.connection.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL never corrupts the database; a power cut may lose the last commits,
        # which recovery handles like a crash (the item is tried again). FULL would fsync each one.
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000:d}")
        # Commits whose WAL frames are not fdatasynced yet (see sync()): any at all (unsynced),
        # and among them a decision that the next act depends on (owed, see write()).
        self.unsynced = self.owed = False
        with self.write():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.connection.execute(statement)
            for (table, column), statement in MIGRATIONS.items():
                columns = {row["name"] for row in self.connection.execute(TABLE_INFO[table])}
                if column not in columns:
                    self.connection.execute(statement)

    def close(self) -> None:
        self.connection.close()

    def sync(self) -> None:
        """Make the commits so far durable: fdatasync the write-ahead log they are in.

        NORMAL leaves each commit in the WAL without a sync. The runtime calls this with its other
        syncs before anything acts on a decision (owed: the input's move, a result, a message), so
        a power cut never leaves a move or an effect without the row that decided it, and when the
        agent idles or stops.
        """
        if not self.unsynced:
            return
        self.unsynced = self.owed = False
        # No log: the last connection checkpointed it into the database, synced.
        fsync_file(f"{self.path}-wal", data_only=True, missing_ok=True)

    @contextmanager
    def write(self):
        """Run the block in one immediate write transaction."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")
        self.unsynced = self.owed = True

    def _count_one(self, statement: str, parameters: tuple) -> sqlite3.Row | None:
        """Run one statement that counts or marks (an attempt, a try, an effect sent) on its own.

        A single statement is atomic without a BEGIN and COMMIT to pay for. Its commit is synced
        with the next decision's or when the agent idles, not before the next act: a power cut
        that loses it costs one more attempt or one more delivery, which a send and its mark,
        never one atomic step, can cost anyway. Return its first row (RETURNING).
        """
        row = self.connection.execute(statement, parameters).fetchone()
        self.unsynced = True
        return row

    def count(self, table: str) -> int:
        queries = {
            "items": "SELECT COUNT(*) FROM items",
            "reviews": "SELECT COUNT(*) FROM reviews",
            "effects": "SELECT COUNT(*) FROM effects",
        }
        return self.connection.execute(queries[table]).fetchone()[0]

    # Items ------------------------------------------------------------------------------------

    def item(self, content_hash: str) -> sqlite3.Row | None:
        return self.connection.execute(
            "SELECT * FROM items WHERE content_hash = ?", (content_hash,)
        ).fetchone()

    def start_attempt(self, content_hash: str, item_id: str, name: str) -> int:
        """Record one more attempt at an item before working on it; return the attempt number."""
        now = now_iso()
        return self._count_one(
            "INSERT INTO items (content_hash, item_id, name, status, attempts, received,"
            " updated) VALUES (?, ?, ?, 'processing', 1, ?, ?)"
            " ON CONFLICT(content_hash) DO UPDATE SET attempts = attempts + 1,"
            " status = 'processing', updated = excluded.updated RETURNING attempts",
            (content_hash, item_id, name, now, now),
        )[0]

    def reset_attempts(self, content_hash: str) -> None:
        """Give a failed item a fresh set of attempts (a human asked for a retry)."""
        with self.write() as db:
            db.execute(
                "UPDATE items SET attempts = 0, crashes = 0, round = round + 1, status = 'waiting',"
                " updated = ?"
                " WHERE content_hash = ?",
                (now_iso(), content_hash),
            )

    def give_back_attempt(self, content_hash: str, *, crashed: bool = False) -> sqlite3.Row:
        """Undo an attempt that was not the item's own doing; return the item's row.

        The budget ran out before the LLM was asked, or the process died while holding the item
        (crashed: counted apart, so that only an item that kills the process every time fails).
        """
        with self.write() as db:
            db.execute(
                "UPDATE items SET attempts = MAX(attempts - 1, 0), crashes = crashes + ?,"
                " status = 'waiting', updated = ? WHERE content_hash = ?",
                (1 if crashed else 0, now_iso(), content_hash),
            )
            return db.execute(
                "SELECT * FROM items WHERE content_hash = ?", (content_hash,)
            ).fetchone()

    def finish_item(
        self,
        content_hash: str,
        status: str,
        *,
        outbox: str | None = None,
        reason: str | None = None,
        effects: tuple = (),
    ) -> None:
        """Record an item's new status and queue the effects it owes, in one transaction."""
        with self.write() as db:
            db.execute(
                "UPDATE items SET status = ?, outbox = COALESCE(?, outbox), reason = ?, updated = ?"
                " WHERE content_hash = ?",
                (status, outbox, reason, now_iso(), content_hash),
            )
            self._queue(db, effects)

    def item_by_id(self, item_id: str) -> sqlite3.Row | None:
        return self.connection.execute(
            "SELECT * FROM items WHERE item_id = ?", (item_id,)
        ).fetchone()

    # Reviews ----------------------------------------------------------------------------------

    def add_review(
        self,
        item_id: str,
        file: str,
        reason: str,
        fields: dict,
        choices: list[dict],
        *,
        evidence: list[dict] = (),
        content_hash: str | None = None,
        effects: tuple = (),
    ) -> None:
        """Queue a review, set its item's status and queue the effects, in one transaction.

        A crash before the commit retries the item; after it, recovery finishes the move.
        """
        with self.write() as db:
            if content_hash is not None:
                db.execute(
                    "UPDATE items SET status = 'review', reason = ?, updated = ?"
                    " WHERE content_hash = ?",
                    (reason, now_iso(), content_hash),
                )
            self._queue(db, effects)
            db.execute(
                "INSERT INTO reviews (item_id, file, reason, fields, candidates, evidence, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(item_id) DO UPDATE SET"
                " file=excluded.file, reason=excluded.reason, fields=excluded.fields,"
                " candidates=excluded.candidates, evidence=excluded.evidence, status='pending'",
                (
                    item_id,
                    file,
                    reason,
                    json.dumps(fields),
                    json.dumps(choices),
                    json.dumps(list(evidence)),
                    now_iso(),
                ),
            )

    def set_review_file(self, item_id: str, file: str) -> None:
        """Record the name its file got in review/ (the one planned may have been taken)."""
        with self.write() as db:
            db.execute("UPDATE reviews SET file = ? WHERE item_id = ?", (file, item_id))

    def reviews(self, status: str = "pending") -> list[dict]:
        rows = self.connection.execute(
            "SELECT * FROM reviews WHERE status = ? ORDER BY created, item_id", (status,)
        ).fetchall()
        return [self._review(row) for row in rows]

    def review(self, item_id: str) -> dict | None:
        row = self.connection.execute(
            "SELECT * FROM reviews WHERE item_id = ?", (item_id,)
        ).fetchone()
        return self._review(row) if row else None

    @staticmethod
    def _review(row: sqlite3.Row) -> dict:
        review = dict(row)
        review["fields"] = json.loads(review["fields"])
        review["choices"] = json.loads(review.pop("candidates"))
        review["evidence"] = json.loads(review["evidence"])
        review["decision"] = json.loads(review["decision"]) if review["decision"] else None
        return review

    def decide_review(
        self,
        item_id: str,
        status: str,
        decision: dict,
        *,
        item_status: str | None = None,
        reason: str | None = None,
        outbox: str | None = None,
        effects: tuple = (),
    ) -> bool:
        """Record a human decision, its item's status and effects, in one transaction.

        Return False, changing nothing, when the review was no longer pending (decided meanwhile).
        """
        with self.write() as db:
            changed = db.execute(
                "UPDATE reviews SET status = ?, decided = ?, decision = ?"
                " WHERE item_id = ? AND status = 'pending'",
                (status, now_iso(), json.dumps(decision), item_id),
            ).rowcount
            if not changed:
                return False
            if item_status is None:
                return True
            db.execute(
                "UPDATE items SET status = ?, outbox = COALESCE(?, outbox), reason = ?,"
                " updated = ? WHERE item_id = ?",
                (item_status, outbox, reason, now_iso(), item_id),
            )
            self._queue(db, effects)
        return True

    # Effects ----------------------------------------------------------------------------------

    @staticmethod
    def _queue(db: sqlite3.Connection, effects: tuple) -> None:
        """Queue effects; one already queued under the same key is kept (each happens once)."""
        for effect in effects:
            db.execute(
                "INSERT INTO effects (key, item_id, kind, payload, created) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(key) DO NOTHING",
                (effect.key, effect.item_id, effect.kind, json.dumps(effect.payload), now_iso()),
            )

    def queue_effects(self, effects: tuple) -> None:
        with self.write() as db:
            self._queue(db, effects)

    def due_effects(self, now: float) -> list[sqlite3.Row]:
        """Return the pending effects whose time has come, oldest first."""
        return self.connection.execute(
            "SELECT * FROM effects WHERE status = 'pending' AND next_try <= ?"
            " ORDER BY created, rowid",
            (now,),
        ).fetchall()

    def effect(self, key: str) -> sqlite3.Row | None:
        return self.connection.execute("SELECT * FROM effects WHERE key = ?", (key,)).fetchone()

    def effect_started(self, key: str) -> int:
        """Count one more delivery of an effect before making it; return its number."""
        row = self._count_one(
            "UPDATE effects SET tries = tries + 1 WHERE key = ? RETURNING tries", (key,)
        )
        return row[0] if row else 0

    def effect_sent(self, key: str) -> None:
        self._count_one(
            "UPDATE effects SET status = 'sent', sent = ?, error = NULL WHERE key = ?",
            (now_iso(), key),
        )

    def effect_failed(self, key: str, error: str, next_try: float | None) -> None:
        """Record a failed delivery: try again at next_try, or give up (None)."""
        with self.write() as db:
            db.execute(
                "UPDATE effects SET status = ?, next_try = COALESCE(?, next_try), error = ?"
                " WHERE key = ?",
                ("pending" if next_try is not None else "given up", next_try, error, key),
            )
