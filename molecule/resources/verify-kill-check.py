#!/usr/bin/env python3
"""The kill -9 check of the Molecule verify, run as root on the target (standard library only).

    verify-kill-check.py kill STATE PREFIX PID
        Wait until the agent holds one of the batch's documents mid-item (in processing/, and its
        row in agent.db says 'processing'), then SIGKILL PID. Print the time of the kill, a line
        saying where the batch stood, and a JSON line naming what it held when it died (also kept
        in /run/verify-kill-PREFIX.json for the check).
    verify-kill-check.py check STATE PREFIX COUNT
        Once the agent has finished the batch: print one JSON object with what the invariants of
        issue 11 found (lost, repeated, results without done, done without result, failed by the
        interruption, crashes, effects not sent) and, when one does not hold, the evidence to
        diagnose it without a rerun (state tree, database rows, audit tail of the offending items).

A batch document is recognised by the unique line "Verify reference: PREFIX-N" it carries, wherever
it ended and under whatever name; its row in the database by its original name, PREFIX-N.txt.
"""

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

FOLDERS = ("incoming", "processing", "done", "failed", "review")
FINISHED = ("done", "failed", "review")
SIDECAR_SUFFIX = ".why.json"
REFERENCE = "Verify reference: "
CRASH_REASON = "died 3 times while it held this document"
# How long the kill waits for the agent to be mid-item, and for the killed process to be gone.
KILL_WAIT_SECONDS = 30.0
GONE_WAIT_SECONDS = 5.0
AUDIT_TAIL = 12
HELD_DIR = Path("/run")


