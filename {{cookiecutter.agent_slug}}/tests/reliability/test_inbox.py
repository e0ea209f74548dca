"""The inbox state machine: every file ends in done/, failed/ or review/, nothing is lost."""

import hashlib
import json
import os
import sqlite3
import time

import pytest

from {{ cookiecutter.package_name }} import agent as agent_module
from {{ cookiecutter.package_name }}.contract import files
from {{ cookiecutter.package_name }}.observability import audit, costs
from {{ cookiecutter.package_name }}.reliability import effects
from {{ cookiecutter.package_name }}.reliability import inbox as inbox_module
from {{ cookiecutter.package_name }}.reliability.inbox import (
    SETTLE_POLL_SECONDS,
    SETTLE_SECONDS,
    Inbox,
)
from {{ cookiecutter.package_name }}.runtime import gateway, recovery

JANE = "Patient: Jane Doe\nDate of birth: 1980-02-03\nDocument type: referral\n"
UNIQUE_PDF_TEXT = "Client: Youssef Benali"


def cost_records(home) -> list[dict]:
    records = []
    for path in sorted((home.state / "costs").glob("*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines()]
    return records


def audit_actions(home) -> list[str]:
    lines = (home.state / "audit.jsonl").read_text().splitlines()
    return [json.loads(line)["action"] for line in lines]


def why(home, folder: str, name: str) -> dict:
    return json.loads((home.state / folder / f"{name}.why.json").read_text())


def test_samples_end_in_done_and_review_with_results_in_outbox(home):
    home.drop_samples()
    agent = home.agent()
    assert agent.run_once() == 3
    agent.close()

    assert home.files("done") == ["invoice-youssef-benali.pdf", "referral-jane-doe.txt"]
    assert home.files("review") == ["lab-result-marie-martin.md"]
    assert home.files("incoming") == home.files("processing") == home.files("failed") == []
    results = [json.loads(p.read_text()) for p in (home.state / "outbox").iterdir()]
    assert sorted(r["person"]["id"] for r in results) == [1, 4]
    assert all(r["matched_by"] == "rules" for r in results)
    assert len(home.files("archive")) == 3
    assert len(cost_records(home)) == 3
    assert audit.verify(home.state / "audit.jsonl") == []


def test_unusable_inputs_fail_with_a_reason_and_lose_nothing(home):
    bad = {
        "program.exe": b"MZ\x90\x00",
        "fake.pdf": b"GIF89a\x01\x00\x01\x00\x80\x00\x00",  # content decides: a GIF, not accepted
        "broken.pdf": b"%PDF-1.4\n1 0 obj <<< garbage",
        "empty.txt": b"",
        "latin1.txt": "Patient: Zoë".encode("latin-1"),
        "binary.md": b"\x00\x01\x02 Patient: Jane Doe",
        "too-big.txt": b"x" * (2 * 1024 * 1024),
    }
    for name, content in bad.items():
        home.drop(name, content)
    home.write_env(MAX_FILE_MB="1")
    agent = home.agent()
    agent.run_once()
    agent.close()

    assert home.files("failed") == sorted(bad)
    for name in bad:
        reason = why(home, "failed", name)
        assert reason["error"], name
        assert reason["attempts"] >= 1
        assert reason["time"]
        assert (home.state / "failed" / name).read_bytes() == bad[name]
    assert home.files("incoming") == home.files("processing") == []
    assert "accepted: UTF-8 text, PDF, JPEG" in why(home, "failed", "fake.pdf")["error"]
    assert "limit" in why(home, "failed", "too-big.txt")["error"]


def test_the_same_content_twice_is_processed_once(home):
    home.drop("first.txt", JANE)
    agent = home.agent()
    agent.run_once()
    home.drop("second-copy.txt", JANE)
    agent.run_once()
    agent.close()

    assert home.files("done") == ["first.txt", "second-copy.txt"]
    assert why(home, "done", "second-copy.txt")["duplicate_of"] == "first.txt"
    assert len(os.listdir(home.state / "outbox")) == 1
    assert len(cost_records(home)) == 1
    assert audit_actions(home).count("item.duplicate") == 1


def test_a_name_already_taken_gets_a_suffix_never_an_overwrite(home):
    agent = home.agent()
    home.drop("scan.txt", JANE)
    agent.run_once()
    home.drop("scan.txt", JANE.replace("referral", "letter"))
    agent.run_once()
    agent.close()

    assert home.files("done") == ["scan-2.txt", "scan.txt"]
    assert "referral" in (home.state / "done" / "scan.txt").read_text()
    assert "letter" in (home.state / "done" / "scan-2.txt").read_text()


def test_links_into_the_inbox_are_refused_and_their_targets_untouched(home, tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_text(JANE)
    incoming = home.state / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "link.txt").symlink_to(secret)
    os.utime(incoming / "link.txt", (0, 0), follow_symlinks=False)
    os.link(secret, incoming / "hard.txt")
    os.utime(incoming / "hard.txt", (0, 0))
    agent = home.agent()
    agent.run_once()
    agent.close()

    assert home.files("failed") == ["hard.txt", "link.txt"]
    assert "symbolic link" in why(home, "failed", "link.txt")["error"]
    assert "hard-linked" in why(home, "failed", "hard.txt")["error"]
    assert secret.read_text() == JANE
    assert os.listdir(home.state / "outbox") == []


def test_hostile_file_names_are_made_safe(home):
    names = ["-rf.txt", "a\nb.txt", "é" * 100 + ".txt", "$(reboot).md", " .. .txt"]
    for number, name in enumerate(names):
        home.drop(name, JANE + f"\nnumber {number}\n")
    agent = home.agent()
    agent.run_once()
    agent.close()

    done = home.files("done")
    assert len(done) == len(names)
    for name in done:
        assert name[0] not in "-." and "\n" not in name and "$" not in name and len(name) <= 120


def test_leftovers_of_a_crash_are_requeued_then_failed_after_max_attempts(home):
    processing = home.state / "processing"
    processing.mkdir(parents=True)
    (processing / "interrupted.txt").write_text(JANE)
    os.utime(processing / "interrupted.txt", (0, 0))
    agent = home.agent()  # start() recovers processing/
    assert home.files("processing") == []
    agent.run_once()
    agent.close()
    assert home.files("done") == ["interrupted.txt"]

    row = (
        sqlite3.connect(home.state / "agent.db")
        .execute("SELECT attempts, crashes FROM items")
        .fetchone()
    )
    assert row == (1, 0)  # an interruption before any attempt was recorded costs nothing


def test_a_process_that_dies_holding_an_item_gives_the_attempt_back_until_max_crashes(home):
    # Each start takes the item and dies on it (a document that crashes a parser, every time).
    stuck = "Patient: Chidi Okafor\n"
    digest = hashlib.sha256(stuck.encode()).hexdigest()
    processing = home.state / "processing"
    home.agent().close()
    for crash in range(1, recovery.MAX_CRASHES + 1):
        agent = agent_module.Agent(home.settings())
        assert agent.db.start_attempt(digest, digest[:16], "stuck.txt") == 1
        agent.db.close()
        (processing / "stuck.txt").write_text(stuck)
        (home.state / "incoming" / "stuck.txt").unlink(missing_ok=True)
        home.agent().close()  # start() recovers processing/
        attempts, crashes = (
            sqlite3.connect(home.state / "agent.db")
            .execute("SELECT attempts, crashes FROM items")
            .fetchone()
        )
        assert (attempts, crashes) == (0, crash)  # the kill did not use up an attempt
        if crash < recovery.MAX_CRASHES:
            assert home.files("incoming") == ["stuck.txt"]
    assert home.files("failed") == ["stuck.txt"]
    error = why(home, "failed", "stuck.txt")["error"]
    assert f"died {recovery.MAX_CRASHES} times while it held this document" in error


def test_invalid_llm_answers_are_retried_then_failed_and_each_billed_call_recorded(home):
    home.drop("odd.txt", JANE + "FAKE-LLM: malformed\n")
    agent = home.agent()
    for _ in range(3):
        agent.run_once()
    agent.close()

    assert home.files("failed") == ["odd.txt"]
    reason = why(home, "failed", "odd.txt")
    assert reason["attempts"] == 3
    assert "not valid JSON" in reason["error"]
    assert [r["status"] for r in cost_records(home)] == ["ok", "ok", "ok"]


def test_transient_llm_failures_put_the_item_back_and_record_no_cost(home):
    home.drop("flaky.txt", JANE + "FAKE-LLM: transient\n")
    agent = home.agent()
    agent.run_once()
    agent.close()

    assert home.files("incoming") == ["flaky.txt"]
    assert home.files("failed") == []
    assert cost_records(home) == []


def test_budget_reached_items_wait_one_alert_and_they_resume_tomorrow(home, monkeypatch):
    home.write_env(DAILY_BUDGET_USD="0.0001")
    home.drop("a.txt", JANE)
    home.drop("b.txt", "Patient: Chidi Okafor\nDocument type: letter\n", age=5)
    agent = home.agent()
    agent.run_once()
    agent.run_once()
    agent.run_once()
    agent.write_heartbeat("idle")
    agent.close()

    assert home.files("done") == ["a.txt"]
    assert home.files("incoming") == ["b.txt"]
    assert home.files("failed") == []
    actions = audit_actions(home)
    assert actions.count("notification.sent") == 2  # the result of a.txt, and one budget alert
    assert json.loads((home.state / "heartbeat.json").read_text())["budget_reached"] is True

    tomorrow = costs.today_utc() + __import__("datetime").timedelta(days=1)
    monkeypatch.setattr(costs, "today_utc", lambda: tomorrow)
    monkeypatch.setattr(gateway, "today_utc", lambda: tomorrow)
    agent = home.agent()
    agent.run_once()
    agent.close()
    assert home.files("done") == ["a.txt", "b.txt"]


def test_a_failed_item_dropped_again_is_retried_with_fresh_attempts(home):
    home.drop("odd.txt", JANE + "FAKE-LLM: malformed\n")
    agent = home.agent()
    for _ in range(3):
        agent.run_once()
    assert home.files("failed") == ["odd.txt"]
    failed = home.state / "failed" / "odd.txt"
    home.drop("odd.txt", failed.read_bytes())
    failed.unlink()
    agent.run_once()
    agent.close()

    assert home.files("incoming") == ["odd.txt"]  # a new attempt was made, not a duplicate
    assert "item.retry" in audit_actions(home)
    assert "item.duplicate" not in audit_actions(home)


class FakeClock:
    """Stands in for the time module in reliability/inbox.py; waiting moves it forward."""

    def __init__(self, on_wait=None):
        self.now = time.time()
        self.elapsed = 0.0
        self.waits = 0
        self.on_wait = on_wait

    def time(self) -> float:
        return self.now + self.elapsed

    def monotonic(self) -> float:
        return self.elapsed

    def wait(self, seconds: float) -> bool:
        self.waits += 1
        self.elapsed += seconds
        if self.on_wait is not None:
            self.on_wait(self)
        return False


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(inbox_module, "time", fake)
    return fake


def put(inbox: Inbox, name: str, modified: float, content: str = JANE) -> None:
    path = inbox.incoming / name
    path.write_text(content)
    os.utime(path, (modified, modified))


def test_once_waits_for_a_file_just_copied_in_until_it_settles(home, clock):
    inbox = Inbox(home.state)
    put(inbox, "just-copied.txt", clock.time() - 0.3)
    assert inbox.waiting() == []

    assert inbox.wait_for_settling(clock.wait) == []

    assert SETTLE_SECONDS - 0.3 <= clock.elapsed <= SETTLE_SECONDS - 0.3 + 2 * SETTLE_POLL_SECONDS
    assert inbox.waiting() == [inbox.incoming / "just-copied.txt"]


def test_once_leaves_a_file_that_changes_while_it_waits(home, clock):
    inbox = Inbox(home.state)
    put(inbox, "settled.txt", clock.time() - 60)
    put(inbox, "uploading.pdf", clock.time(), "%PDF-1.4 first half")

    def writer_appends(fake: FakeClock) -> None:
        if fake.waits == 3:
            put(inbox, "uploading.pdf", fake.time(), "%PDF-1.4 first half, second half")

    clock.on_wait = writer_appends

    assert inbox.wait_for_settling(clock.wait) == ["uploading.pdf"]

    assert clock.waits == 3  # it stopped waiting for the file as soon as it changed
    assert inbox.waiting() == [inbox.incoming / "settled.txt"]


def test_once_waits_a_bounded_time_for_a_file_that_never_settles(home, clock):
    inbox = Inbox(home.state)
    put(inbox, "from-the-future.txt", clock.time() + 3600)

    assert inbox.wait_for_settling(clock.wait) == ["from-the-future.txt"]

    assert clock.elapsed <= SETTLE_SECONDS + 2 * SETTLE_POLL_SECONDS
    assert inbox.waiting() == []


def test_once_does_not_wait_for_settled_or_hidden_files_and_stops_when_asked(home, clock):
    inbox = Inbox(home.state)
    put(inbox, "settled.txt", clock.time() - 60)
    put(inbox, ".upload-in-progress.txt", clock.time())
    assert inbox.wait_for_settling(clock.wait) == []
    assert clock.waits == 0

    put(inbox, "young.txt", clock.time())
    assert inbox.wait_for_settling(lambda seconds: True) == ["young.txt"]  # a stop request


def test_run_takes_no_file_before_it_settles(home):
    agent = home.agent()
    # Modified a minute "from now": too young for the whole test, however slow the machine.
    home.drop("uploading.txt", JANE, age=-60)
    assert agent.run_once() == 0
    agent.close()
    assert home.files("incoming") == ["uploading.txt"]
    assert home.files("processing") == home.files("done") == []


def test_the_once_command_processes_samples_copied_in_just_before(home):
    home.drop_samples(age=0)  # as `cp samples/incoming/* var/incoming/` leaves them

    result = home.cli("once")

    assert result.returncode == 0, result.stderr
    assert home.files("done") == ["invoice-youssef-benali.pdf", "referral-jane-doe.txt"]
    assert home.files("review") == ["lab-result-marie-martin.md"]
    assert home.files("incoming") == home.files("processing") == home.files("failed") == []
    assert len(home.files("outbox")) == 2


def test_a_name_taken_while_placing_keeps_its_file_and_the_item_gets_its_own_sidecar(
    home, monkeypatch
):
    """An operator command takes the name place() chose, between its sidecar and its move."""
    inbox = Inbox(home.state)
    claimed = inbox.processing / "doc.txt"
    claimed.write_text(JANE)
    failed = home.state / "failed"
    real_free_path = files.free_path

    def name_taken_before_the_move(directory, name):
        candidate = real_free_path(directory, name)
        if candidate.name == "doc.txt":
            candidate.write_text("put there by an operator")
        return candidate

    monkeypatch.setattr(files, "free_path", name_taken_before_the_move)

    moved = inbox.place(claimed, "failed", {"reason": "the file is broken"})

    assert moved == failed / "doc-2.txt"
    assert (failed / "doc.txt").read_text() == "put there by an operator"
    assert moved.read_text() == JANE
    assert why(home, "failed", "doc-2.txt")["file"] == "doc-2.txt"
    assert why(home, "failed", "doc-2.txt")["reason"] == "the file is broken"
    assert not (failed / "doc.txt.why.json").exists()


def test_the_claim_and_the_archive_are_made_durable_with_the_next_move(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(
        inbox_module, "fsync_directories", lambda folders: synced.append(list(folders))
    )
    inbox = Inbox(tmp_path / "state")
    waiting = inbox.incoming / "letter.txt"
    waiting.write_text(JANE, encoding="utf-8")

    claimed = inbox.claim(waiting)
    archived = inbox.keep_original("0123456789abcdef", claimed.suffix, JANE.encode())

    assert synced == []  # nothing acts on these until the input leaves processing/
    assert claimed.parent == inbox.processing
    assert not archived.exists()  # named once its content is synced, with the move
    placed = inbox.place(claimed, "done")
    done = inbox.root / "done"
    assert (placed, archived.read_text(encoding="utf-8")) == (done / "letter.txt", JANE)
    assert synced == [[done, inbox.processing, inbox.archive, inbox.incoming]]
    assert [p.name for p in inbox.archive.iterdir()] == [archived.name]  # no temp file left
    second = inbox.incoming / "second.txt"
    second.write_text(JANE, encoding="utf-8")
    inbox.give_back(inbox.claim(second))
    assert synced[1:] == [[inbox.incoming, inbox.processing]]  # each folder once per move


def test_a_move_left_to_the_next_settle_is_synced_there_once(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(inbox_module, "fsync_directory", synced.append)
    monkeypatch.setattr(
        inbox_module, "fsync_directories", lambda folders: synced.extend(list(folders))
    )
    inbox = Inbox(tmp_path / "state")
    waiting = inbox.incoming / "letter.txt"
    waiting.write_text(JANE, encoding="utf-8")

    placed = inbox.place(inbox.claim(waiting), "done", durable=False)

    assert placed == inbox.root / "done" / "letter.txt"
    assert synced == []  # owed to the next settle
    together = []
    inbox.settle(lambda: together.append("audit"))
    assert together == ["audit"]
    assert sorted(synced) == sorted([inbox.root / "done", inbox.processing, inbox.incoming])
    synced.clear()
    inbox.settle()
    assert synced == []  # each owed folder once


class WalSyncWatch:
    """The os module of contract/files.py (which syncs the database's WAL), telling each
    fdatasync of the WAL."""

    def __init__(self, wal, on_sync):
        self.wal, self.on_sync = wal, on_sync

    def __getattr__(self, name):
        return getattr(os, name)

    def fdatasync(self, fd):
        os.fdatasync(fd)
        if os.path.exists(self.wal) and os.fstat(fd).st_ino == os.stat(self.wal).st_ino:
            self.on_sync()


def record_moves(monkeypatch, events) -> None:
    """Append "move to <folder>" to events at each move of the inbox."""
    real_move = inbox_module.move_without_overwrite

    def move(path, directory, *args, **kwargs):
        events.append(f"move to {directory.name}")
        return real_move(path, directory, *args, **kwargs)

    monkeypatch.setattr(inbox_module, "move_without_overwrite", move)


def test_what_an_item_s_moves_and_effects_act_on_is_committed_durably_first(home, monkeypatch):
    """The database runs synchronous=NORMAL: a commit is durable only once its WAL is synced.

    Each act (the input leaving processing/, its result named, its message sent) must come after
    a WAL sync that followed every decision before it (a transaction: the item's end state with
    the effects it owes), or a power cut could leave the act without the row that decided it: a
    file in done/ whose item never became done, with its result and message never queued. The
    counts and marks committed alone (an attempt, a try, an effect sent) are synced when the
    agent idles.
    """
    home.drop("letter.txt", JANE)
    agent = home.agent()
    events = []

    def traced(statement):
        verb = statement.split(None, 1)[0].upper()
        if verb == "COMMIT":
            events.append("decision")
        elif verb in {"INSERT", "UPDATE", "DELETE"}:
            events.append("write")

    agent.db.connection.set_trace_callback(traced)
    monkeypatch.setattr(
        files, "os", WalSyncWatch(f"{agent.db.path}-wal", lambda: events.append("synced"))
    )
    real_rename = effects.rename_no_replace

    def rename(source, target):
        events.append("result named")
        return real_rename(source, target)

    real_send = agent.notifier.send

    def send(text):
        events.append("sent")
        return real_send(text)

    record_moves(monkeypatch, events)
    monkeypatch.setattr(effects, "rename_no_replace", rename)
    monkeypatch.setattr(agent.notifier, "send", send)

    assert agent.run_once() == 1
    agent.write_heartbeat("idle")

    acts = {"move to done", "result named", "sent"}
    assert acts <= set(events)
    owed = False
    for event in events:
        if event in acts:
            assert not owed, f"{event} acted on a decision not yet synced: {events}"
        owed = (owed or event == "decision") and event != "synced"
    last_write = max(i for i, event in enumerate(events) if event in {"write", "decision"})
    assert "synced" in events[last_write:], f"the idle agent left commits unsynced: {events}"
    agent.close()
    assert home.files("done") == ["letter.txt"]


def test_recovery_syncs_the_dead_process_s_commits_before_it_acts_on_them(home, monkeypatch):
    digest = hashlib.sha256(JANE.encode()).hexdigest()
    home.agent().close()
    dead = agent_module.Agent(home.settings())  # decides the item, then dies before the move
    dead.db.start_attempt(digest, digest[:16], "letter.txt")
    dead.db.finish_item(digest, "done", outbox=f"{digest[:16]}.json")
    (home.state / "processing" / "letter.txt").write_text(JANE)
    events = []
    record_moves(monkeypatch, events)
    monkeypatch.setattr(
        files, "os", WalSyncWatch(f"{dead.db.path}-wal", lambda: events.append("synced"))
    )
    agent = home.agent()  # start() recovers processing/: the decided item gets its last move
    agent.close()
    dead.db.close()

    assert home.files("done") == ["letter.txt"]
    assert "move to done" in events
    assert "synced" in events[: events.index("move to done")], events


def test_a_done_item_s_move_is_durable_before_its_result_is_named(home, monkeypatch):
    home.drop("letter.txt", JANE)
    agent = home.agent()
    outbox, done = home.state / "outbox", home.state / "done"
    seen = []
    real = inbox_module.fsync_directory

    def fsync_directory(folder):
        seen.append((folder, sorted(p.name for p in outbox.iterdir() if p.suffix == ".json")))
        real(folder)

    monkeypatch.setattr(inbox_module, "fsync_directory", fsync_directory)
    assert agent.run_once() == 1
    agent.close()

    assert home.files("done") == ["letter.txt"]
    assert [names for folder, names in seen if folder == done] == [[]]
    assert len(home.files("outbox")) == 1
    assert audit.verify(home.state / "audit.jsonl") == []


def test_items_decided_back_to_back_share_their_syncs_in_each_item_s_order(home, monkeypatch):
    """Group commit: the items of one batch are moved together, their moves made durable with one
    fsync of done/, before any of their results is named; each result is named before its
    message is sent."""
    monkeypatch.setattr(agent_module, "BATCH_SECONDS", 3600.0)  # the batch ends on its size
    people = ["Jane Doe", "Youssef Benali", "Chidi Okafor", "Jane Doe", "Youssef Benali"]
    for number, person in enumerate(people):
        home.drop(f"letter-{number}.txt", f"Patient: {person}\nDocument type: note {number}\n")
    agent = home.agent()
    done = home.state / "done"
    events = []
    real_sync = inbox_module.fsync_directory

    def fsync_directory(folder):
        if folder == done:
            events.append("done/ synced")
        real_sync(folder)

    real_rename = effects.rename_no_replace

    def rename(source, target):
        events.append(f"named {target.name}")
        return real_rename(source, target)

    real_send = agent.notifier.send

    def send(text):
        events.append("sent " + text)
        return real_send(text)

    record_moves(monkeypatch, events)
    monkeypatch.setattr(inbox_module, "fsync_directory", fsync_directory)
    monkeypatch.setattr(effects, "rename_no_replace", rename)
    monkeypatch.setattr(agent.notifier, "send", send)
    monkeypatch.setattr(agent_module, "BATCH_ITEMS", 3)

    assert agent.run_once() == len(people)
    agent.close()

    assert len(home.files("done")) == len(people) and len(home.files("outbox")) == len(people)
    assert events.count("done/ synced") == 2, events  # a batch of 3, then one of 2
    first_sync = events.index("done/ synced")
    assert events[:first_sync].count("move to done") == 3, events
    assert not [e for e in events[:first_sync] if e.startswith("named")], events
    for written in home.files("outbox"):
        item_id = written.removesuffix(".json")
        named = events.index(f"named {written}")
        sent = next(i for i, e in enumerate(events) if e.startswith("sent") and item_id in e)
        assert named < sent, events
    assert audit.verify(home.state / "audit.jsonl") == []
