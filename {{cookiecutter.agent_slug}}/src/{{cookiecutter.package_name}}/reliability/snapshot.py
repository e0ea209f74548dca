"""A consistent copy of the state directory while the agent runs: `snapshot --into DIR`.

    ItemGate(state)           the agent holds it while it works on one item (or between items)
    take_snapshot(state, into, documents, wait_seconds) -> dict   the snapshot's summary

The agent takes the gate (an flock on items.lock) around each item and around the work between
items; a snapshot takes the same gate, so it waits for the item in hand to end and the agent waits
for the snapshot before its next item. flock is not fair: an agent that takes its next item at once
would get the gate back before a waiting snapshot, until its queue is empty. So a snapshot first
holds the turnstile (an flock on snapshot.lock) and the agent passes the turnstile before each
time it takes the gate: while a snapshot waits, the agent stops after the item in hand.

Inside the gate the snapshot does only what is quick: the SQLite database through its online
backup API, hard links to the files of the folders (an item never changes once it is in a folder:
it is moved, not rewritten), the sizes of the append-only files (audit log, today's and
yesterday's cost records) and a copy of the small ones (heartbeat, audit head). After the gate it
copies the append-only files up to those sizes, and hard-links the cost records of earlier days,
which nothing appends to any more (a record goes to the file of the day it is written). DIR/current
then holds the state as it was at one instant, between two items; DIR/snapshot.json says when, and
the audit chain's head then.

The links keep a night's backup short: restic finds a linked file unchanged by its size, mtime and
inode (pillars-backup runs it with --ignore-ctime, since each new link changes the file's ctime),
so an unchanged year of cost records and documents is not read again.
"""

import errno
import fcntl
import json
import os
import shutil
import sqlite3
import time
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ..contract.layout import (
    ARCHIVE,
    AUDIT_FILE,
    AUDIT_HEAD_SUFFIX,
    COST_FILE_SUFFIX,
    COSTS,
    DATABASE_FILE,
    DONE,
    FAILED,
    GATE_FILE,
    HEARTBEAT_FILE,
    OUTBOX,
    STATE_FOLDERS,
    TURNSTILE_FILE,
)

SUMMARY_FILE = "snapshot.json"
CURRENT = "current"
NEXT = ".next"
PREVIOUS = ".previous"
# The folders whose documents may be left out of a snapshot (they can be large); the others are
# always in it: without them the database would name items that are nowhere.
DOCUMENT_FOLDERS = (DONE, FAILED, ARCHIVE)
GENESIS_HASH = "0" * 64
# Folders whose files the agent may read again as input (incoming, a retried failed item, a
# decided review): their files are copied, since the agent refuses a hard-linked input. The others
# (done, outbox, archive) are never read again: hard links, whatever their size.
LINKED_FOLDERS = (DONE, OUTBOX, ARCHIVE)
POLL_SECONDS = 0.05


class SnapshotError(Exception):
    """The snapshot cannot be taken; the message says why and how to fix it."""


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)


class ItemGate:
    """The flock the agent holds while it works, and a snapshot while it copies."""

    def __init__(self, state: Path):
        self.path = state / GATE_FILE
        self.turnstile_path = state / TURNSTILE_FILE
        self.fd: int | None = None
        self.turnstile_fd: int | None = None

    @contextmanager
    def hold(self):
        if self.fd is None:
            self.fd = _open_lock(self.path)
            self.turnstile_fd = _open_lock(self.turnstile_path)
        fcntl.flock(self.turnstile_fd, fcntl.LOCK_SH)  # a waiting snapshot goes first
        fcntl.flock(self.turnstile_fd, fcntl.LOCK_UN)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fds, self.fd, self.turnstile_fd = (self.fd, self.turnstile_fd), None, None
        for fd in fds:
            if fd is not None:
                os.close(fd)


def _lock_within(fd: int, deadline: float) -> bool:
    """Take an exclusive flock on fd, polling until deadline; say whether it was taken."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)


@contextmanager
def _gate_within(state: Path, wait_seconds: float):
    """Hold the agent's gate, waiting at most wait_seconds for the item in hand to end."""
    fds = []
    try:
        for name in (TURNSTILE_FILE, GATE_FILE):
            try:
                fds.append(_open_lock(state / name))
            except OSError as error:
                raise SnapshotError(
                    f"cannot open {state / name}: {error.strerror}; run the snapshot as the "
                    "agent's user (or root)"
                ) from None
        deadline = time.monotonic() + wait_seconds
        # The turnstile first: from then on the agent cannot take its next item before us.
        if not all(_lock_within(fd, deadline) for fd in fds):
            raise SnapshotError(
                f"the agent kept working on one item for more than {wait_seconds:g} s; "
                "try again later, or give --wait more seconds"
            )
        yield
    finally:
        for fd in fds:
            os.close(fd)


def _link_tree(source: Path | str, target: Path | str, link: bool = True) -> int:
    """Hard-link (or copy) every file under source into target; count them.

    Links fall back to copies across file systems. Paths are strings inside: a thousand
    documents are a thousand links, and Path objects would cost more than the links.
    """
    count = 0
    try:
        entries = list(os.scandir(source))
    except FileNotFoundError:
        return 0
    os.makedirs(target, mode=0o750, exist_ok=True)
    for entry in entries:
        if entry.name.startswith("."):
            continue  # the hidden temp files of atomic writes, half made
        destination = os.path.join(target, entry.name)
        if entry.is_dir(follow_symlinks=False):
            count += _link_tree(entry.path, destination, link)
        elif entry.is_file(follow_symlinks=False):
            try:
                if link:
                    _link_file(entry.path, destination)
                else:
                    shutil.copy2(entry.path, destination)
            except FileNotFoundError:
                continue
            count += 1
    return count


