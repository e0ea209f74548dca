"""Crash safety: an agent killed with SIGKILL at random moments loses and repeats nothing.

The kills that must land mid-item are arranged by state (an item is in processing/), never by
sleeping and hoping, so the test proves the same on a busy machine as on an idle one.
"""

import hashlib
import json
import random
import signal
import sqlite3
import time
from collections import Counter

import pytest

import kills
from {{ cookiecutter.package_name }} import agent as agent_module
from {{ cookiecutter.package_name }}.observability import audit
from {{ cookiecutter.package_name }}.runtime import recovery

DOCUMENTS = 40
KILLS = 12
WORK_WAIT_SECONDS = 30
PEOPLE = ["Jane Doe", "Youssef Benali", "Chidi Okafor", "Marie Martin"]


def documents() -> dict[str, bytes]:
    docs = {}
    for number in range(DOCUMENTS):
        person = PEOPLE[number % len(PEOPLE)]
        text = f"Patient: {person}\nDocument type: note {number}\nFAKE-LLM: sleep 0.03\n"
        docs[f"doc-{number:03d}.txt"] = text.encode()
    return docs


def kill(home, process, killer: kills.Killer, mid_item: bool, rng: random.Random) -> None:
    """SIGKILL the agent mid-item (once an item is in processing/) or at a random moment."""
    if mid_item:
        kills.wait_for(
            lambda: killer.holds_a_fresh_item() or not home.files("incoming"),
            process,
            WORK_WAIT_SECONDS,
        )
        time.sleep(rng.uniform(0, 0.03))  # somewhere within its 30 ms LLM call
    else:
        time.sleep(rng.uniform(0.3, 1.2))  # during start-up, recovery or between items
    killer.kill(process)


def evidence(home, item_ids=()) -> str:
    """The state tree, the database rows and the audit tail of the items concerned."""
    lines = ["state:"]
    for folder in sorted(p for p in home.state.iterdir() if p.is_dir()):
        lines.append(f"  {folder.name}/: {sorted(p.name for p in folder.iterdir())}")
    db = sqlite3.connect(home.state / "agent.db")
    for row in db.execute("SELECT item_id, name, status, attempts, crashes FROM items"):
        if not item_ids or row[0] in item_ids:
            lines.append(f"  item {row}")
    entries = [json.loads(line) for line in (home.state / "audit.jsonl").read_text().splitlines()]
    for entry in [e for e in entries if e["item"] in item_ids][-20:]:
        lines.append(f"  audit {entry['action']} {entry['item']} {entry['detail']}")
    return "\n".join(lines)


def test_kill_9_at_random_moments_loses_nothing_and_duplicates_nothing(home):
    docs = documents()
    for name, content in docs.items():
        home.drop(name, content)
    rng = random.Random(20261126)
    killer = kills.Killer(home.state, WORK_WAIT_SECONDS)
    for number in range(KILLS):
        kill(home, home.start("run"), killer, mid_item=bool(number % 2), rng=rng)
    finish = home.cli("once", timeout=120)
    assert finish.returncode == 0, finish.stderr

    assert home.files("incoming") == [] and home.files("processing") == [], evidence(home)
    placed = {}
    for folder in ("done", "failed", "review"):
        for name in home.files(folder):
            digest = hashlib.sha256((home.state / folder / name).read_bytes()).hexdigest()
            placed.setdefault(digest, []).append(f"{folder}/{name}")
    expected = {hashlib.sha256(content).hexdigest() for content in docs.values()}
    assert set(placed) == expected, "an input was lost\n" + evidence(home)
    assert all(len(where) == 1 for where in placed.values()), "an input ended in two places"
    failed = home.files("failed")
    assert not failed, f"no input should fail here: {failed}\n" + evidence(home)
    assert len(home.files("review")) == DOCUMENTS // len(PEOPLE)

    # Results <=> done: a result exists for every input in done/ and for nothing else.
    assert not list(home.state.glob("**/.*.tmp*")), "a temp file of an interrupted write is left"
    done_ids = {
        hashlib.sha256((home.state / "done" / name).read_bytes()).hexdigest()[:16]
        for name in home.files("done")
    }
    outbox = {p.stem: json.loads(p.read_text()) for p in (home.state / "outbox").iterdir()}
    assert set(outbox) == done_ids, evidence(home, set(outbox) ^ done_ids)
    assert all(result["item_id"] == item_id for item_id, result in outbox.items())

    db = sqlite3.connect(home.state / "agent.db")
    rows = {r[0]: r[1:] for r in db.execute("SELECT item_id, attempts, crashes FROM items")}
    assert sum(crashes for _, crashes in rows.values()) > 0, "no kill landed mid-item"
    assert all(attempts == 1 for attempts, _ in rows.values()), "a kill used up an attempt"

    # Effects once: every queued effect was delivered; each audit entry is explained by a try.
    effects = {r[0]: r[1:] for r in db.execute("SELECT key, status, tries FROM effects")}
    assert {status for status, _ in effects.values()} == {"sent"}, effects
    entries = [json.loads(line) for line in (home.state / "audit.jsonl").read_text().splitlines()]
    written = Counter(e["item"] for e in entries if e["action"] == "outbox.written")
    assert all(count <= effects[f"{item}:result"][1] for item, count in written.items())
    sent = Counter(e["detail"]["key"] for e in entries if e["action"] == "notification.sent")
    assert set(sent) == {key for key in effects if not key.endswith(":result")}
    assert all(count <= effects[key][1] for key, count in sent.items()), sent
    # Steps once per try: a repeated step is explained by the crashes the database counted.
    received = Counter(e["item"] for e in entries if e["action"] == "item.received")
    assert all(count <= sum(rows[item]) for item, count in received.items()), evidence(home)
    costs = Counter()
    for path in (home.state / "costs").glob("*.jsonl"):
        costs.update(json.loads(line)["item_id"] for line in path.read_text().splitlines())
    assert all(count <= sum(rows[item]) for item, count in costs.items())
    assert audit.verify(home.state / "audit.jsonl") == []


