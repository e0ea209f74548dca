"""The audit log: one append-only JSON line per action that touches the world, hash-chained.

Each entry carries the hash of the previous one, so editing or removing an entry breaks the chain.
audit.head records the last entry's sequence number and hash, so cutting entries off the end is
detected too. A failed append raises: the agent must not act without a record.
"""

import fcntl
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..contract.files import atomic_write_json

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
TAIL_READ_BYTES = 64 * 1024


def entry_hash(entry: dict) -> str:
    """Hash an entry (without its own hash field) canonically."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class AuditError(Exception):
    """The audit log cannot be written: the agent stops rather than act without a record."""


@dataclass
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def head_path_for(path: Path) -> Path:
    """Return where the chain head of the audit log at path is kept."""
    return path.with_suffix(".head")


def read_head(head_path: Path) -> tuple[int, str]:
    """Return (seq, hash) of the last committed entry."""
    try:
        head = json.loads(head_path.read_text(encoding="utf-8"))
        return int(head["seq"]), str(head["hash"])
    except FileNotFoundError:
        return 0, GENESIS_HASH
    except (ValueError, KeyError, TypeError):
        logger.error("Audit head %s is unreadable; audit verify will report it", head_path)
        return 0, GENESIS_HASH


class AuditLog:
    """Append hash-chained entries to path; keep the chain head in path.head."""

    def __init__(self, path: Path):
        self.path = path
        self.head_path = head_path_for(path)
        self.seq, self.last_hash = self._recover()

    def _recover(self) -> tuple[int, str]:
        """Repair what a crash mid-append left, under the same lock as append."""
        if not self.path.exists():
            return read_head(self.head_path)
        with self.path.open("rb+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            head = read_head(self.head_path)
            last = self._last_complete_entry(handle)
            if last is None:
                return head
            seq, digest = last.get("seq", 0), last.get("hash", GENESIS_HASH)
            if seq == head[0] + 1 and last.get("prev") == head[1]:
                # The process died between the append and the head update: the entry is whole.
                atomic_write_json(self.head_path, {"seq": seq, "hash": digest})
                return seq, digest
            return head if seq <= head[0] else (seq, digest)

    def _last_complete_entry(self, handle) -> dict | None:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - TAIL_READ_BYTES))
        tail = handle.read()
        if tail and not tail.endswith(b"\n"):
            # A torn write from a crash: the entry was never committed (the head is older).
            keep = size - (len(tail) - tail.rfind(b"\n") - 1)
            handle.truncate(keep)
            os.fsync(handle.fileno())
            logger.warning("Removed a torn audit entry at the end of %s", self.path)
            tail = tail[: tail.rfind(b"\n") + 1]
        lines = tail.splitlines()
        if not lines:
            return None
        try:
            return json.loads(lines[-1])
        except ValueError:
            return None

    def append(self, action: str, item: str | None = None, **detail) -> dict:
        """Record one action durably and return the entry.

        The file lock serializes appends from the agent and from CLI commands (review resolve),
        and the head is re-read under it, so two processes never fork the chain.
        """
        try:
            return self._append(action, item, detail)
        except OSError as error:
            raise AuditError(
                f"cannot write the audit log {self.path} ({error.strerror or error}); "
                "processing stopped so that nothing happens without a record"
            ) from None

    def _append(self, action: str, item: str | None, detail: dict) -> dict:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.seq, self.last_hash = read_head(self.head_path)
            entry = {
                "seq": self.seq + 1,
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "action": action,
                "item": item,
                "detail": json.loads(json.dumps(detail, default=str)),
                "prev": self.last_hash,
            }
            entry["hash"] = entry_hash(entry)
            line = json.dumps(entry, sort_keys=True, ensure_ascii=False, default=str) + "\n"
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
            atomic_write_json(self.head_path, {"seq": entry["seq"], "hash": entry["hash"]})
        finally:
            os.close(fd)
        self.seq, self.last_hash = entry["seq"], entry["hash"]
        return entry


def verify(path: Path) -> list[Problem]:
    """Check the whole chain and the head; return every problem found (empty: intact)."""
    head_seq, head_hash = read_head(head_path_for(path))
    problems: list[Problem] = []
    previous_hash, expected_seq, line_number = GENESIS_HASH, 1, 0
    if path.exists():
        with path.open("rb") as handle:
            for line_number, raw in enumerate(handle, start=1):
                try:
                    entry = json.loads(raw)
                    seq = entry["seq"]
                except (ValueError, KeyError, TypeError):
                    problems.append(
                        Problem(line_number, "not a valid audit entry (edited or torn)")
                    )
                    previous_hash, expected_seq = None, expected_seq + 1
                    continue
                if seq != expected_seq:
                    problems.append(
                        Problem(
                            line_number,
                            f"seq {seq} where {expected_seq} was expected "
                            f"(entries removed or reordered)",
                        )
                    )
                if previous_hash is not None and entry.get("prev") != previous_hash:
                    problems.append(
                        Problem(
                            line_number,
                            f"seq {seq}: previous-hash link broken "
                            "(an entry before it was edited or removed)",
                        )
                    )
                if entry.get("hash") != entry_hash(entry):
                    problems.append(
                        Problem(
                            line_number,
                            f"seq {seq} ({entry.get('action')}): content does not "
                            "match its hash (entry edited)",
                        )
                    )
                previous_hash, expected_seq = entry.get("hash"), seq + 1
    last_seq = expected_seq - 1
    if head_seq > last_seq:
        problems.append(
            Problem(
                line_number,
                f"log ends at seq {last_seq} but the head says {head_seq} "
                "(entries cut off the end)",
            )
        )
    elif head_seq == last_seq and previous_hash not in (None, head_hash) and head_seq:
        problems.append(Problem(line_number, f"last entry seq {last_seq} does not match the head"))
    elif head_seq < last_seq - 1 or (head_seq == last_seq - 1 and previous_hash is None):
        problems.append(
            Problem(
                line_number,
                f"log has entries up to seq {last_seq} beyond the head "
                f"(seq {head_seq}): added outside the agent",
            )
        )
    return problems
