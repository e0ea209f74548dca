"""The crash-safe inbox: incoming/ -> processing/ -> done/ | failed/ | review/.

A file is claimed by an atomic rename, so after any crash it is in exactly one folder. Files left in
processing/ by a crash are recovered on start. Every failed item gets a sidecar saying why.
"""

import contextlib
import errno
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..contract.files import (
    atomic_write_json,
    free_path,
    fsync_directory,
    fsync_file,
    json_bytes,
    move_without_overwrite,
    write_temp,
)
from ..contract.layout import (
    LOCK_FILE,
    STATE_FOLDERS,
    TEMP_MARKER,
    sidecar_path,
)
from .files import fsync_directories, safe_name, sync_together
from .state import AlreadyRunning, create_state_dir

logger = logging.getLogger(__name__)

# A file younger than this may still be being uploaded (scp, rsync write in place).
SETTLE_SECONDS = 1.0
# How often `once` looks again at files it waits for while they settle.
SETTLE_POLL_SECONDS = 0.1


class Inbox:
    """The folders of one agent's state directory and the moves between them."""

    def __init__(self, root: Path):
        self.root = root
        create_state_dir(root)
        self.incoming = root / "incoming"
        self.processing = root / "processing"
        self.outbox = root / "outbox"
        self.archive = root / "archive"
        self._lock_fd: int | None = None
        # Folders changed by the claim and the archived original, not fsynced yet: nothing depends
        # on those changes until the input leaves processing/, whose move fsyncs them too. A power
        # cut before that leaves the input in incoming/ or processing/: taken again either way.
        self._unsynced: set[Path] = set()
        # True after a move made with durable=False: the folders above are owed a sync, which the
        # next settle issues together with its own (the item's next effect waits for it).
        self._owed = False
        # Archived originals written but not synced yet (temp file -> name), see keep_original.
        self._archiving: dict[Path, Path] = {}

    def lock(self) -> None:
        """Take the state directory for this process, or raise AlreadyRunning."""
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise AlreadyRunning(
                    f"another agent process (pid {owner}) is working on {self.root}; "
                    "stop it first (systemctl stop ...) or wait for it to finish"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def waiting(self) -> list[Path]:
        """Return the files waiting in incoming/, oldest first, skipping uploads in progress."""
        now = time.time()
        entries = []
        with os.scandir(self.incoming) as scan:
            for entry in scan:
                if entry.name.startswith("."):
                    continue  # hidden files are uploads in progress by convention
                mtime = entry.stat(follow_symlinks=False).st_mtime
                if now - mtime >= SETTLE_SECONDS:
                    entries.append((mtime, entry.name))
        return [self.incoming / name for _, name in sorted(entries)]

    def wait_for_settling(self, wait: Callable[[float], bool]) -> list[str]:
        """Wait until the files in incoming/ that are only too young to be taken have settled.

        For `once`, which processes what is waiting now: a file copied in just before is waited
        for, not skipped. A file that changes meanwhile is still being written and is left for the
        next run, as is one still too young when the wait ends (at most SETTLE_SECONDS and a poll
        from now: only a modification time in the future lasts longer). wait(seconds) sleeps and
        returns True to stop waiting at once (a stop request). Return the names left.
        """
        young = self._young_files()
        changed: list[str] = []
        deadline = time.monotonic() + SETTLE_SECONDS + SETTLE_POLL_SECONDS
        while young and time.monotonic() < deadline and not wait(SETTLE_POLL_SECONDS):
            self._drop_settled(young, changed)
        self._drop_settled(young, changed)
        for name in changed:
            logger.info("Left %s in incoming/: it is still being written", name)
        for name in young:
            logger.info("Left %s in incoming/: it has not settled yet", name)
        return sorted([*changed, *young])

    def _young_files(self) -> dict[str, tuple[int, int, int]]:
        """Return the visible files in incoming/ too young to be taken, with their signatures."""
        now = time.time()
        young = {}
        with os.scandir(self.incoming) as scan:
            for entry in scan:
                if entry.name.startswith("."):
                    continue
                info = entry.stat(follow_symlinks=False)
                if now - info.st_mtime < SETTLE_SECONDS:
                    young[entry.name] = content_signature(info)
        return young

    def _drop_settled(self, young: dict[str, tuple[int, int, int]], changed: list[str]) -> None:
        """Move the files that changed from young to changed; drop those settled or gone."""
        now = time.time()
        for name, seen in list(young.items()):
            try:
                info = (self.incoming / name).lstat()
            except FileNotFoundError:
                del young[name]
                continue
            if content_signature(info) != seen:
                del young[name]
                changed.append(name)
            elif now - info.st_mtime >= SETTLE_SECONDS:
                del young[name]

    def oldest_waiting_seconds(self) -> tuple[int, float]:
        """Return how many files wait in incoming/ and the age in seconds of the oldest."""
        ages = [
            time.time() - p.lstat().st_mtime
            for p in self.incoming.iterdir()
            if not p.name.startswith(".")
        ]
        return len(ages), max(ages, default=0.0)

    def claim(self, path: Path) -> Path:
        """Move a waiting file into processing/ under a safe name (durable with its next move)."""
        target = move_without_overwrite(path, self.processing, safe_name(path.name), durable=False)
        self._unsynced.update((path.parent, self.processing))
        return target

    def settle(self, *syncs, folders: bool = True) -> None:
        """Sync what the next step depends on, together with syncs (the audit log's, ...).

        The archived originals are synced, then named: a crash before leaves only a temp file
        (removed on start), and the item, taken again, archives its original again. The folders
        of a move made with durable=False are synced here too, unless folders is False (another
        move, which does not depend on them).
        """
        archiving, self._archiving = self._archiving, {}
        owed = sorted(self._unsynced) if self._owed and folders else []
        try:
            archived = [lambda temp=temp: fsync_file(temp) for temp in archiving]
            directories = [lambda folder=folder: fsync_directory(folder) for folder in owed]
            if syncs or archived or directories:
                sync_together(*syncs, *archived, *directories)
            for temp, target in archiving.items():
                temp.replace(target)
        except BaseException:
            for temp in archiving:
                temp.unlink(missing_ok=True)
            raise
        if owed:
            self._unsynced.difference_update(owed)
            self._owed = False
        if archiving:
            self._unsynced.add(self.archive)

    def _move(self, path: Path, directory: Path, name: str | None, durable: bool = True) -> Path:
        """Move path into directory durably, with the changes left unsynced before it.

        durable=False leaves the folders' fsyncs to the next settle, which the caller issues
        before anything acts on the move (done: with the result's syncs, before it is named).
        """
        self.settle(folders=False)
        target = move_without_overwrite(path, directory, name, durable=False)
        self._unsynced.update((directory, path.parent))
        if durable:
            fsync_directories(dict.fromkeys((directory, path.parent, *sorted(self._unsynced))))
            self._unsynced.clear()
            self._owed = False
        else:
            self._owed = True
        return target

    def give_back(self, path: Path, name: str | None = None) -> Path:
        """Return a claimed file to incoming/, under name if given (it will be tried again)."""
        return self._move(path, self.incoming, name)

    def give_back_last(self, path: Path) -> Path:
        """Return a claimed file to the end of the queue, ready to be taken at once.

        Dated just settled, it comes after every file waiting now: an item that was in hand when the
        process died is not the first thing the next start takes.
        """
        target = self.give_back(path)
        settled = time.time() - SETTLE_SECONDS
        os.utime(target, (settled, settled), follow_symlinks=False)
        return target

    def place(self, path: Path, folder: str, why: dict | None = None, durable: bool = True) -> Path:
        """Move a file to done/, failed/ or review/, with a sidecar explaining why if given.

        The sidecar is written first: when that write fails (a full disk), the file has not moved;
        after a crash in between, placing the file again rewrites the same sidecar. durable=False:
        the move is made durable by the next settle (see _move).
        """
        target = free_path(self.root / folder, path.name)
        if why is not None:
            sidecar = {"file": target.name, "time": datetime.now(UTC).isoformat(timespec="seconds")}
            atomic_write_json(sidecar_path(target), {**sidecar, **why})
        moved = self._move(path, self.root / folder, target.name, durable)
        if why is not None and moved != target:
            # Someone took the name in between (an operator command): the file went to the next
            # free one; its sidecar follows it, and the one written for the taken name goes.
            written = {**sidecar, **why}
            planned = sidecar_path(target)
            renamed = {**written, "file": moved.name}
            atomic_write_json(sidecar_path(moved), renamed)
            with contextlib.suppress(OSError, ValueError):  # gone, or replaced by another writer's
                if json.loads(planned.read_bytes()) == json.loads(json_bytes(written)):
                    planned.unlink()
        return moved

    def keep_original(self, item_id: str, suffix: str, data: bytes) -> Path:
        """Keep the untouched original before any step transforms it (once per content)."""
        target = self.archive / f"{item_id}{suffix.lower()[:10]}"
        if not target.exists() and target not in self._archiving.values():
            # Written now; synced, named and made durable with the input's next move (settle),
            # before which a power cut only means the item is taken again.
            self._archiving[write_temp(target, data, 0o640, durable=False)] = target
        return target

    def drop_unsynced_originals(self) -> None:
        """Forget the archived originals not synced yet, deleting their temp files.

        For an item given back after a write failed (a full disk): its original is archived again
        when it is taken again, and syncing it now would only meet the full disk once more.
        """
        archiving, self._archiving = self._archiving, {}
        for temp in archiving:
            temp.unlink(missing_ok=True)

    def remove_temp_files(self) -> list[Path]:
        """Delete the temp files of atomic writes a crash interrupted (never renamed into place)."""
        removed = []
        for folder in (self.root, *(self.root / f for f in STATE_FOLDERS)):
            for temp in folder.glob(f".*{TEMP_MARKER}*"):
                temp.unlink(missing_ok=True)
                removed.append(temp)
        return removed

    def leftovers(self) -> list[Path]:
        """Return the files a crash left in processing/."""
        return sorted(p for p in self.processing.iterdir() if not p.name.startswith("."))


def content_signature(info: os.stat_result) -> tuple[int, int, int]:
    """Return what changes when a file is written to or replaced: inode, size, modification time."""
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """Read a claimed file, refusing links, special files and oversized files.

    Raises ValueError with the reason, which becomes the failed/ sidecar's text.
    """
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise ValueError("the file is a symbolic link; only regular files are accepted")
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("not a regular file (a folder, device or pipe)")
    if info.st_nlink > 1:
        raise ValueError("the file is hard-linked elsewhere; copy it into the inbox instead")
    if info.st_size > max_bytes:
        raise ValueError(
            f"the file is {info.st_size} bytes; the limit is {max_bytes} (MAX_FILE_MB)"
        )
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"the file grew beyond the limit of {max_bytes} bytes while being read")
    return data
