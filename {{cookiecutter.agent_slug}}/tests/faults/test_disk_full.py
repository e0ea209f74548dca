"""Disk full: inputs stay where they were, one alert, the agent resumes by itself, nothing is lost.

ENOSPC is injected in-process at every write the agent makes while processing a batch (file
writes, fsyncs, SQLite transactions), one write point per case; a real tiny tmpfs is filled up
too when the test runs as root and may mount one. A failing audit append (EIO, at every append in
turn) must stop processing, leave no result without its record, and lose nothing on the next start.
"""

import errno
import os
import sqlite3
import stat
import subprocess
from contextlib import contextmanager
from pathlib import Path

import corpus
import evidence
import pytest
import rig

from {{ cookiecutter.package_name }}.contract import files
from {{ cookiecutter.package_name }}.observability import audit, costs
from {{ cookiecutter.package_name }}.observability.audit import AuditError
from {{ cookiecutter.package_name }}.security.db import Database

pytestmark = pytest.mark.faults

# Each input and the folder its kind puts it in.
BATCH = {
    "jane.txt": (corpus.document(corpus.PEOPLE[1]).encode(), "done"),
    "marie.md": (corpus.document(corpus.AMBIGUOUS).encode(), "review"),
    "latin1.txt": ("Patient: Zoë Lévêque\n".encode("latin-1"), "failed"),
    "benali.pdf": (corpus.text_pdf(corpus.document(corpus.PEOPLE[4])), "done"),
    "chidi.txt": (corpus.document(corpus.PEOPLE[5]).encode(), "done"),
}
FULL_FOR_WRITES = 3  # how many writes fail once the disk is full (the probes included)
MAX_ROUNDS = 12
DISK_ALERT = "disk is full"
RECOVERED = "recovered"
TMPFS_BYTES = 4 * 1024 * 1024
FILLER_CHUNKS = (64 * 1024, 4096, 512, 1)


class Disk:
    """Make the agent's writes fail with an errno from the n-th one on, for a number of writes."""

    def __init__(self, code: int = errno.ENOSPC):
        self.code = code
        self.writes = 0
        self.fail_from: int | None = None
        self.fail_for = 0
        self.failed = 0

    def spend(self) -> None:
        self.writes += 1
        if self.fail_from is None or self.writes < self.fail_from or self.failed >= self.fail_for:
            return
        self.failed += 1
        raise OSError(self.code, os.strerror(self.code))

    def spend_sql(self) -> None:
        try:
            self.spend()
        except OSError:
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorcode = sqlite3.SQLITE_FULL
            raise error from None


