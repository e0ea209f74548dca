"""The audit log: one append-only JSON line per action that touches the world, hash-chained.

Each entry carries the hash of the previous one, so editing or removing an entry breaks the chain.
The chain's head is the log's own last line: an append costs one write and one fdatasync. audit.head
is a checkpoint of the head (sequence number and hash), written every CHECKPOINT_ENTRIES entries and
whenever the agent idles or stops, so cutting entries off the end is detected back to the last
checkpoint. A failed append raises: the agent must not act without a record.

An item's entries that no effect depends on yet are noted (note(): written at once, so another
process and a killed one see them, but not yet synced); the next sync() or append() makes them and
itself durable with one fdatasync. The item runner syncs before every move of the input and the
effects append before they act, so a power cut can lose only noted entries of an item whose next
step (its move, its result, its message) had not happened: the log then ends at an earlier entry,
the chain verifies, and the item, not finished, is taken again and noted again. A kill -9 loses
nothing written. audit.head is never written ahead of what is synced.
"""

import errno
import fcntl
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from ..contract.files import atomic_write_json
from ..reliability.errors import AuditError
from .chain import (
    GENESIS_HASH,
    as_read_back,
    entry_hash,
    head_path_for,
    is_torn_fragment,
    read_head,
    sealed_line,
    verify,
)

# The chain's format is chain.py's; what callers read from here too.
__all__ = [
    "GENESIS_HASH",
    "AuditError",
    "AuditLog",
    "entry_hash",
    "head_path_for",
    "is_torn_fragment",
    "read_head",
    "verify",
]

logger = logging.getLogger(__name__)

TAIL_READ_BYTES = 64 * 1024
# audit.head is rewritten (write, fsync, rename, fsync of the directory) at most this often while
# entries stream in; an idle or stopping agent checkpoints what is left.
CHECKPOINT_ENTRIES = 64


