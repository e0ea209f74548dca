"""File moves and writes that a crash or a racing agent cannot tear or overwrite."""

import contextlib
import errno
import json
import os
from pathlib import Path


def atomic_write_json(path: Path, document) -> None:
    """Replace path so that a crash leaves the old or the new content, never a mix."""
    temp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def free_name(folder: Path, name: str) -> Path:
    candidate = folder / name
    stem, suffix = candidate.stem, candidate.suffix
    counter = 2
    while candidate.exists() or candidate.is_symlink():
        candidate = folder / f"{stem}-{counter}{suffix}"
        counter += 1
    return candidate


def rename_no_replace(source: Path, target: Path) -> None:
    """Rename, or raise FileExistsError: a name the agent took meanwhile is never replaced.

    The agent's reliability/files.py does the same: renameat2(RENAME_NOREPLACE), else a hard link
    then unlink (failed/ holds files, links and pipes, or a directory renamed onto a mkdir).
    """
    import ctypes  # only retry needs it: status stays fast

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        path, at_fdcwd, noreplace = ctypes.c_char_p, -100, 1
        renameat2.argtypes = [ctypes.c_int, path, ctypes.c_int, path, ctypes.c_uint]
        if renameat2(at_fdcwd, os.fsencode(source), at_fdcwd, os.fsencode(target), noreplace) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(code, os.strerror(code), str(source), None, str(target))
    if os.path.isdir(source) and not os.path.islink(source):
        os.mkdir(target, 0o700)
        try:
            os.rename(source, target)  # replaces only the empty directory just made
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise FileExistsError(errno.EEXIST, "taken meanwhile", str(target)) from error
            os.rmdir(target)
            raise
        return
    os.link(source, target, follow_symlinks=False)
    os.unlink(source)


def move_to_free_name(source: Path, folder: Path, name: str) -> Path:
    """Move source into folder as name, or name-2, -3... if taken, even taken a moment ago."""
    for _ in range(100):
        target = free_name(folder, name)
        try:
            rename_no_replace(source, target)
            return target
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free name after 100 tries", str(folder))


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