def test_a_document_that_takes_the_process_down_every_time_ends_in_failed(home):
    # A poison pill, as systemd would restart the agent after each death; the others go on.
    home.drop("poison.txt", "Patient: Jane Doe\nFAKE-LLM: crash\n", age=30)
    for name in ("a", "b", "c"):
        home.drop(f"{name}.txt", f"Patient: Jane Doe\nDocument type: note {name}\n", age=20)
    runs = []
    for _ in range(recovery.MAX_CRASHES + 1):
        runs.append(home.cli("once", timeout=120).returncode)
        if home.files("failed"):
            break
    assert runs[: recovery.MAX_CRASHES] == [-signal.SIGKILL] * recovery.MAX_CRASHES, runs
    assert home.files("failed") == ["poison.txt"], evidence(home)
    why = json.loads((home.state / "failed" / "poison.txt.why.json").read_text())
    assert f"died {recovery.MAX_CRASHES} times while it held this document" in why["error"]
    assert home.files("done") == ["a.txt", "b.txt", "c.txt"]
    poison_id = hashlib.sha256(b"Patient: Jane Doe\nFAKE-LLM: crash\n").hexdigest()[:16]
    assert not (home.state / "outbox" / f"{poison_id}.json").exists()


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in the agent catches it, no step after it runs."""


@pytest.mark.parametrize("where", ["before the move", "before the deliveries"])
def test_a_crash_after_the_item_was_decided_finishes_it_once_on_restart(home, monkeypatch, where):
    home.write_env(MAX_ATTEMPTS="1")
    home.drop("jane.txt", "Patient: Jane Doe\nDate of birth: 1980-02-03\n")
    agent = home.agent()
    target = (agent.inbox, "place") if where == "before the move" else (agent.effects, "deliver")
    real = getattr(*target)

    def killed(*args, **kwargs):
        if where == "before the deliveries" and not home.files("done"):
            return real(*args, **kwargs)  # deliveries between items, before this one is done
        raise Killed

    monkeypatch.setattr(*target, killed)
    with pytest.raises(Killed):
        agent.run_once()
    monkeypatch.undo()
    agent.close()
    assert home.files("outbox") == []  # no result before the input is in done/
    assert home.files("done" if where == "before the deliveries" else "processing") == ["jane.txt"]

    agent = home.agent()  # start() recovers processing/ and delivers what is queued
    agent.close()

    assert home.files("done") == ["jane.txt"]
    assert home.files("processing") == home.files("failed") == home.files("incoming") == []
    (written,) = home.files("outbox")
    result = json.loads((home.state / "outbox" / written).read_text())
    assert (result["source"], result["person"]["id"]) == ("jane.txt", 1)
    entries = [json.loads(line) for line in (home.state / "audit.jsonl").read_text().splitlines()]
    actions = Counter(entry["action"] for entry in entries)
    assert actions["outbox.written"] == actions["notification.sent"] == 1
    assert actions["llm.call"] == 1  # finished from what was decided, not asked again
    assert audit.verify(home.state / "audit.jsonl") == []
    row = sqlite3.connect(home.state / "agent.db").execute("SELECT status FROM items").fetchone()
    assert row == ("done",)


def test_a_crash_within_a_batch_s_moves_finishes_each_item_once_on_restart(home, monkeypatch):
    # Group commit: three items decided done wait for their batch's moves; the process dies after
    # the first one moved. The next start moves the other two and delivers the three results.
    monkeypatch.setattr(agent_module, "BATCH_SECONDS", 3600.0)  # the batch ends on its size
    monkeypatch.setattr(agent_module, "BATCH_ITEMS", 3)
    for number, person in enumerate(PEOPLE[:3]):
        home.drop(f"doc-{number}.txt", f"Patient: {person}\nDocument type: note {number}\n")
    agent = home.agent()
    real = agent.inbox.place
    moved = []

    def killed(path, folder, *args, **kwargs):
        if folder == "done" and moved:
            raise Killed
        moved.append(path.name)
        return real(path, folder, *args, **kwargs)

    monkeypatch.setattr(agent.inbox, "place", killed)
    with pytest.raises(Killed):
        agent.run_once()
    monkeypatch.undo()
    agent.close()
    assert home.files("outbox") == []  # no result before its batch's moves
    assert len(home.files("done")) == 1 and len(home.files("processing")) == 2

    agent = home.agent()  # start() recovers processing/ and delivers what is queued
    agent.close()

    assert home.files("done") == ["doc-0.txt", "doc-1.txt", "doc-2.txt"]
    assert home.files("processing") == home.files("failed") == home.files("incoming") == []
    assert len(home.files("outbox")) == 3
    entries = [json.loads(line) for line in (home.state / "audit.jsonl").read_text().splitlines()]
    actions = Counter(entry["action"] for entry in entries)
    assert actions["outbox.written"] == actions["notification.sent"] == actions["llm.call"] == 3
    assert audit.verify(home.state / "audit.jsonl") == []
    statuses = sqlite3.connect(home.state / "agent.db").execute("SELECT status FROM items")
    assert [row for row in statuses] == [("done",)] * 3
