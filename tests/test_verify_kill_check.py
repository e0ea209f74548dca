"""molecule/resources/verify-kill-check.py, the Molecule kill -9 check of issue 11's invariants.

It runs on the target after the killed agent finished its batch; here it reads a state directory
built by hand, so that each invariant is shown to fail when broken, with its evidence.
"""

import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "molecule" / "resources" / "verify-kill-check.py"
PREFIX = "verify-kill-t"
COUNT = 3


def load():
    spec = importlib.util.spec_from_file_location("verify_kill_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def state(tmp_path):
    """A batch of COUNT documents, all done with their result and effects sent."""
    for folder in ("incoming", "processing", "done", "failed", "review", "outbox"):
        (tmp_path / folder).mkdir()
    db = sqlite3.connect(tmp_path / "agent.db")
    db.executescript(
        "CREATE TABLE items (content_hash TEXT PRIMARY KEY, item_id TEXT, name TEXT,"
        " status TEXT, attempts INTEGER, crashes INTEGER, reason TEXT);"
        "CREATE TABLE effects (key TEXT PRIMARY KEY, item_id TEXT, kind TEXT, payload TEXT,"
        " status TEXT, tries INTEGER, error TEXT);"
    )
    audit = []
    for i in range(1, COUNT + 1):
        name, item_id = f"{PREFIX}-{i}", f"id{i:014d}"
        (tmp_path / "done" / f"{name}.txt").write_text(f"text\nVerify reference: {name}\n")
        (tmp_path / "outbox" / f"{item_id}.json").write_text(json.dumps({"source": f"{name}.txt"}))
        db.execute(
            "INSERT INTO items VALUES (?, ?, ?, 'done', 1, 0, NULL)",
            (f"hash{i}", item_id, f"{name}.txt"),
        )
        db.execute(
            "INSERT INTO effects VALUES (?, ?, 'result', ?, 'sent', 1, NULL)",
            (f"{item_id}:result", item_id, json.dumps({"file": f"{item_id}.json"})),
        )
        db.execute(
            "INSERT INTO effects VALUES (?, ?, 'message', ?, 'sent', 1, NULL)",
            (
                f"{item_id}:1:done",
                item_id,
                json.dumps({"text": f"ok [item {item_id}]"}),
            ),
        )
        audit.append({"action": "outbox.written", "item": item_id, "detail": {}})
    db.commit()
    db.close()
    (tmp_path / "audit.jsonl").write_text("".join(json.dumps(entry) + "\n" for entry in audit))
    return tmp_path


def sql(state: Path, statement: str, *parameters) -> None:
    with sqlite3.connect(state / "agent.db") as db:
        db.execute(statement, parameters)


def test_a_clean_batch_passes_without_evidence(state):
    report = load().check(state, PREFIX, COUNT, [])

    assert report["ok"], report
    assert report["ended"] == {"done": COUNT}
    assert report["effects"] == 2 * COUNT
    assert report["evidence"] == ""


def test_a_result_for_a_failed_input_is_found_with_its_evidence(state):
    (state / "done" / f"{PREFIX}-2.txt").rename(state / "failed" / f"{PREFIX}-2.txt")
    sql(state, "UPDATE items SET status = 'failed' WHERE name = ?", f"{PREFIX}-2.txt")

    report = load().check(state, PREFIX, COUNT, [])

    assert not report["ok"]
    assert report["results_without_done"] == [f"{PREFIX}-2"]
    assert report["failed_by_interruption"] == [f"{PREFIX}-2"]
    assert f"failed/ (1): {PREFIX}-2.txt" in report["evidence"]
    assert f"id{2:014d} {PREFIX}-2.txt failed 1 0" in report["evidence"]
    assert "outbox.written" in report["evidence"]


def test_a_done_input_without_its_result_is_found(state):
    (state / "outbox" / f"id{3:014d}.json").unlink()

    report = load().check(state, PREFIX, COUNT, [])

    assert report["done_without_result"] == [f"{PREFIX}-3"]
    assert not report["ok"]


def test_the_crash_must_be_counted_for_the_item_held_mid_item(state):
    held = [{"name": f"{PREFIX}-1.txt", "status": "processing"}]
    check = load().check

    assert not check(state, PREFIX, COUNT, held)["ok"]
    sql(state, "UPDATE items SET crashes = 1 WHERE name = ?", f"{PREFIX}-1.txt")
    report = check(state, PREFIX, COUNT, held)
    assert report["ok"], report
    assert report["crashes"] == 1
    # Held between two steps (decided, not yet moved): no crash may be counted.
    assert not check(state, PREFIX, COUNT, [{**held[0], "status": "done"}])["ok"]


def test_effects_not_sent_or_written_twice_are_found(state):
    item_id = f"id{1:014d}"
    sql(
        state,
        "UPDATE effects SET status = 'pending' WHERE key = ?",
        f"{item_id}:1:done",
    )
    with (state / "audit.jsonl").open("a") as audit:
        audit.write(json.dumps({"action": "outbox.written", "item": item_id}) + "\n")

    report = load().check(state, PREFIX, COUNT, [])

    assert report["effects_not_sent"] == [f"{item_id}:1:done"]
    assert report["effect_problems"] == [f"{PREFIX}-1: 2 outbox.written for 1 tries"]
    assert not report["ok"]


def test_a_message_without_its_item_id_is_found(state):
    item_id = f"id{2:014d}"
    sql(
        state,
        "UPDATE effects SET payload = ? WHERE key = ?",
        json.dumps({"text": "ok"}),
        f"{item_id}:1:done",
    )

    report = load().check(state, PREFIX, COUNT, [])

    assert report["effect_problems"] == [
        f"{PREFIX}-2: message {item_id}:1:done lacks [item {item_id}]"
    ]