def open_db(state: Path) -> sqlite3.Connection:
    """Open agent.db read-only; from a copy when the WAL files cannot be used in place."""
    path = state / "agent.db"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        db.execute("SELECT COUNT(*) FROM items").fetchone()
    except sqlite3.Error:
        copy = Path(tempfile.mkdtemp(prefix="verify-kill-db-"))
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                shutil.copy2(f"{path}{suffix}", copy / f"agent.db{suffix}")
        db = sqlite3.connect(copy / "agent.db", isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


def batch_files(state: Path, folder: str, prefix: str) -> list[str]:
    return sorted(
        p.name
        for p in (state / folder).iterdir()
        if p.name.startswith(f"{prefix}-") and not p.name.endswith(SIDECAR_SUFFIX)
    )


def status_of(db: sqlite3.Connection, name: str) -> str | None:
    row = db.execute("SELECT status FROM items WHERE name = ?", (name,)).fetchone()
    return row["status"] if row else None


def kill(state: Path, prefix: str, pid: int) -> int:
    db = open_db(state)
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while time.monotonic() < deadline:
        held = batch_files(state, "processing", prefix)
        if held and any(status_of(db, name) == "processing" for name in held):
            break
    os.kill(pid, signal.SIGKILL)
    killed_at = time.time()
    gone_by = time.monotonic() + GONE_WAIT_SECONDS
    while Path(f"/proc/{pid}").exists() and time.monotonic() < gone_by:
        time.sleep(0.001)
    # The process is gone and systemd restarts it only after RestartSec: this is what it held.
    db.close()
    db = open_db(state)
    counts = {folder: len(batch_files(state, folder, prefix)) for folder in FOLDERS}
    held = [
        {"name": name, "status": status_of(db, name)}
        for name in batch_files(state, "processing", prefix)
    ]
    print(f"{killed_at:.6f}")
    holding = ", ".join(f"{h['name']}: {h['status']}" for h in held) or "none"
    print(
        f"at the kill: {counts['incoming']} waiting, {counts['processing']} in processing/"
        f" ({holding}), {sum(counts[f] for f in FINISHED)} finished"
    )
    print(json.dumps(held))
    held_file(prefix).write_text(json.dumps(held))
    return 0


def held_file(prefix: str) -> Path:
    return HELD_DIR / f"verify-kill-{prefix}.json"


def reference_of(path: Path) -> str:
    return path.read_text(errors="replace").rpartition(REFERENCE)[2].strip()


def read_audit(state: Path) -> list[dict]:
    entries = []
    with (
        contextlib.suppress(FileNotFoundError),
        open(state / "audit.jsonl", encoding="utf-8") as handle,
    ):
        for line in handle:
            with contextlib.suppress(ValueError):
                entries.append(json.loads(line))
    return entries


def check(state: Path, prefix: str, count: int, held: list[dict]) -> dict:
    names = [f"{prefix}-{i}" for i in range(1, count + 1)]
    placed = {name: [] for name in names}
    for folder in FOLDERS:
        for path in (state / folder).iterdir():
            if path.name.endswith(SIDECAR_SUFFIX) or not path.is_file():
                continue
            reference = reference_of(path)
            if reference in placed:
                placed[reference].append(folder)
    results_by_source = {name: 0 for name in names}
    for path in (state / "outbox").iterdir():
        with contextlib.suppress(ValueError, OSError):
            source = json.loads(path.read_text()).get("source", "").removesuffix(".txt")
            if source in results_by_source:
                results_by_source[source] += 1

    db = open_db(state)
    rows = {}
    for row in db.execute(
        "SELECT item_id, name, status, attempts, crashes, reason FROM items WHERE name LIKE ?",
        (f"{prefix}-%",),
    ):
        rows[row["name"].removesuffix(".txt")] = dict(row)
    by_id = {row["item_id"]: name for name, row in rows.items()}
    effects = [
        dict(row)
        for row in db.execute(
            "SELECT key, item_id, kind, payload, status, tries, error FROM effects"
        )
    ]
    effects = [effect for effect in effects if effect["item_id"] in by_id]
    audit = [entry for entry in read_audit(state) if entry.get("item") in by_id]

    def has_result(name: str) -> bool:
        row = rows.get(name)
        return bool(row) and (state / "outbox" / f"{row['item_id']}.json").exists()

    done = {name for name in names if placed[name] == ["done"]}
    lost = [
        name for name in names if not placed[name] or set(placed[name]) & {"incoming", "processing"}
    ]
    repeated = [name for name in names if len(placed[name]) > 1 or results_by_source[name] > 1]
    results_without_done = [
        name for name in names if name not in done and (has_result(name) or results_by_source[name])
    ]
    done_without_result = [
        name for name in done if not has_result(name) or results_by_source[name] != 1
    ]
    failed_by_interruption = [name for name in names if "failed" in placed[name]]
    crashed = sorted(name for name, row in rows.items() if row["crashes"] >= 1)
    # Mid-item: its row said 'processing' when the process died; that attempt is given back and
    # counted as a crash. Killed between two steps (claimed but not started, or decided but not
    # moved), nothing is counted.
    expected_crashed = sorted(
        h["name"].removesuffix(".txt") for h in held if h["status"] == "processing"
    )
    effects_not_sent = sorted(effect["key"] for effect in effects if effect["status"] != "sent")
    written = {}
    for entry in audit:
        if entry.get("action") == "outbox.written":
            written[entry["item"]] = written.get(entry["item"], 0) + 1
    result_effects = {effect["item_id"]: effect for effect in effects if effect["kind"] == "result"}
    effect_problems = []
    for name in sorted(done):
        row = rows.get(name)
        effect = result_effects.get(row["item_id"]) if row else None
        if effect is None:
            effect_problems.append(f"{name}: no result effect")
        elif (
            json.loads(effect["payload"]).get("file") != f"{row['item_id']}.json"
            or effect["key"] != f"{row['item_id']}:result"
        ):
            effect_problems.append(f"{name}: result effect {effect['key']} names another file")
    for item_id, times in sorted(written.items()):
        tries = result_effects[item_id]["tries"] if item_id in result_effects else 0
        if times > tries:
            effect_problems.append(f"{by_id[item_id]}: {times} outbox.written for {tries} tries")
    for effect in effects:
        if effect["kind"] == "message" and not json.loads(effect["payload"]).get(
            "text", ""
        ).endswith(f"[item {effect['item_id']}]"):
            doc_name, key = by_id[effect["item_id"]], effect["key"]
            effect_problems.append(f"{doc_name}: message {key} lacks [item {effect['item_id']}]")
    no_db_row = [name for name in names if placed[name] and name not in rows]
    poisoned = [name for name, row in rows.items() if CRASH_REASON in (row["reason"] or "")]

    ended = {}
    for folders in placed.values():
        key = "+".join(folders) or "nowhere"
        ended[key] = ended.get(key, 0) + 1
    report = {
        "ended": ended,
        "lost": lost,
        "repeated": repeated,
        "results_without_done": results_without_done,
        "done_without_result": done_without_result,
        "failed_by_interruption": failed_by_interruption,
        "poisoned": poisoned,
        "crashes": sum(row["crashes"] for row in rows.values()),
        "crashed": crashed,
        "expected_crashed": expected_crashed,
        "effects": len(effects),
        "effects_not_sent": effects_not_sent,
        "effect_problems": effect_problems,
        "outbox_written": sum(written.values()),
        "no_db_row": no_db_row,
    }
    offending = sorted(
        set(
            lost
            + repeated
            + results_without_done
            + done_without_result
            + failed_by_interruption
            + no_db_row
        )
        | set(crashed) ^ set(expected_crashed)
        | {by_id[effect["item_id"]] for effect in effects if effect["key"] in effects_not_sent}
        | {problem.partition(":")[0] for problem in effect_problems}
    )
    report["ok"] = not offending
    report["evidence"] = "" if not offending else evidence(state, prefix, rows, audit, offending)
    return report


def evidence(state: Path, prefix: str, rows: dict, audit: list[dict], offending: list[str]) -> str:
    lines = [f"offending: {', '.join(offending)}", "state tree (this batch):"]
    for folder in (*FOLDERS, "outbox"):
        if folder == "outbox":
            ids = {row["item_id"] for row in rows.values()}
            files = sorted(
                p.name for p in (state / folder).iterdir() if p.name.removesuffix(".json") in ids
            )
        else:
            files = sorted(
                p.name for p in (state / folder).iterdir() if p.name.startswith(f"{prefix}-")
            )
        lines.append(f"  {folder}/ ({len(files)}): {' '.join(files)}")
    lines.append("database rows (item_id, name, status, attempts, crashes):")
    for name in sorted(rows, key=lambda n: int(n.rpartition("-")[2])):
        row = rows[name]
        lines.append(
            f"  {row['item_id']} {row['name']} {row['status']} {row['attempts']} {row['crashes']}"
        )
    for name in offending:
        item_id = rows.get(name, {}).get("item_id")
        tail = [entry for entry in audit if item_id and entry.get("item") == item_id][-AUDIT_TAIL:]
        lines.append(f"audit tail of {name} ({item_id or 'no row'}):")
        lines.extend(
            f"  {entry.get('seq')} {entry.get('ts')} {entry.get('action')} "
            f"{json.dumps(entry.get('detail'), sort_keys=True)}"
            for entry in tail
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) == 5 and argv[1] == "kill":
        return kill(Path(argv[2]), argv[3], int(argv[4]))
    if len(argv) == 5 and argv[1] == "check":
        held = json.loads(held_file(argv[3]).read_text())
        report = check(Path(argv[2]), argv[3], int(argv[4]), held)
        print(json.dumps(report))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
