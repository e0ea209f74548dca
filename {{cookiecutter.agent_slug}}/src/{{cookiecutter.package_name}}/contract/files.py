"""Crash-safe file operations: every write is temp + fsync + rename + directory fsync.

    atomic_write_bytes(path, data, mode=0o640, durable=True)   replace, old or new content
    atomic_write_json(path, document, durable=True, mode=0o640)
    atomic_create_bytes(path, data, mode=0o640)   once only: FileExistsError if the name is taken
    atomic_create_json(path, document)
    rename_no_replace(source, target)   FileExistsError rather than replace
    free_path(directory, name) -> Path   name, name-2, name-3... the first not taken
    move_without_overwrite(source, directory, name=None, durable=True) -> Path   move to a free name
    fsync_directory(directory)
    fsync_file(path, data_only=False, missing_ok=False)   the content of a file written unsynced
    json_bytes(document) -> bytes   the indented, sorted JSON every state file is written as
    read_json(path) -> document or None   a state file read, None when missing or damaged

Nothing is ever silently overwritten: a name already taken gets a numbered suffix. Moves never
replace a name, even one that appears between the check and the move (operator commands such as
`agentctl retry` write into the same folders): the kernel refuses the name atomically with
renameat2(RENAME_NOREPLACE), or, where a filesystem lacks it, with a hard link (a directory, which
cannot be linked, reserves its name with mkdir).
"""

import errno
import json
import os
import stat
from pathlib import Path

from .layout import TEMP_MARKER

AT_FDCWD = -100
RENAME_NOREPLACE = 1
# renameat2 answers these when the filesystem (NFS, some FUSE) or the kernel lacks the flag.
NO_RENAMEAT2 = frozenset({errno.ENOSYS, errno.EINVAL})
# A name taken again and again while we move (another writer racing us) ends in FileExistsError.
MAX_NAME_TRIES = 100


def _load_renameat2():
    """glibc's renameat2 (2.28 and later), or None where the C library has no such symbol."""
    import ctypes  # a few ms: paid by the first rename, not by every command that only reads

    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    path, directory_fd = ctypes.c_char_p, ctypes.c_int
    function.argtypes = [directory_fd, path, directory_fd, path, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_UNLOADED = object()
_renameat2 = _UNLOADED


def renameat2():
    """Return renameat2 (loaded on first use) or None; tests put a stand-in in _renameat2."""
    global _renameat2
    if _renameat2 is _UNLOADED:
        _renameat2 = _load_renameat2()
    return _renameat2


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in directory durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path | str, *, data_only: bool = False, missing_ok: bool = False) -> None:
    """Make the content of the file at path durable (it was written without a sync).

    data_only: fdatasync, for a log appended to (its size is data; its times are not needed).
    missing_ok: a file that is not there has nothing to sync.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    try:
        if data_only:
            os.fdatasync(fd)
        else:
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o640, durable: bool = True) -> None:
    """Replace path with data so that a crash leaves the old or the new content, never a mix.

    durable=False skips the fsyncs: still atomic against a crash of the process, for files that
    are rewritten every few seconds and only describe the present (the heartbeat).
    """
    temp = write_temp(path, data, mode, durable)
    try:
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_directory(path.parent)


def write_temp(path: Path, data: bytes, mode: int, durable: bool) -> Path:
    """Write data to a hidden temp file beside path (fsynced if durable); return the temp file."""
    temp = path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def atomic_write_json(path: Path, document, durable: bool = True, mode: int = 0o640) -> None:
    """Write document as indented JSON, atomically (mode applies to a file it creates)."""
    atomic_write_bytes(path, json_bytes(document), mode=mode, durable=durable)


def atomic_create_bytes(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Create path with data, complete or not at all; raise FileExistsError if the name is taken.

    For files written exactly once (a result): an existing file is never replaced, not even one
    that appears while the data is being written. A crash leaves no file or the whole file.
    """
    temp = write_temp(path, data, mode, durable=True)
    try:
        rename_no_replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)  # gone after a move; left behind by a failure or a link
    fsync_directory(path.parent)


def atomic_create_json(path: Path, document) -> None:
    """Create path holding document as indented JSON, once: FileExistsError if it exists."""
    atomic_create_bytes(path, json_bytes(document))


def json_bytes(document) -> bytes:
    text = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return (text + "\n").encode("utf-8")


def rename_no_replace(source: Path, target: Path) -> None:
    """Rename source to target, or raise FileExistsError: an existing target is never replaced.

    renameat2(RENAME_NOREPLACE) where the kernel and filesystem have it; else a hard link, which
    fails on an existing name, then unlink of the source (a crash in between leaves the file under
    both names, never under none); a directory, which cannot be linked, reserves the target with
    mkdir and is renamed onto that empty reservation: rename(2) replaces only an empty directory,
    and fails when another writer has put anything there meanwhile.
    """
    function = renameat2()
    if function is not None:
        import ctypes  # loaded by renameat2() already

        result = function(
            AT_FDCWD, os.fsencode(source), AT_FDCWD, os.fsencode(target), RENAME_NOREPLACE
        )
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in NO_RENAMEAT2:
            raise OSError(code, os.strerror(code), str(source), None, str(target))
    if stat.S_ISDIR(os.lstat(source).st_mode):
        os.mkdir(target, 0o700)
        try:
            os.rename(source, target)
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise FileExistsError(errno.EEXIST, "taken meanwhile", str(target)) from error
            os.rmdir(target)  # still our empty reservation
            raise
        return
    os.link(source, target, follow_symlinks=False)
    os.unlink(source)


def free_path(directory: Path, name: str) -> Path:
    """Return directory/name, or directory/name-2, -3... if taken: never overwrite."""
    candidate = directory / name
    stem, suffix = candidate.stem, candidate.suffix
    counter = 2
    while os.path.lexists(candidate):  # a name is taken by a dangling link too
        candidate = directory / f"{stem}-{counter}{suffix}"
        counter += 1
    return candidate


def move_without_overwrite(
    source: Path, directory: Path, name: str | None = None, durable: bool = True
) -> Path:
    """Move source into directory under a free name and make the move durable.

    The move never replaces anything: a name taken between the check and the move (an operator
    command writing into the same folder) makes it take the next free name (name-2, name-3...).
    durable=False leaves both directories' fsyncs to the caller (who fsyncs them with a later step).
    """
    for _ in range(MAX_NAME_TRIES):
        target = free_path(directory, name or source.name)
        try:
            rename_no_replace(source, target)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no free name after many tries", str(directory))
    if not durable:
        return target
    fsync_directory(directory)
    if source.parent != directory:
        fsync_directory(source.parent)
    return target


def read_json(path: Path):
    """Return the JSON document in path, or None when it is missing, unreadable or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
