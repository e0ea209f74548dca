"""The hash-chained audit log: tampering is detected and named, crashes and races are survived."""

import itertools
import json
import logging
import multiprocessing
import os
from collections import Counter
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.observability import audit
from {{ cookiecutter.package_name }}.observability.audit import AuditError, AuditLog

ENTRIES = 5
APPENDS_PER_PROCESS = 200
PROCESSES = 2
PROCESS_TIMEOUT_SECONDS = 60
DEV_FULL = Path("/dev/full")


@pytest.fixture
def log_path(tmp_path) -> Path:
    return tmp_path / "audit.jsonl"


def write_entries(path: Path, count: int = ENTRIES) -> list[dict]:
    """Append count entries, then checkpoint the head as an agent does when it idles."""
    log = AuditLog(path)
    entries = [
        log.append("item.received", f"item-{number}", name=f"doc-{number}.pdf", size=number)
        for number in range(1, count + 1)
    ]
    log.checkpoint()
    return entries


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="utf-8")


def test_an_intact_chain_verifies(log_path):
    entries = write_entries(log_path)

    assert audit.verify(log_path) == []
    assert [e["seq"] for e in entries] == list(range(1, ENTRIES + 1))
    assert entries[0]["prev"] == audit.GENESIS_HASH
    for previous, entry in itertools.pairwise(entries):
        assert entry["prev"] == previous["hash"]
    assert audit.read_head(audit.head_path_for(log_path)) == (ENTRIES, entries[-1]["hash"])


def test_entries_are_json_lines_with_the_action_and_detail(log_path):
    AuditLog(log_path).append("review.decided", "item-1", choice=2, by="human", note="Zoë's call")

    (line,) = read_lines(log_path)
    entry = json.loads(line)
    assert entry["action"] == "review.decided"
    assert entry["item"] == "item-1"
    assert entry["detail"] == {"choice": 2, "by": "human", "note": "Zoë's call"}
    assert entry["hash"] == audit.entry_hash(entry)


def test_a_new_log_object_continues_the_chain(log_path):
    write_entries(log_path, 2)

    AuditLog(log_path).append("notification.sent", "item-2")

    assert audit.verify(log_path) == []
    assert len(read_lines(log_path)) == 3


def test_editing_one_field_is_detected_and_the_line_named(log_path):
    write_entries(log_path)
    lines = read_lines(log_path)
    entry = json.loads(lines[2])
    entry["detail"]["name"] = "something-else.pdf"
    lines[2] = json.dumps(entry, sort_keys=True) + "\n"
    write_lines(log_path, lines)

    problems = audit.verify(log_path)

    assert [p.line for p in problems] == [3]
    assert "edited" in problems[0].message
    assert str(problems[0]).startswith("line 3:")


def test_editing_an_entry_and_its_hash_breaks_the_next_link(log_path):
    write_entries(log_path)
    lines = read_lines(log_path)
    entry = json.loads(lines[1])
    entry["action"] = "nothing.happened"
    entry["hash"] = audit.entry_hash(entry)
    lines[1] = json.dumps(entry, sort_keys=True) + "\n"
    write_lines(log_path, lines)

    problems = audit.verify(log_path)

    assert [p.line for p in problems] == [3]
    assert "link broken" in problems[0].message


def test_a_line_that_is_no_longer_json_is_detected(log_path):
    write_entries(log_path)
    lines = read_lines(log_path)
    lines[3] = lines[3].replace("{", "", 1)
    write_lines(log_path, lines)

    problems = audit.verify(log_path)

    assert problems
    assert problems[0].line == 4


def test_removing_a_middle_entry_is_detected(log_path):
    write_entries(log_path)
    lines = read_lines(log_path)
    del lines[2]
    write_lines(log_path, lines)

    problems = audit.verify(log_path)

    assert problems
    assert {p.line for p in problems} == {3}
    assert any("removed" in p.message for p in problems)


def test_cutting_entries_off_the_end_is_detected(log_path):
    write_entries(log_path)
    write_lines(log_path, read_lines(log_path)[:3])

    problems = audit.verify(log_path)

    assert len(problems) == 1
    assert "cut off the end" in problems[0].message
    assert "seq 3" in problems[0].message
    assert f"head says {ENTRIES}" in problems[0].message


def test_deleting_the_whole_log_is_detected(log_path):
    write_entries(log_path)
    log_path.unlink()

    problems = audit.verify(log_path)

    assert len(problems) == 1
    assert "cut off the end" in problems[0].message


def test_history_rewritten_with_a_recomputed_chain_is_detected_up_to_the_checkpoint(log_path):
    write_entries(log_path)
    entries = [json.loads(line) for line in read_lines(log_path)]
    entries[1]["detail"]["name"] = "someone-else.pdf"
    previous = entries[0]["hash"]
    for entry in entries[1:]:  # a forger who recomputes every hash after the edit
        entry["prev"] = previous
        entry["hash"] = previous = audit.entry_hash(entry)
    write_lines(log_path, [json.dumps(entry, sort_keys=True) + "\n" for entry in entries])

    problems = audit.verify(log_path)

    assert len(problems) == 1
    assert f"entry seq {ENTRIES} does not match the head checkpoint" in problems[0].message


