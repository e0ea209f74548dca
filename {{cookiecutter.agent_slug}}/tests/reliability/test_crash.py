"""Crash safety: an agent killed with SIGKILL at random moments loses and repeats nothing."""

import hashlib
import json
import random
import signal
import sqlite3
import time
from collections import Counter

import pytest

from {{ cookiecutter.package_name }}.observability import audit

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


def wait_until_at_work(home, process) -> None:
    """Return once the agent holds an item in processing/, has nothing left, or has exited.

    Start-up takes longer on a busy machine; waiting for the work, rather than for a fixed time,
    keeps the kills that must land mid-item landing there.
    """
    deadline = time.monotonic() + WORK_WAIT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        if home.files("processing") or not home.files("incoming"):
            return
        time.sleep(0.005)


def test_kill_9_at_random_moments_loses_nothing_and_duplicates_nothing(home):
    docs = documents()
    for name, content in docs.items():
        home.drop(name, content)
    rng = random.Random(20261126)
    for kill in range(KILLS):
        process = home.start("run")
        if kill % 2:
            # Mid-item: each document holds the fake LLM for 30 ms.
            wait_until_at_work(home, process)
            time.sleep(rng.uniform(0, 0.03))
        else:
            # Anywhere: during start-up, recovery or between items.
            time.sleep(rng.uniform(0.3, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait()
    finish = home.cli("once", timeout=120)
    assert finish.returncode == 0, finish.stderr

    assert home.files("incoming") == [] and home.files("processing") == []
    placed = {}
    for folder in ("done", "failed", "review"):
        for name in home.files(folder):
            digest = hashlib.sha256((home.state / folder / name).read_bytes()).hexdigest()
            placed.setdefault(digest, []).append(f"{folder}/{name}")
    expected = {hashlib.sha256(content).hexdigest() for content in docs.values()}
    assert set(placed) == expected, "an input was lost"
    assert all(len(where) == 1 for where in placed.values()), "an input ended in two places"
    assert not home.files("failed"), "no input should fail here"

    assert not list(home.state.glob("**/.*.tmp*")), "a temp file of an interrupted write is left"
    outbox = [json.loads(p.read_text()) for p in (home.state / "outbox").iterdir()]
    assert len(outbox) == len(home.files("done"))
    assert len({r["item_id"] for r in outbox}) == len(outbox)
    assert len(home.files("review")) == DOCUMENTS // len(PEOPLE)

    attempts = dict(
        sqlite3.connect(home.state / "agent.db")
        .execute("SELECT item_id, attempts FROM items")
        .fetchall()
    )
    costs = Counter()
    for path in (home.state / "costs").glob("*.jsonl"):
        costs.update(json.loads(line)["item_id"] for line in path.read_text().splitlines())
    assert all(costs[item] <= attempts[item] for item in costs)
    assert audit.verify(home.state / "audit.jsonl") == []
    actions = Counter(
        json.loads(line)["action"] for line in (home.state / "audit.jsonl").read_text().splitlines()
    )
    assert actions["item.recovered"] > 0, "no kill landed mid-item: the test proved nothing"


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in the agent catches it, no step after it runs."""


def test_a_crash_after_the_result_was_written_finishes_the_item_on_restart(home, monkeypatch):
    # At its last attempt, killed between writing the result and notifying: the result has left
    # for outbox/, so the restart must finish the item, not fail it for being interrupted.
    home.write_env(MAX_ATTEMPTS="1")
    home.drop("jane.txt", "Patient: Jane Doe\nDate of birth: 1980-02-03\n")
    agent = home.agent()

    def killed(text, item_id):
        raise Killed

    monkeypatch.setattr(agent, "notify", killed)
    with pytest.raises(Killed):
        agent.run_once()
    agent.close()
    assert home.files("processing") == ["jane.txt"]
    (written,) = home.files("outbox")

    agent = home.agent()  # start() recovers processing/
    agent.close()

    assert home.files("done") == ["jane.txt"]
    assert home.files("processing") == home.files("failed") == home.files("incoming") == []
    assert home.files("outbox") == [written]
    result = json.loads((home.state / "outbox" / written).read_text())
    assert (result["source"], result["person"]["id"]) == ("jane.txt", 1)
    entries = [json.loads(line) for line in (home.state / "audit.jsonl").read_text().splitlines()]
    actions = Counter(entry["action"] for entry in entries)
    assert actions["outbox.written"] == actions["notification.sent"] == 1
    assert actions["llm.call"] == 1  # finished from the written result, not asked again
    assert audit.verify(home.state / "audit.jsonl") == []
    row = sqlite3.connect(home.state / "agent.db").execute("SELECT status FROM items").fetchone()
    assert row == ("done",)
