"""`snapshot --into DIR`: a consistent copy of the state while the agent keeps processing."""

import hashlib
import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from {{ cookiecutter.package_name }}.reliability.snapshot import ItemGate

SIDECAR = ".why.json"


def digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def check_consistent(state: Path) -> dict:
    """Assert what a restore relies on; return the counts it saw."""
    db = sqlite3.connect(state / "agent.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT item_id, name, status, outbox FROM items").fetchall()
    finally:
        db.close()
    by_id = {item_id: (name, status, outbox) for item_id, name, status, outbox in rows}
    for result in (state / "outbox").iterdir():
        item_id = result.name.split(".")[0]
        assert item_id in by_id, f"outbox/{result.name} has no item in the database"
        name, status, _ = by_id[item_id]
        assert status == "done" and (state / "done" / name).is_file(), (
            f"outbox/{result.name}: its input {name} is not in done/"
        )
    for name, status, outbox in by_id.values():
        if status in ("done", "review", "failed"):
            assert (state / status / name).is_file(), f"{status}/{name} named by the database"
        if status == "done" and outbox:
            assert (state / "outbox" / outbox).is_file(), f"outbox/{outbox} of {name}"
    moved_to_done = set()
    # An agent that has written no entry yet has no audit log, and then no item in done/ either.
    audit = state / "audit.jsonl"
    for line in audit.read_text().splitlines() if audit.exists() else []:
        entry = json.loads(line)  # no torn line: the copy stops at an entry's end
        if entry["action"] == "item.moved" and entry["detail"].get("to") == "done":
            moved_to_done.add(entry["item"])
    done_ids = {item_id for item_id, (_, status, _) in by_id.items() if status == "done"}
    assert moved_to_done == done_ids
    return {"done": len(done_ids), "items": len(by_id)}


def test_a_snapshot_is_the_state_itself_with_its_chain_head(home):
    home.drop_samples()
    assert home.cli("once").returncode == 0
    into = home.root / "snapshot"
    into.mkdir()
    result = home.cli("snapshot", "--into", str(into))
    assert result.returncode == 0, result.stderr
    assert "snapshot of" in result.stdout

    copy, state = digests(into / "current"), digests(home.state)
    for name in copy:
        if name != "agent.db":
            assert copy[name] == state[name], name
    assert "agent.db" in copy and "audit.jsonl" in copy
    assert not any(name.startswith(("processing/", "incoming/")) for name in copy)
    summary = json.loads((into / "snapshot.json").read_text())
    last = json.loads((home.state / "audit.jsonl").read_text().splitlines()[-1])
    assert summary["audit"] == {"sequence": last["seq"], "hash": last["hash"]}
    assert summary["taken_at"].endswith("Z")
    check_consistent(into / "current")
    verified = home.cli("audit", "verify", state_dir=into / "current")
    assert verified.returncode == 0, verified.stdout


def test_past_days_cost_records_are_linked_and_the_recent_ones_cut_where_the_gate_saw_them(home):
    """Only today's file is appended to (and yesterday's, at midnight): the records of earlier days
    are hard links, so an unchanged year is not copied, nor read again by restic, each night."""
    home.agent().close()
    costs = home.state / "costs"
    costs.mkdir(exist_ok=True)
    today = datetime.now(UTC).date()
    record = '{"ts": "x", "cost_usd": 0.01}\n'
    days = [today - timedelta(days=back) for back in (0, 1, 2, 40)]
    for day in days:
        (costs / f"{day.isoformat()}.jsonl").write_text(record * 3)
    (costs / "notes.jsonl").write_text(record)  # not a day's file: copied, as before
    into = home.root / "snapshot"
    into.mkdir()
    result = home.cli("snapshot", "--into", str(into))
    assert result.returncode == 0, result.stderr

    copied = into / "current" / "costs"
    for day in days:
        name = f"{day.isoformat()}.jsonl"
        assert (copied / name).read_text() == record * 3
        same_file = (copied / name).stat().st_ino == (costs / name).stat().st_ino
        assert same_file == (day < today - timedelta(days=1)), name
    assert (copied / "notes.jsonl").stat().st_ino != (costs / "notes.jsonl").stat().st_ino


def test_documents_waiting_at_snapshot_time_are_still_processed(home):
    """The agent refuses hard-linked input: a snapshot copies incoming/, it does not link it."""
    home.drop_samples()
    assert home.cli("once").returncode == 0
    home.drop("waiting.txt", "Referral\nPatient: Jane Doe\nDate of birth: 03/02/1980\nRef 7\n")
    into = home.root / "snapshot"
    into.mkdir()
    assert home.cli("snapshot", "--into", str(into)).returncode == 0
    assert (into / "current" / "incoming" / "waiting.txt").is_file()
    assert (home.state / "incoming" / "waiting.txt").stat().st_nlink == 1
    assert all(p.stat().st_nlink == 2 for p in (home.state / "done").iterdir())
    assert home.cli("once").returncode == 0
    assert "waiting.txt" not in home.files("failed")