class FailingOs:
    """The os module, with write(), fsync() and fdatasync() of regular files through a Disk."""

    def __init__(self, disk: Disk):
        self._disk = disk

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        self._disk.spend()
        return os.write(fd, data)

    def fsync(self, fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):  # a directory's fsync never reports ENOSPC
            self._disk.spend()
        return os.fsync(fd)

    def fdatasync(self, fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            self._disk.spend()
        return os.fdatasync(fd)


def attach(monkeypatch, disk: Disk, *, database: bool = True, modules=(audit, costs, files)):
    """Route the agent's writes through disk: files, their syncs, the database's log's sync, and
    every SQLite write (a transaction, or a count or mark committed alone)."""
    for module in modules:
        monkeypatch.setattr(module, "os", FailingOs(disk))
    if database:
        write, count_one = Database.write, Database._count_one

        @contextmanager
        def failing_write(self):
            disk.spend_sql()
            with write(self) as connection:
                yield connection

        def failing_count_one(self, statement, parameters):
            disk.spend_sql()
            return count_one(self, statement, parameters)

        monkeypatch.setattr(Database, "write", failing_write)
        monkeypatch.setattr(Database, "_count_one", failing_count_one)


def drop_batch(home) -> dict[str, tuple]:
    """Drop BATCH; return name -> (fingerprint, mtime) as dropped."""
    dropped = {}
    for number, (name, (data, _)) in enumerate(BATCH.items()):
        path = home.drop(name, data, age=100 - number)
        dropped[name] = (evidence.sha256(data), path.stat().st_mtime_ns)
    return dropped


def unfinished_inputs_untouched(home, dropped: dict, in_flight_allowed: bool = False) -> list[str]:
    """Return the inputs that are neither decided nor exactly as dropped in incoming/.

    An input may also wait in processing/ when it was decided (its last move is recovery's job),
    or, with in_flight_allowed, when processing stopped in the middle of it.
    """
    decided = {key for key in evidence.placements(home.state)}
    rows = {row["content_hash"]: row for row in evidence.item_rows(home.state).values()}
    problems = []
    for name, (key, mtime) in dropped.items():
        if key in decided:
            continue
        path = home.state / "incoming" / name
        if path.exists() and (evidence.fingerprint(path), path.stat().st_mtime_ns) == (key, mtime):
            continue
        in_processing = [
            p for p in evidence.entries(home.state / "processing") if evidence.fingerprint(p) == key
        ]
        decided_before = rows.get(key) and rows[key]["status"] in evidence.TERMINAL_FOLDERS
        if in_processing and (decided_before or in_flight_allowed):
            continue
        problems.append(f"{name} is not back in incoming/ untouched")
    return problems


def ended_as_designed(home) -> list[str]:
    """Return the inputs of BATCH that did not end exactly once in their folder."""
    placed = evidence.placements(home.state)
    problems = []
    for name, (data, folder) in BATCH.items():
        where = placed.get(evidence.sha256(data), [])
        if [f for f, _ in where] != [folder]:
            problems.append(f"{name} ended in {where}, expected {folder}/")
    return problems


def run_until_settled(agent, on_round=None) -> None:
    for _ in range(MAX_ROUNDS):
        agent.run_once()
        if on_round:
            on_round()
        if agent.disk_full_since is None and not evidence.entries(
            agent.settings.state_dir / "incoming"
        ):
            return


def count_writes(home, monkeypatch) -> int:
    """Process BATCH once without faults; return how many writes it made."""
    disk = Disk()
    with monkeypatch.context() as patch:
        attach(patch, disk)
        drop_batch(home)
        agent = home.agent()
        disk.writes = 0
        run_until_settled(agent)
        agent.close()
    return disk.writes


def test_enospc_at_every_write_pauses_alerts_once_and_resumes(report, home, new_home, monkeypatch):
    report.test = "disk full (injected ENOSPC)"
    writes = count_writes(home, monkeypatch)
    report.tried = (
        f"{len(BATCH)} inputs; ENOSPC injected at each of the {writes} writes (file writes, "
        f"fsyncs, SQLite transactions) the batch makes, one case each, the disk full for "
        f"{FULL_FOR_WRITES} writes"
    )
    problems, alerts_per_case, paused_cases = [], [], 0
    losses = duplicates = 0
    for first_failing in range(1, writes + 1):
        label = f"ENOSPC at write {first_failing}"
        case = new_home()
        disk = Disk()
        paused = []
        with monkeypatch.context() as patch:
            attach(patch, disk)
            dropped = drop_batch(case)
            agent = case.agent()
            notifier = agent.notifier = rig.RecordingNotifier()
            disk.writes, disk.fail_from, disk.fail_for = 0, first_failing, FULL_FOR_WRITES

            def check_pause(agent=agent, case=case, dropped=dropped, paused=paused):
                if agent.disk_full_since is not None:
                    paused.append(unfinished_inputs_untouched(case, dropped))

            run_until_settled(agent, check_pause)
            agent.close()
        moved = sorted({problem for found in paused for problem in found})
        unfinished = evidence.entries(case.state / "incoming")
        unfinished += evidence.entries(case.state / "processing")
        misplaced = ended_as_designed(case)
        excess, excess_problems = evidence.excess_records(case.state)
        alerts = sum(DISK_ALERT in text for text in notifier.texts)
        recovered = sum(RECOVERED in text for text in notifier.texts)
        # A heartbeat that cannot be written does not pause the loop: the health check sees it.
        if (alerts, recovered) != ((1, 1) if paused else (0, 0)):
            problems.append(f"{label}: {alerts} disk alert(s), {recovered} recovery message(s)")
        problems += [f"{label}, while paused: {problem}" for problem in moved]
        problems += [f"{label}: never finished {p.name}" for p in unfinished]
        problems += [f"{label}: {problem}" for problem in misplaced + excess_problems]
        if audit.verify(case.state / "audit.jsonl"):
            problems.append(f"{label}: audit verify fails")
        problems += [f"{label}: left {stray}" for stray in evidence.stray_state_entries(case.state)]
        losses += len(moved) + len(unfinished) + len(misplaced)
        duplicates += excess
        alerts_per_case.append(alerts)
        paused_cases += bool(paused)
    report.cases, report.losses, report.duplicates = writes, losses, duplicates
    unpaused = writes - paused_cases
    report.found = (
        f"{paused_cases} of {writes} cases paused with the inputs untouched in incoming/"
        + (f" ({unpaused} hit a heartbeat write, which only logs)" if unpaused else "")
        + f"; disk alerts per case: {sorted(set(alerts_per_case))}; each resumed by itself"
    )
    assert problems == []


def test_a_failing_audit_append_stops_processing_and_loses_nothing(
    report, home, new_home, monkeypatch
):
    report.test = "audit append fails (EIO)"
    # How many writes and syncs of the audit log the batch makes: each one gets its turn to fail.
    disk = Disk(errno.EIO)
    with monkeypatch.context() as patch:
        attach(patch, disk, database=False, modules=(audit,))
        drop_batch(home)
        agent = home.agent()
        disk.writes = 0
        run_until_settled(agent)
        agent.close()
    operations = disk.writes  # each entry is written, and each sync point fdatasyncs
    report.tried = (
        f"{len(BATCH)} inputs; the audit log refuses (EIO) write or sync 1, 2, ... "
        f"{operations} in turn"
    )
    problems, unrecorded, losses, duplicates, stopped = [], 0, 0, 0, 0
    for failing in range(1, operations + 1):
        case = new_home()
        disk = Disk(errno.EIO)
        label = f"audit write or sync {failing} fails"
        with monkeypatch.context() as patch:
            attach(patch, disk, database=False, modules=(audit,))
            dropped = drop_batch(case)
            agent = case.agent()
            disk.writes, disk.fail_from, disk.fail_for = 0, failing, len(BATCH) * 100
            try:
                run_until_settled(agent)
            except AuditError:
                stopped += 1
            else:
                problems.append(f"{label}: processing went on without its audit log")
            agent.close()
        # Nothing acted without a record: every result in outbox/ was recorded first.
        recorded = {
            entry["detail"].get("file")
            for entry in evidence.audit_entries(case.state)
            if entry["action"] == "outbox.written"
        }
        for result in (case.state / "outbox").iterdir():
            if result.name not in recorded:
                unrecorded += 1
                problems.append(f"{label}: outbox/{result.name} written without its audit entry")
        # The inputs not reached are untouched; the one in flight waits in processing/.
        moved = unfinished_inputs_untouched(case, dropped, in_flight_allowed=True)
        problems += [f"{label}: {problem}" for problem in moved]
        # The next start recovers it and finishes everything.
        agent = case.agent()
        run_until_settled(agent)
        agent.close()
        misplaced = ended_as_designed(case)
        problems += [f"{label}, then restarted: {problem}" for problem in misplaced]
        verify = audit.verify(case.state / "audit.jsonl")
        if verify:
            problems.append(f"{label}: audit verify: {verify[0]}")
        excess, excess_problems = evidence.excess_records(case.state)
        problems += [f"{label}: {problem}" for problem in excess_problems]
        losses += len(moved) + len(misplaced)
        duplicates += excess
    report.cases, report.losses, report.duplicates, report.leaks = (
        operations,
        losses,
        duplicates,
        unrecorded,
    )
    report.found = (
        f"{stopped} of {operations} failing writes or syncs stopped processing (AuditError); "
        f"{unrecorded} result(s) without their record; the next start finished every input"
    )
    assert problems == []


@contextmanager
def tmpfs(where: Path, size: int):
    """Mount a tmpfs of size bytes at where, or skip the test saying why it cannot."""
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip(
            "a real full disk needs root to mount a tmpfs (the injected ENOSPC runs anyway)"
        )
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mount.stderr.strip() or mount.returncode})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the file system is full; return it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for chunk in FILLER_CHUNKS:
            while True:
                try:
                    os.write(fd, bytes(chunk))
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


