#!/usr/bin/python3
"""Check that an agent's state directory is consistent, as a restore relies on; print a summary.

    backup_consistency.py STATE_DIR

Exit 1 with the first inconsistency: PRAGMA integrity_check not ok, an outbox result without its
input in done/, an item the database places in a folder where it is not, an audit log whose moves
to done/ disagree with the database, or an audit line cut short (an entry a crash tore and the
agent closed with a newline is passed over, as `audit verify` does).
"""

import json
import sqlite3
import sys
from pathlib import Path


def check(state: Path) -> dict:
    db = sqlite3.connect(f"file:{state / 'agent.db'}?mode=ro", uri=True)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = db.execute("SELECT item_id, name, status, outbox FROM items").fetchall()
    finally:
        db.close()
    if integrity != "ok":
        raise AssertionError(f"PRAGMA integrity_check: {integrity}")
    items = {item_id: (name, status, outbox) for item_id, name, status, outbox in rows}
    for result in sorted((state / "outbox").iterdir()):
        name, status, _ = items.get(result.name.split(".")[0], ("?", "unknown", None))
        if status != "done" or not (state / "done" / name).is_file():
            raise AssertionError(f"outbox/{result.name}: its input {name} is not in done/")
    for name, status, _ in items.values():
        if status in ("done", "review", "failed") and not (state / status / name).is_file():
            raise AssertionError(f"the database places {name} in {status}/, which lacks it")
    moved = set()
    audit = state / "audit.jsonl"
    lines = audit.read_bytes().splitlines(keepends=True) if audit.exists() else []  # no entry yet
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            # An entry a crash tore and the agent's recovery closed with a newline took no seq
            # (audit verify passes over it too); a copy cut inside an entry has no newline.
            if line.startswith(b"{") and line.endswith(b"\n"):
                continue
            raise AssertionError(f"audit.jsonl line {number} is torn") from None
        if entry["action"] == "item.moved" and entry["detail"].get("to") == "done":
            moved.add(entry["item"])
    done = {item_id for item_id, (_, status, _) in items.items() if status == "done"}
    if moved != done:
        raise AssertionError(f"audit moves to done/ {len(moved)}, database done {len(done)}")
    return {
        "integrity": integrity,
        "items": len(items),
        "done": len(done),
        "outbox": len(list((state / "outbox").iterdir())),
    }


if __name__ == "__main__":
    try:
        print(json.dumps(check(Path(sys.argv[1]))))
    except AssertionError as error:
        print(f"inconsistent: {error}")
        sys.exit(1)
