"""What the fault tests look at after the agent ran: where each input ended, and what it wrote."""

import hashlib
import json
import os
import re
import sqlite3
import stat
from collections import Counter
from pathlib import Path

from {{ cookiecutter.package_name }}.observability.audit import is_torn_fragment

SIDECAR = ".why.json"
TERMINAL_FOLDERS = ("done", "failed", "review")
# Everything the agent may create at the top of its state directory (docs/contract.md).
STATE_ENTRIES = frozenset(
    {
        "incoming",
        "processing",
        "done",
        "failed",
        "review",
        "outbox",
        "archive",
        "decisions",
        "costs",
        "agent.db",
        "agent.db-wal",
        "agent.db-shm",
        "audit.jsonl",
        "audit.head",
        "heartbeat.json",
        "agent.lock",
        "items.lock",
        "snapshot.lock",
        "ocr-check.json",
    }
)
# Item actions that may happen once per attempt, and the moves that may happen once per item.
PER_ATTEMPT_ACTIONS = (
    "item.received",
    "llm.call",
    "match.decided",
    "match.undecided",
    "outbox.written",
    "notification.sent",
)
FINAL_MOVE_ACTIONS = ("item.moved", "item.recovered")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(path: Path) -> str:
    """Identify what a directory entry is and holds, without following links or opening pipes."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return f"symlink:{os.readlink(path)}"
    if stat.S_ISDIR(info.st_mode):
        return f"dir:{sorted(p.name for p in path.iterdir())}"
    if stat.S_ISFIFO(info.st_mode):
        return "fifo"
    if stat.S_ISREG(info.st_mode):
        return sha256(path.read_bytes())
    return f"mode:{stat.S_IFMT(info.st_mode):o}"


def entries(folder: Path) -> list[Path]:
    """Return the items of a state folder (sidecars left out)."""
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.endswith(SIDECAR))


def placements(state: Path) -> dict[str, list[tuple[str, str]]]:
    """Return fingerprint -> [(folder, name)] for everything in done/, failed/ and review/."""
    found: dict[str, list[tuple[str, str]]] = {}
    for folder in TERMINAL_FOLDERS:
        for path in entries(state / folder):
            found.setdefault(fingerprint(path), []).append((folder, path.name))
    return found


def losses_and_extras(inputs: list[str], state: Path) -> tuple[int, int]:
    """Compare input fingerprints (a multiset) with what ended in a final folder.

    Return (inputs not found, entries found beyond the inputs).
    """
    wanted = Counter(inputs)
    got = Counter({key: len(where) for key, where in placements(state).items()})
    return sum((wanted - got).values()), sum((got - wanted).values())


def sidecar(path: Path) -> dict | None:
    side = path.with_name(path.name + SIDECAR)
    return json.loads(side.read_text(encoding="utf-8")) if side.exists() else None


def json_lines(path: Path) -> list[dict]:
    """Read a JSON-lines file. Only "\n" ends a line: str.splitlines() would also cut at the
    U+2028 or U+0085 that a file name may carry, unescaped, inside a JSON string.

    A kill -9 mid-append leaves the start of an object that the agent's recovery closes with a
    newline (the audit log is append-only, so it is never cut off): that fragment was never
    committed, and it is passed over as the agent's own readers and `audit verify` do. Any other
    line that is not JSON fails the reading.
    """
    if not path.exists():
        return []
    entries = []
    *lines, last = path.read_bytes().split(b"\n")
    for line in lines:
        if not line:
            continue
        try:
            entries.append(json.loads(line))
        except ValueError:
            if not is_torn_fragment(line):
                raise
    if last:
        entries.append(json.loads(last))  # an unclosed last line: no recovery ran after it
    return entries


def audit_entries(state: Path) -> list[dict]:
    return json_lines(state / "audit.jsonl")


def cost_records(state: Path) -> list[dict]:
    return [
        record for path in sorted((state / "costs").glob("*.jsonl")) for record in json_lines(path)
    ]


def item_rows(state: Path) -> dict[str, sqlite3.Row]:
    """Return the items table by item id, read through a connection of our own."""
    connection = sqlite3.connect(state / "agent.db")
    connection.row_factory = sqlite3.Row
    try:
        return {row["item_id"]: row for row in connection.execute("SELECT * FROM items")}
    finally:
        connection.close()


def review_rows(state: Path) -> dict[str, sqlite3.Row]:
    connection = sqlite3.connect(state / "agent.db")
    connection.row_factory = sqlite3.Row
    try:
        return {row["item_id"]: row for row in connection.execute("SELECT * FROM reviews")}
    finally:
        connection.close()


def excess_records(state: Path) -> tuple[int, list[str]]:
    """Count audit entries and cost records beyond the attempts each item had.

    A failed item dropped again starts a fresh set of attempts (audit action `item.retry`): each
    set may have one entry per attempt of each kind, and one final move. The database counts the
    attempts of the current set; an earlier set made as many as its entries numbered.
    Return (how many are in excess, a description of each excess).
    """
    # An attempt the process died in is given back (the crashes column counts it): it may have
    # left its entries, like any other attempt.
    attempts_now = {
        item: row["attempts"] + row["crashes"] for item, row in item_rows(state).items()
    }
    sets: dict[str, list[Counter]] = {}
    for entry in audit_entries(state):
        item = entry.get("item")
        if not item:
            continue
        if entry["action"] == "item.retry" and item in sets:  # what the set before used up
            detail = entry["detail"]
            sets[item][-1]["tried"] = detail.get("attempts", 0) + detail.get("crashes", 0)
        if entry["action"] == "item.retry" or item not in sets:
            sets.setdefault(item, []).append(Counter())
        counts = sets[item][-1]
        if entry["action"] in PER_ATTEMPT_ACTIONS:
            counts[entry["action"]] += 1
        if entry["action"] == "item.received":
            counts["numbered"] = max(counts["numbered"], entry["detail"].get("attempt", 0))
        if entry["action"] in FINAL_MOVE_ACTIONS and entry["detail"].get("to") in TERMINAL_FOLDERS:
            counts[entry["action"]] += 1
        if entry["action"] == "human.decision":  # out of review/: one more final move
            counts["decided"] += 1
    costs = Counter(record["item_id"] for record in cost_records(state))
    # An effect delivered again after a crash or a full disk is recorded again: its tries count it.
    delivered = effect_tries(state)
    excess, problems = 0, []
    for item in sets.keys() | costs.keys():
        item_sets = sets.get(item, [Counter()])
        allowed_total = 0
        for number, counts in enumerate(item_sets, start=1):
            last = number == len(item_sets)
            tried = attempts_now.get(item, 0) if last else counts["tried"]
            allowed = max(tried, counts["numbered"])
            allowed_total += allowed
            for action in PER_ATTEMPT_ACTIONS:
                limit = max(allowed, delivered[(item, action)])
                if counts[action] > limit:
                    excess += counts[action] - limit
                    problems.append(f"{item}: {counts[action]} x {action} for {limit} attempt(s)")
            for action in FINAL_MOVE_ACTIONS:  # a recovery records the move and the recovery
                moves = 1 + counts["decided"]
                if counts[action] > moves:
                    excess += counts[action] - moves
                    problems.append(f"{item}: {counts[action]} x {action} to a final folder")
        if costs[item] > allowed_total:
            excess += costs[item] - allowed_total
            problems.append(f"{item}: {costs[item]} cost records for {allowed_total} attempt(s)")
    return excess, problems


def effect_tries(state: Path) -> Counter:
    """Return (item id, audit action) -> deliveries tried, from the effects table."""
    connection = sqlite3.connect(state / "agent.db")
    try:
        rows = connection.execute("SELECT item_id, kind, tries FROM effects").fetchall()
    finally:
        connection.close()
    tries = Counter()
    for item, kind, count in rows:
        tries[(item, "outbox.written" if kind == "result" else "notification.sent")] += count
    return tries


ITEM_ID = re.compile(r"\b[0-9a-f]{16}\b")
AUDIT_TAIL = 12


def diagnosis(state: Path, problems: list[str]) -> str:
    """What a failing test leaves to diagnose it without a rerun: the state tree, and for each item
    a problem names (by its id) its database row and the tail of its audit trail."""
    lines = ["state directory:"]
    for folder in sorted(p for p in state.iterdir() if p.is_dir()):
        names = sorted(p.name for p in folder.iterdir())
        shown = ", ".join(names[:40]) + (f", ... ({len(names)} in all)" if len(names) > 40 else "")
        lines.append(f"  {folder.name}/: {shown}")
    named = sorted({match for problem in problems for match in ITEM_ID.findall(problem)})[:10]
    rows = item_rows(state)
    entries = audit_entries(state)
    for item in named:
        row = rows.get(item)
        lines.append(
            f"item {item}: "
            + (
                f"{row['name']} status {row['status']}, attempts {row['attempts']}, "
                f"crashes {row['crashes']}, reason {row['reason']!r}"
                if row
                else "no database row"
            )
        )
        for entry in [e for e in entries if e.get("item") == item][-AUDIT_TAIL:]:
            lines.append(f"  audit #{entry['seq']} {entry['action']} {entry['detail']}")
    return "\n".join(lines)


def stray_state_entries(state: Path) -> list[str]:
    """Return what the agent left in its state directory that the contract does not name."""
    strays = [p.name for p in state.iterdir() if p.name not in STATE_ENTRIES]
    strays += [str(p.relative_to(state)) for p in state.rglob(".*.tmp*")]
    return sorted(strays)


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Describe every entry under root (type, mode, size, content hash, mtime), links unfollowed.

    Entries whose first path part is in skip are left out (the agent's own directories).
    """
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in skip:
            continue
        info = path.lstat()
        found[str(relative)] = (
            stat.S_IFMT(info.st_mode),
            stat.S_IMODE(info.st_mode),
            info.st_size,
            info.st_mtime_ns,
            info.st_nlink,
            fingerprint(path) if not stat.S_ISDIR(info.st_mode) else "dir",
        )
    return found


def snapshot_changes(before: dict, after: dict) -> list[str]:
    """Return what was added, removed or changed between two snapshots."""
    changes = [f"added {name}" for name in sorted(after.keys() - before.keys())]
    changes += [f"removed {name}" for name in sorted(before.keys() - after.keys())]
    changes += [
        f"changed {name}"
        for name in sorted(before.keys() & after.keys())
        if before[name] != after[name]
    ]
    return changes