def test_a_real_full_tmpfs_pauses_the_agent_until_space_returns(report, home, tmp_path):
    report.test = "disk full (real tmpfs)"
    report.tried = (
        f"{len(BATCH)} inputs on a {TMPFS_BYTES // 1024 // 1024} MB tmpfs filled to the last "
        "byte after start; three loops while full; then the filler removed"
    )
    with tmpfs(tmp_path / "disk", TMPFS_BYTES) as disk:
        (disk / "home").mkdir()
        case = type(home)(disk / "home")
        case.write_env(**home.env)
        agent = case.agent()
        notifier = agent.notifier = rig.RecordingNotifier()
        dropped = drop_batch(case)
        filler = fill(disk)
        problems, moved = [], []
        for _ in range(3):
            agent.run_once()
            if agent.disk_full_since is None:
                problems.append("the agent did not pause on a full disk")
            moved += unfinished_inputs_untouched(case, dropped)
        alerts_while_full = sum(DISK_ALERT in text for text in notifier.texts)
        filler.unlink()
        run_until_settled(agent)
        agent.close()
        misplaced = ended_as_designed(case)
        problems += moved + misplaced
        recovered = sum(RECOVERED in text for text in notifier.texts)
        if (alerts_while_full, recovered) != (1, 1):
            problems.append(f"{alerts_while_full} disk alert(s), {recovered} recovery message(s)")
        if audit.verify(case.state / "audit.jsonl"):
            problems.append("audit verify fails")
        excess, excess_problems = evidence.excess_records(case.state)
        problems += excess_problems
        problems += [f"left {stray}" for stray in evidence.stray_state_entries(case.state)]
    report.cases = len(BATCH)
    report.losses = len(moved) + len(misplaced)
    report.duplicates = excess
    alert = next((text for text in notifier.texts if DISK_ALERT in text), "")
    report.found = (
        f"paused with every input untouched in incoming/; {alerts_while_full} alert "
        f"({alert.split(';')[0]}); resumed by itself once the filler was removed; "
        f"{recovered} recovery message"
    )
    assert problems == []
