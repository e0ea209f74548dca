"""Safe names for the items the agent takes in, and syncs issued together.

The crash-safe file operations themselves are in contract.files.
"""

import re
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..contract.files import fsync_directory

MAX_NAME_BYTES = 120
MAX_SUFFIX_CHARS = 10  # the dot included
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


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


# Syncs of different files issued at once: the device flushes they wait for are merged, so four
# cost about one. Each still completes before the caller goes on: no guarantee is weakened.
SYNC_THREADS = 4
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _sync_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="sync")
        return _pool


def sync_together(first: Callable[[], object], *others: Callable[[], object]) -> None:
    """Run first here and the others (fsyncs of other files) meanwhile; return when all are done.

    An error of first is raised as it is (an AuditError keeps the OSError behind it); else the
    first error of the others, with what caused it, once every one has finished.
    """
    futures = [_sync_pool().submit(_caught, sync) for sync in others]
    try:
        first()
    finally:
        caught = [future.result() for future in futures]
    for error, cause in filter(None, caught):
        # Raised here, maybe while another error is handled, which would replace its context.
        raise error from cause


def _caught(sync: Callable[[], object]) -> tuple[Exception, BaseException | None] | None:
    """Run sync; return its error with what caused it (read here, before a re-raise changes it)."""
    try:
        sync()
    except Exception as error:  # noqa: BLE001 - raised by sync_together, once all are done
        return error, error.__cause__ or error.__context__
    return None


def fsync_directories(directories) -> None:
    """Make renames and new files in each directory durable, the fsyncs issued together."""
    syncs = [lambda folder=folder: fsync_directory(folder) for folder in directories]
    if syncs:
        sync_together(*syncs)