def test_appends_cost_one_write_and_the_head_is_checkpointed_in_batches(log_path):
    log = AuditLog(log_path)
    head_path = audit.head_path_for(log_path)
    for number in range(1, audit.CHECKPOINT_ENTRIES):
        log.append("item.received", f"item-{number}")
    assert not head_path.exists()
    assert audit.verify(log_path) == []  # entries past the checkpoint are the chain's own

    last = log.append("item.received", "item-last")

    assert audit.read_head(head_path) == (audit.CHECKPOINT_ENTRIES, last["hash"])
    log.append("item.moved", "item-last")
    assert audit.read_head(head_path)[0] == audit.CHECKPOINT_ENTRIES
    log.checkpoint()
    assert audit.read_head(head_path)[0] == audit.CHECKPOINT_ENTRIES + 1


TORN = b'{"action": "item.received", "detail": {"na'


def test_a_torn_last_line_is_closed_on_the_next_open_without_cutting_the_log(log_path, caplog):
    write_entries(log_path, 3)
    with log_path.open("ab") as handle:
        handle.write(TORN)  # crash mid-write
    before = log_path.read_bytes()

    with caplog.at_level(logging.WARNING):
        log = AuditLog(log_path)

    # The log may be append-only (chattr +a): the recovery only ever adds to it.
    assert log_path.read_bytes() == before + b"\n"
    assert audit.verify(log_path) == []
    assert "torn" in caplog.text
    entry = log.append("item.received", "item-4")
    assert entry["seq"] == 4
    lines = read_lines(log_path)
    assert json.loads(lines[-1])["prev"] == json.loads(lines[2])["hash"]
    assert audit.verify(log_path) == []


def test_a_closed_torn_line_is_passed_over_once_and_not_closed_again(log_path):
    write_entries(log_path, 2)
    with log_path.open("ab") as handle:
        handle.write(TORN)
    AuditLog(log_path).append("item.received", "item-3")
    after_first = log_path.read_bytes()

    log = AuditLog(log_path)

    assert log_path.read_bytes() == after_first
    assert log.append("item.received", "item-4")["seq"] == 4
    assert audit.verify(log_path) == []
    assert [line.startswith("{") for line in read_lines(log_path)] == [True] * 5


def test_an_entry_edited_into_a_fragment_still_breaks_the_chain(log_path):
    write_entries(log_path, 4)
    lines = read_lines(log_path)
    lines[1] = lines[1][:40] + "\n"  # looks torn, but it took seq 2
    write_lines(log_path, lines)

    problems = audit.verify(log_path)

    assert {p.line for p in problems} == {3}
    assert any("seq 3 where 2 was expected" in p.message for p in problems)


def test_entries_after_the_checkpoint_survive_a_restart(log_path):
    entries = write_entries(log_path, 3)
    AuditLog(log_path).append("file.moved", "item-3", to="done/")  # the process dies here

    log = AuditLog(log_path)

    assert audit.verify(log_path) == []
    assert log.append("notification.sent", "item-3")["seq"] == 5
    assert json.loads(read_lines(log_path)[3])["prev"] == entries[-1]["hash"]
    assert audit.verify(log_path) == []


def append_many(path: str, start, count: int) -> None:
    log = AuditLog(Path(path))
    start.wait(PROCESS_TIMEOUT_SECONDS)
    for number in range(count):
        log.append("item.received", f"item-{number}", number=number, pid=os.getpid())
    log.checkpoint()