def _link_file(source: Path | str, target: Path | str) -> None:
    """Hard-link source to target, or copy it across file systems."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM):
            raise
        shutil.copy2(source, target)


def _settled_cost_file(name: str, before: date) -> bool:
    """Tell whether a file of costs/ holds the records of a day before `before`."""
    if not name.endswith(COST_FILE_SUFFIX):
        return False
    try:
        return date.fromisoformat(name.removesuffix(COST_FILE_SUFFIX)) < before
    except ValueError:
        return False


def _copy_prefix(source: Path, target: Path, size: int) -> None:
    """Copy the first size bytes of an append-only file: what it held inside the gate."""
    with source.open("rb") as reader, target.open("wb") as writer:
        left = size
        while left > 0:
            block = reader.read(min(left, 1 << 20))
            if not block:
                break
            writer.write(block)
            left -= len(block)


def _audit_head(path: Path) -> tuple[int, str]:
    """Return the sequence and hash of the last complete entry of an audit log copy."""
    from ..contract.audit import last_entry

    entry = last_entry(path)
    if entry is None:
        return 0, GENESIS_HASH
    return int(entry.get("seq", 0)), str(entry.get("hash", ""))


def _backup_database(source: Path, target: Path) -> None:
    """Copy the live database through SQLite's online backup API, in one step."""
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer)
        finally:
            writer.close()
    finally:
        reader.close()


def _remove(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def take_snapshot(
    state: Path, into: Path, documents: tuple[str, ...], wait_seconds: float, agent: str
) -> dict:
    """Write a consistent copy of state to into/current and its summary to into/snapshot.json."""
    unknown = sorted(set(documents) - set(DOCUMENT_FOLDERS))
    if unknown:
        raise SnapshotError(
            f"cannot choose {', '.join(unknown)} for --documents: only "
            f"{', '.join(DOCUMENT_FOLDERS)} may be left out or kept"
        )
    if not into.is_dir():
        raise SnapshotError(
            f"cannot write a snapshot into {into}: it is not a directory; create it first"
        )
    staging = into / NEXT
    _remove(staging)
    try:
        staging.mkdir(mode=0o750)
    except OSError as error:
        raise SnapshotError(f"cannot write into {into}: {error.strerror}") from None
    folders = [name for name in STATE_FOLDERS if name not in DOCUMENT_FOLDERS or name in documents]
    audit = state / AUDIT_FILE
    cost_dir = state / COSTS
    started = time.monotonic()
    with _gate_within(state, wait_seconds):
        gated = time.monotonic()
        taken_at = datetime.now(UTC)
        _backup_database(state / DATABASE_FILE, staging / DATABASE_FILE)
        files = sum(
            _link_tree(state / name, staging / name, name in LINKED_FOLDERS) for name in folders
        )
        audit_size = 0
        if audit.exists():
            with audit.open("rb") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH)  # no append half-way
                audit_size = os.fstat(handle.fileno()).st_size
                head = audit.with_name(AUDIT_FILE + AUDIT_HEAD_SUFFIX)
                if head.exists():
                    shutil.copy2(head, staging / head.name)
        # Today's file is appended to, and yesterday's may get a record written at midnight.
        settled_before = taken_at.date() - timedelta(days=1)
        cost_sizes, settled = {}, []
        for entry in os.scandir(cost_dir) if cost_dir.is_dir() else ():
            if entry.is_file() and not entry.name.startswith("."):
                if _settled_cost_file(entry.name, settled_before):
                    settled.append(entry.name)
                else:
                    cost_sizes[entry.name] = entry.stat().st_size
        if (state / HEARTBEAT_FILE).exists():
            shutil.copy2(state / HEARTBEAT_FILE, staging / HEARTBEAT_FILE)
        paused = time.monotonic() - gated
    if audit.exists():
        _copy_prefix(audit, staging / AUDIT_FILE, audit_size)
    (staging / COSTS).mkdir(mode=0o750, exist_ok=True)
    for name, size in cost_sizes.items():
        _copy_prefix(cost_dir / name, staging / COSTS / name, size)
    for name in settled:
        with suppress(FileNotFoundError):  # deleted since (the operator's cleanup)
            _link_file(cost_dir / name, staging / COSTS / name)
    sequence, chain_hash = _audit_head(staging / AUDIT_FILE)
    summary = {
        "format": "pillars-snapshot/1",
        "agent": agent,
        "taken_at": taken_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "audit": {"sequence": sequence, "hash": chain_hash},
        "files": files + len(cost_sizes) + len(settled),
        "documents": sorted(documents),
        "waited_seconds": round(gated - started, 3),
        "paused_seconds": round(paused, 3),
    }
    current, previous = into / CURRENT, into / PREVIOUS
    _remove(previous)
    if current.exists():
        current.rename(previous)
    staging.rename(current)
    _remove(previous)
    temporary = into / f".{SUMMARY_FILE}.tmp"
    temporary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    temporary.replace(into / SUMMARY_FILE)
    return summary
