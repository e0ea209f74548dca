"""Crash-safe file operations: every write is temp + fsync + rename + directory fsync.

Nothing is ever silently overwritten: a name already taken gets a numbered suffix.
"""

import json
import os
import re
import unicodedata
from pathlib import Path

MAX_NAME_BYTES = 120
TEMP_MARKER = ".tmp"
MAX_SUFFIX_CHARS = 10  # the dot included
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in directory durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o640, durable: bool = True) -> None:
    """Replace path with data so that a crash leaves the old or the new content, never a mix.

    durable=False skips the fsyncs: still atomic against a crash of the process, for files that
    are rewritten every few seconds and only describe the present (the heartbeat).
    """
    temp = path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_directory(path.parent)


def atomic_write_json(path: Path, document, durable: bool = True) -> None:
    """Write document as indented JSON, atomically."""
    atomic_write_bytes(path, json_bytes(document), durable=durable)


def json_bytes(document) -> bytes:
    text = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return (text + "\n").encode("utf-8")


def atomic_create_json(path: Path, document, mode: int = 0o640) -> None:
    """Create path with document, whole and durable, or raise FileExistsError: never replace.

    The temp file is hard-linked into place, which fails when the name is taken, where a rename
    would silently replace it.
    """
    temp = path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(json_bytes(document))
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temp, path, follow_symlinks=False)
    finally:
        temp.unlink(missing_ok=True)
    fsync_directory(path.parent)


def safe_name(name: str) -> str:
    """Turn any file name into one that is harmless in a shell, a URL and a log line."""
    # Fold first (NFKD may turn one character into dots), then split at the last dot, even for a
    # name that is all extension: "名前.pdf" folds to ".pdf" and must stay a PDF.
    base = Path(name).name
    stem, dot, extension = ascii_fold(base).rpartition(".")
    if not dot or (not stem and base.startswith(".")):  # no extension, or a dotfile: ".profile"
        stem, extension = extension, ""
    # Cut before stripping, so that a second pass finds nothing left to cut or strip.
    extension = SAFE_NAME.sub("_", extension)[: MAX_SUFFIX_CHARS - 1].strip("._-")
    suffix = f".{extension}" if extension else ""
    stem = SAFE_NAME.sub("_", stem)[: MAX_NAME_BYTES - len(suffix)].strip("._-")
    return (stem or "item") + suffix


def ascii_fold(text: str) -> str:
    """Drop accents and every non-ASCII character: 'résumé' -> 'resume'."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def free_path(directory: Path, name: str) -> Path:
    """Return directory/name, or directory/name-2, -3... if taken: never overwrite."""
    candidate = directory / name
    stem, suffix = candidate.stem, candidate.suffix
    counter = 2
    while candidate.exists() or candidate.is_symlink():
        candidate = directory / f"{stem}-{counter}{suffix}"
        counter += 1
    return candidate


def move_without_overwrite(source: Path, directory: Path, name: str | None = None) -> Path:
    """Move source into directory under a free name and make the move durable.

    One agent process owns its state directory (see inbox.lock), so nobody can take the free
    name between the check and the rename.
    """
    target = free_path(directory, name or source.name)
    source.rename(target)
    fsync_directory(directory)
    if source.parent != directory:
        fsync_directory(source.parent)
    return target
