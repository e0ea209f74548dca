"""Reading the audit log (audit.jsonl): one JSON line per action, hash-chained, in time order.

    lines_backwards(path, block=65536) -> iterator of str   the last line first, read as needed
    last_entry(path) -> dict | None     the last complete entry: the chain head
    entries_between(path, start, end)   the entries with start <= ts < end, newest first
    audit_counts(path, start, end) -> {"done": n, "review": n, "failed": n}   items moved there

The log only grows at its end and its ts order is the write order, so a reader going backwards
stops at the first entry older than the range it wants.
"""

import json
import os
from datetime import datetime
from pathlib import Path

from .layout import END_FOLDERS
from .times import parse_time

BLOCK_BYTES = 64 * 1024
MOVED = "item.moved"


def lines_backwards(path: Path, block: int = BLOCK_BYTES):
    """Yield the non-blank lines of a file from the last to the first."""
    try:
        handle = path.open("rb")
    except (FileNotFoundError, NotADirectoryError):
        return
    with handle:
        position = handle.seek(0, os.SEEK_END)
        rest = b""
        while position > 0:
            step = min(block, position)
            position -= step
            handle.seek(position)
            lines = (handle.read(step) + rest).split(b"\n")
            rest = lines.pop(0)
            for line in reversed(lines):
                if line.strip():
                    yield line.decode("utf-8", errors="replace")
        if rest.strip():
            yield rest.decode("utf-8", errors="replace")


def _entries_backwards(path: Path):
    for line in lines_backwards(path):
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash: the entry before it is the head
        if isinstance(entry, dict):
            yield entry


def last_entry(path: Path) -> dict | None:
    """Return the last complete entry of the log, or None when it holds none."""
    return next(_entries_backwards(path), None)


def entries_between(path: Path, start: datetime, end: datetime):
    """Yield the entries written in [start, end), the newest first."""
    for entry in _entries_backwards(path):
        moment = parse_time(entry.get("ts"))
        if moment is None:
            continue
        if moment < start:
            return  # everything before is older still
        if moment < end:
            yield entry


def audit_counts(path: Path, start: datetime, end: datetime) -> dict[str, int]:
    """Count the items moved to done/, review/ and failed/ in [start, end)."""
    counts = dict.fromkeys(END_FOLDERS, 0)
    for entry in entries_between(path, start, end):
        if entry.get("action") != MOVED:
            continue
        detail = entry.get("detail")
        destination = detail.get("to") if isinstance(detail, dict) else None
        if destination in counts:
            counts[destination] += 1
    return counts