def test_a_snapshot_taken_again_replaces_the_previous_one(home):
    home.drop_samples()
    assert home.cli("once").returncode == 0
    into = home.root / "snapshot"
    into.mkdir()
    assert home.cli("snapshot", "--into", str(into)).returncode == 0
    (home.state / "done" / "later.txt").write_text("processed after the first snapshot")
    assert home.cli("snapshot", "--into", str(into)).returncode == 0
    assert (into / "current" / "done" / "later.txt").is_file()
    assert sorted(p.name for p in into.iterdir()) == ["current", "snapshot.json"]


def test_document_folders_can_be_left_out(home):
    home.drop_samples()
    assert home.cli("once").returncode == 0
    into = home.root / "snapshot"
    into.mkdir()
    result = home.cli("snapshot", "--into", str(into), "--documents", "none")
    assert result.returncode == 0, result.stderr
    assert not (into / "current" / "done").exists()
    assert list((into / "current" / "outbox").iterdir())
    wrong = home.cli("snapshot", "--into", str(into), "--documents", "outbox")
    assert wrong.returncode == 2
    assert "only done, failed, archive" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


def test_a_missing_directory_or_a_busy_agent_is_one_line(home):
    home.drop_samples()
    assert home.cli("once").returncode == 0
    missing = home.cli("snapshot", "--into", str(home.root / "nowhere"))
    assert missing.returncode == 2
    assert "create it first" in missing.stderr and "Traceback" not in missing.stderr
    into = home.root / "snapshot"
    into.mkdir()
    gate = ItemGate(home.state)
    with gate.hold():  # an item that takes longer than the snapshot may wait
        busy = home.cli("snapshot", "--into", str(into), "--wait", "0.3")
    gate.close()
    assert busy.returncode == 2
    assert "more than 0.3 s" in busy.stderr
    assert len(busy.stderr.strip().splitlines()) == 1
    assert not (into / "current").exists()


def test_snapshots_while_documents_flow_are_each_consistent(home):
    """Forty documents dropped five at a time into a running agent, a snapshot after each five."""
    samples = sorted((Path(__file__).resolve().parents[2] / "samples" / "incoming").iterdir())

    def drop(number: int) -> None:
        sample = samples[number % len(samples)]
        text = sample.suffix in (".txt", ".md")
        marker = f"\nReference {number}\n" if text else f"\n% {number}\n"
        home.drop(f"{number:02d}-{sample.name}", sample.read_bytes() + marker.encode())

    agent = home.start("run")
    seen_done = []
    try:
        while not (home.state / "agent.db").exists() and agent.poll() is None:
            time.sleep(0.05)  # the agent's first start makes the state
        for batch in range(8):
            for number in range(batch * 5, batch * 5 + 5):
                drop(number)
            into = home.root / f"snapshot-{batch}"
            into.mkdir()
            result = home.cli("snapshot", "--into", str(into))
            assert result.returncode == 0, result.stderr
            seen_done.append(check_consistent(into / "current")["done"])
        deadline = time.monotonic() + 120
        while (home.files("incoming") or home.files("processing")) and time.monotonic() < deadline:
            time.sleep(0.1)
        final = home.root / "snapshot-final"
        final.mkdir()
        assert home.cli("snapshot", "--into", str(final)).returncode == 0
        seen_done.append(check_consistent(final / "current")["done"])
    finally:
        agent.terminate()
        agent.wait(timeout=60)
    assert seen_done == sorted(seen_done)
    assert seen_done[-1] == len(home.files("done")) > seen_done[0]


def test_a_snapshot_gets_in_between_two_items_of_a_busy_agent(home):
    """The agent takes its next item at once: a snapshot must still not wait for the queue's end."""
    count = 12
    agent = home.start("run")
    try:
        while not (home.state / "agent.db").exists() and agent.poll() is None:
            time.sleep(0.05)  # the agent's first start makes the state
        for number in range(count):  # each item takes the model a second
            home.drop(f"slow-{number:02d}.txt", f"Referral\nRef {number}\nFAKE-LLM: sleep 1\n")
        while not home.files("done") and not home.files("review") and agent.poll() is None:
            time.sleep(0.05)
        into = home.root / "snapshot"
        into.mkdir()
        result = home.cli("snapshot", "--into", str(into), "--wait", "30")
        assert result.returncode == 0, result.stderr
        left = len(home.files("incoming")) + len(home.files("processing"))
    finally:
        agent.terminate()
        agent.wait(timeout=60)
    taken = check_consistent(into / "current")["items"]
    assert 0 < taken < count and left > 0, (taken, left)