class AuditLog:
    """Append hash-chained entries to path; checkpoint the chain head in path.head."""

    def __init__(self, path: Path):
        self.path = path
        self.head_path = head_path_for(path)
        self.checkpointed = read_head(self.head_path)[0]
        # The size of the log after this process's last read or append: when it is unchanged under
        # the lock, no other process appended and the head in memory is the log's last line.
        self.size = -1
        self.fd: int | None = None
        # True while entries written by note() wait for their fdatasync.
        self.unsynced = False
        self.seq, self.last_hash = read_head(self.head_path)
        self._recover()

    def _recover(self) -> None:
        """Repair what a crash mid-append left, under the lock the writers take."""
        if not self.path.exists():
            return
        try:
            self._lock()  # reads the head from the log's last line, cutting a torn one off
        except OSError as error:
            raise AuditError(
                f"cannot read the audit log {self.path} ({error.strerror or error}); "
                "check its permissions and the disk"
            ) from None
        self._unlock()

    def _head_from_log(self, handle) -> tuple[int, str]:
        """Return (seq, hash) of the log's last whole entry; the checkpoint when it has none."""
        last = self._last_complete_entry(handle)
        self.size = handle.seek(0, os.SEEK_END)
        if last is None:
            return read_head(self.head_path)
        return int(last.get("seq", 0)), str(last.get("hash", GENESIS_HASH))

    def _last_complete_entry(self, handle) -> dict | None:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - TAIL_READ_BYTES))
        tail = handle.read(TAIL_READ_BYTES)  # bounded: the log may be a device (/dev/full)
        if tail and not tail.endswith(b"\n"):
            # A torn write from a crash: the entry was never committed (nothing acted on it). The
            # log is append-only (chattr +a where the file system allows it), so the fragment is
            # closed with a newline rather than cut off: it takes no seq, and verify() passes
            # over it as long as the chain goes on unbroken after it.
            handle.write(b"\n")
            handle.flush()
            os.fdatasync(handle.fileno())
            logger.warning("Closed a torn audit entry at the end of %s", self.path)
        for line in reversed(tail.splitlines()):
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn entry, closed by an earlier recovery
            return entry if isinstance(entry, dict) else None
        return None

    def append(self, action: str, item: str | None = None, **detail) -> dict:
        """Record one action durably (with the entries noted before it) and return the entry.

        The file lock serializes appends from the agent and from CLI commands (review resolve);
        a process that finds the log grown under the lock reads the head from its last line, so
        two processes never fork the chain.
        """
        return self._guarded(action, item, detail, durable=True)

    def note(self, action: str, item: str | None = None, **detail) -> dict:
        """Write one entry now, its fdatasync left to the next sync() or append().

        For the entries of an item that no effect depends on until its next step, which syncs.
        """
        return self._guarded(action, item, detail, durable=False)

    def sync(self) -> None:
        """Make the noted entries durable (nothing to do when there are none)."""
        if not self.unsynced:
            return
        try:
            self._sync()
        except OSError as error:
            self.close()
            raise AuditError(
                f"cannot write the audit log {self.path} ({error.strerror or error}); "
                "processing stopped so that nothing happens without a record"
            ) from None

    def _sync(self) -> None:
        if self.fd is not None and self.unsynced:
            os.fdatasync(self.fd)
        self.unsynced = False

    def _guarded(self, action: str, item: str | None, detail: dict, durable: bool) -> dict:
        try:
            return self._append(action, item, detail, durable)
        except OSError as error:
            raise AuditError(
                f"cannot write the audit log {self.path} ({error.strerror or error}); "
                "processing stopped so that nothing happens without a record"
            ) from None

    def _open(self) -> int:
        """Return the log's descriptor, opened once and reopened if the file was replaced."""
        if self.fd is not None:
            try:
                if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                    return self.fd
            except FileNotFoundError:
                pass
            self.close()
        self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.size = -1
        return self.fd

    def close(self) -> None:
        """Sync what was noted (when the disk lets us) and close the log."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                if self.unsynced:
                    os.fdatasync(fd)
            except OSError as error:
                logger.warning("Cannot sync the audit log %s: %s", self.path, error)
            finally:
                self.unsynced = False
                os.close(fd)

    def _append(self, action: str, item: str | None, detail: dict, durable: bool) -> dict:
        fd = self._lock()
        try:
            entry = {
                "seq": self.seq + 1,
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "action": action,
                "item": item,
                "detail": as_read_back(detail),
                "prev": self.last_hash,
            }
            digest, data = sealed_line(entry)
            entry["hash"] = digest
            written = os.write(fd, data)
            if written != len(data):
                # A torn line: the next lock finds the size changed and cuts it off.
                raise OSError(
                    errno.ENOSPC, f"audit entry cut short ({written} of {len(data)} bytes)"
                )
            self.unsynced = True
            if durable:
                self._sync()
            self.size += len(data)
            self.seq, self.last_hash = entry["seq"], entry["hash"]
            if self.seq - self.checkpointed >= CHECKPOINT_ENTRIES:
                self._checkpoint()
        except OSError:
            self.close()  # reopened by the next append, which re-reads the head from the log
            raise
        finally:
            self._unlock()
        return entry

    def _lock(self) -> int:
        """Lock the log and make the head in memory its last line; return the descriptor."""
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_size != self.size:
                # Another process appended (or a crash left a torn line): read the head anew.
                with os.fdopen(os.dup(fd), "rb+") as handle:
                    self.seq, self.last_hash = self._head_from_log(handle)
        except OSError:
            self.close()
            raise
        return fd

    def _unlock(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def checkpoint(self) -> None:
        """Write the chain head to audit.head if entries came since the last checkpoint.

        Called when the agent idles and when it stops; a failure is logged, not raised: the
        entries themselves are durable, only the check for cut-off entries lags.
        """
        if not self.path.exists():
            return
        try:
            self._lock()
            try:
                if self.seq > self.checkpointed:
                    self._checkpoint()
            finally:
                self._unlock()
        except OSError as error:
            logger.warning("Cannot checkpoint the audit head %s: %s", self.head_path, error)

    def _checkpoint(self) -> None:
        """Write the head; the caller holds the log's lock."""
        self._sync()  # never a head ahead of the entries on disk
        if read_head(self.head_path)[0] >= self.seq:
            # Another process (a CLI command) checkpointed a later head already.
            self.checkpointed = self.seq
            return
        atomic_write_json(self.head_path, {"seq": self.seq, "hash": self.last_hash})
        self.checkpointed = self.seq