def test_two_processes_appending_at_once_keep_one_valid_chain(log_path):
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [
        context.Process(target=append_many, args=(str(log_path), start, APPENDS_PER_PROCESS))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(PROCESS_TIMEOUT_SECONDS)
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES

    total = PROCESSES * APPENDS_PER_PROCESS
    assert audit.verify(log_path) == []
    entries = [json.loads(line) for line in read_lines(log_path)]
    assert [e["seq"] for e in entries] == list(range(1, total + 1))
    pids = Counter(e["detail"]["pid"] for e in entries)
    assert sorted(pids.values()) == [APPENDS_PER_PROCESS] * PROCESSES
    assert audit.read_head(audit.head_path_for(log_path))[0] == total


def test_an_append_that_cannot_be_written_raises_audit_error(tmp_path):
    # File modes do not stop root (CI runs tests as root): a parent that is a file stops everyone.
    state = tmp_path / "state"
    state.mkdir()
    log = AuditLog(state / "audit.jsonl")
    log.append("item.received", "item-1")
    for child in state.iterdir():
        child.unlink()
    state.rmdir()
    state.write_text("not a directory", encoding="utf-8")

    with pytest.raises(AuditError, match="cannot write the audit log"):
        log.append("item.received", "item-2")


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full to simulate a full disk")
def test_a_full_disk_raises_audit_error_and_the_chain_resumes_after(log_path):
    log = AuditLog(log_path)
    log.append("item.received", "item-1")
    saved = log_path.read_bytes()
    log_path.unlink()
    log_path.symlink_to(DEV_FULL)  # every write fails with ENOSPC, for root too

    with pytest.raises(AuditError, match="processing stopped"):
        log.append("item.received", "item-2")

    log_path.unlink()
    log_path.write_bytes(saved)
    assert log.append("item.received", "item-2")["seq"] == 2
    assert audit.verify(log_path) == []


class CountingOs:
    """The os module, counting the fdatasyncs of the audit log and the size synced by the last."""

    def __init__(self):
        self.syncs = 0
        self.synced_bytes = 0

    def __getattr__(self, name):
        return getattr(os, name)

    def fdatasync(self, fd):
        self.syncs += 1
        self.synced_bytes = os.fstat(fd).st_size
        return os.fdatasync(fd)


def test_noted_entries_are_written_at_once_and_synced_together_by_the_next_sync(
    log_path, monkeypatch
):
    counting = CountingOs()
    monkeypatch.setattr(audit, "os", counting)
    log = AuditLog(log_path)

    for number in range(1, 4):
        log.note("item.received", f"item-{number}")

    assert counting.syncs == 0
    assert len(read_lines(log_path)) == 3  # another process (or a killed one) sees them
    assert audit.verify(log_path) == []
    log.sync()
    assert (counting.syncs, counting.synced_bytes) == (1, log_path.stat().st_size)
    log.sync()
    assert counting.syncs == 1  # nothing noted since: nothing to sync
    log.note("item.moved", "item-3")
    log.append("outbox.written", "item-3")
    assert (counting.syncs, counting.synced_bytes) == (2, log_path.stat().st_size)


def test_the_head_is_never_checkpointed_ahead_of_the_synced_entries(log_path, monkeypatch):
    counting = CountingOs()
    monkeypatch.setattr(audit, "os", counting)
    log = AuditLog(log_path)
    head_path = audit.head_path_for(log_path)

    for number in range(1, audit.CHECKPOINT_ENTRIES + 1):
        log.note("item.received", f"item-{number}")

    assert audit.read_head(head_path)[0] == audit.CHECKPOINT_ENTRIES
    assert (counting.syncs, counting.synced_bytes) == (1, log_path.stat().st_size)
    log.note("item.moved", "item-last")
    log.checkpoint()
    assert audit.read_head(head_path)[0] == audit.CHECKPOINT_ENTRIES + 1
    assert (counting.syncs, counting.synced_bytes) == (2, log_path.stat().st_size)


def test_closing_syncs_what_was_noted(log_path, monkeypatch):
    counting = CountingOs()
    monkeypatch.setattr(audit, "os", counting)
    log = AuditLog(log_path)
    log.note("item.received", "item-1")

    log.close()

    assert counting.syncs == 1
    assert AuditLog(log_path).append("item.moved", "item-1")["seq"] == 2


def test_recovery_locks_the_descriptor_the_appends_lock(log_path, monkeypatch):
    write_entries(log_path, 2)
    locked = []
    flock = audit.fcntl.flock

    class RecordingFcntl:
        LOCK_EX, LOCK_UN = audit.fcntl.LOCK_EX, audit.fcntl.LOCK_UN

        @staticmethod
        def flock(fd, operation):
            locked.append((fd, operation))
            return flock(fd, operation)

    monkeypatch.setattr(audit, "fcntl", RecordingFcntl)
    log = AuditLog(log_path)

    assert locked == [(log.fd, audit.fcntl.LOCK_EX), (log.fd, audit.fcntl.LOCK_UN)]
    assert (log.seq, log.append("item.moved", "item-2")["seq"]) == (2, 3)
    assert locked[2:] == [(log.fd, audit.fcntl.LOCK_EX), (log.fd, audit.fcntl.LOCK_UN)]


@pytest.mark.parametrize(
    "detail",
    [
        {"file": "a.txt", "attempt": 2, "bytes": 10, "cost_usd": 0.000123, "ok": True, "x": None},
        {"person": 7, "evidence": [{"field": "last_name", "line": 3}], "candidates": (1, 2)},
        {"path": Path("/srv/state/done/a.txt"), "nan": float("nan"), "big": 10**30},
        {"ids": {2: "two", 10: "ten"}, "mixed": ["a", 1, None, 1.5]},
    ],
)
def test_every_kind_of_detail_is_read_back_as_written_and_verifies(log_path, detail):
    log = AuditLog(log_path)
    entry = log.append("item.received", "0123456789abcdef", **detail)
    log.note("item.moved", "0123456789abcdef", **detail)
    log.sync()

    lines = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    assert json.dumps(lines[0]["detail"], sort_keys=True) == json.dumps(
        entry["detail"], sort_keys=True
    )
    assert audit.verify(log_path) == []
