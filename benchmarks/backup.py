"""The nightly backup of 20 agents with a year of cost records: its duration and its memory.

Each agent's state directory is the state a `once` run over BACKUP_DOCUMENTS documents left (its
database, a few thousand audit entries, done/, outbox/, archive/), with the cost figure's year of
cost records in costs/. A night is what pillars-backup.service does: every agent's `snapshot
--into` (the documents of backup_documents' default), then `restic backup` of the snapshots
directory. The first night goes into an empty repository (every byte new), the next night into the
same one (the state unchanged). The baseline, in the same repetition, is `restic backup` of the same
state directories as plain files into a repository of their own, also twice. restic's peak RSS is
held against the backup unit's MemoryMax= (roles/backup/defaults/main.yml), the snapshot's against
the snapshot unit's.
"""

import importlib.util
import logging
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import figures
from agent_setup import REPO_ROOT
from harness import KIB, MIB, BenchmarkError, Series, clean_environment, log_tail, run_command

logger = logging.getLogger(__name__)

# The backup role's tool, for the `restic backup` arguments a night runs with.
_spec = importlib.util.spec_from_file_location(
    "pillars_backup", REPO_ROOT / "roles" / "backup" / "files" / "pillars_backup.py"
)
pillars_backup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pillars_backup)

BACKUP_DOCUMENTS = 500  # per agent: about 3,000 audit entries, 500 items in done/ and outbox/
SNAPSHOT_DOCUMENTS = "done,failed,archive"  # backup_documents' default
MEMORY_MAX_MIB = 200  # backup_memory_max
SNAPSHOT_MEMORY_MAX_MIB = 256  # MemoryMax= of pillars-snapshot@.service
MEMORY_MARGIN = 2.0  # MemoryMax= is at least twice restic's peak RSS
DURATION_GOAL = 1.5  # a night within 1.5x restic's backup of the same files as they lie
BASELINE_CODE = "import json, sqlite3, time; time.sleep(0.2)"
GNU_TIME = "/usr/bin/time"
PASSWORD = "bench-restic-password"  # noqa: S105 (a throwaway repository's)


def measured_run(argv: list[str], *, env: dict, cwd: Path | None, log: Path, what: str):
    """Run argv to completion with its output in log; return (wall seconds, peak RSS in bytes).

    The peak RSS is GNU time's (`%M`): the ru_maxrss that wait4() gives for a child this process
    spawns directly is at least this process's own peak (a vfork()ed child's exec() keeps the
    high-water mark of the memory it leaves), whereas time fork()s from its own few pages.
    """
    figures_file = log.with_name(f"{log.name}.rss")
    started = time.perf_counter()
    with log.open("ab") as output:
        result = subprocess.run(
            [GNU_TIME, "-f", "%M", "-o", str(figures_file), *argv],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            check=False,
        )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchmarkError(f"{what} exited {result.returncode}: {log_tail(log).strip()}")
    text = figures_file.read_text(encoding="utf-8").split()
    if not text or not text[-1].isdigit():
        raise BenchmarkError(f"{GNU_TIME} wrote no peak RSS for {what} in {figures_file}")
    return elapsed, int(text[-1]) * KIB


class Repository:
    """A local restic repository of its own: its environment, and a backup's seconds and RSS."""

    def __init__(self, restic: str, work: Path, name: str):
        self.restic = restic
        self.log = work / f"{name}.log"
        self.env = clean_environment(
            RESTIC_REPOSITORY=str(work / name),
            RESTIC_PASSWORD=PASSWORD,
            RESTIC_CACHE_DIR=str(work / f"{name}-cache"),
        )
        run_command([restic, "init"], env=self.env, what=f"restic init of {name}")

    def run(self, *args: str) -> tuple[float, int]:
        return measured_run(
            [self.restic, *args], env=self.env, cwd=None, log=self.log, what=f"restic {args[0]}"
        )

    def backup(self, source: Path) -> tuple[float, int]:
        # As pillars-backup.service runs it (its --json summary is what it keeps).
        argv = [self.restic, *pillars_backup.backup_arguments(str(source), "bench")]
        return measured_run(argv, env=self.env, cwd=None, log=self.log, what="restic backup")


def agent_states(cost_root: Path, pipeline_state: Path, root: Path) -> list[str]:
    """Lay out one state directory per agent of the cost history; return their names."""
    slugs = sorted(path.name for path in cost_root.iterdir() if path.is_dir())
    for slug in slugs:
        state = root / slug
        shutil.copytree(pipeline_state, state, symlinks=True)
        shutil.rmtree(state / "costs")
        (state / "costs").mkdir()
        for path in (cost_root / slug / "costs").iterdir():
            os.link(path, state / "costs" / path.name)
    return slugs


def snapshot_all(bench, env_file: Path, states: Path, snapshots: Path, slugs, log: Path):
    """Every agent's snapshot at once, as systemd starts the pillars-snapshot@ units that
    pillars-backup.service wants; return (wall seconds until the last ends, largest peak RSS)."""

    def snapshot(slug: str) -> int:
        (snapshots / slug).mkdir(exist_ok=True)
        argv = bench.agent_argv(
            env_file, states / slug, "snapshot", "--into", str(snapshots / slug)
        )
        _, rss = measured_run(
            [*argv, "--documents", SNAPSHOT_DOCUMENTS],
            env=clean_environment(),
            cwd=bench.agent.project,
            log=log.with_name(f"{log.stem}-{slug}.log"),
            what=f"the snapshot of {slug}",
        )
        return rss

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(slugs)) as pool:
        peaks = list(pool.map(snapshot, slugs))
    return time.perf_counter() - started, max(peaks, default=0)


def tree_size(root: Path) -> tuple[int, int]:
    """Return (bytes, files) under root, a hard-linked file once."""
    seen, size = set(), 0
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            info = path.stat()
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                size += info.st_size
    return size, len(seen)


def not_measured(row_type, figure: str, why: str) -> list:
    return [
        row_type.not_measured(f"{figure}: {what}", "", "", why)
        for what in ("first night", "next night", "restic's peak RSS", "the snapshot's peak RSS")
    ]


def measure(bench, row_type, history=None) -> list:
    """Return the rows of the backup figure (row_type is figures.Row).

    The cost figure's history is reused when it ran; otherwise it is generated here (history is
    then figures.CostHistory).
    """
    figure = "Nightly backup of {agents} agents with a year of cost records"
    restic = shutil.which("restic")
    if restic is None:
        why = "restic is not installed (apt install restic)"
        return not_measured(row_type, figure.format(agents=20), why)
    if not Path(GNU_TIME).is_file():
        why = f"GNU time is not installed as {GNU_TIME} (apt install time)"
        return not_measured(row_type, figure.format(agents=20), why)
    logger.info("Backup: `once` over %d documents, the state every agent gets", BACKUP_DOCUMENTS)
    pipeline_state = figures.processed_state(bench, BACKUP_DOCUMENTS)
    cost_root = bench.extras.get("cost_state_root")
    if cost_root is None:
        if history is None:
            why = "the cost history was not generated"
            return not_measured(row_type, figure.format(agents=20), why)
        bench.extras.setdefault("pipeline_state", pipeline_state)
        cost_root = bench.scratch("backup-costs") / "state"
        figures.generate_costs(bench, history, cost_root)
    states = bench.scratch("backup-states")
    slugs = agent_states(cost_root, pipeline_state, states)
    figure = figure.format(agents=len(slugs))
    audit_entries = len((pipeline_state / "audit.jsonl").read_bytes().splitlines())
    size, files = tree_size(states)
    env_file = bench.env_file(**figures.PROVIDER_SETTINGS[figures.DEFAULT_PROVIDER])
    first, next_night, plain_first, plain_next = (Series("s") for _ in range(4))
    restic_rss, plain_rss, snapshot_rss = Series("MiB"), Series("MiB"), Series("MiB")
    snapshot_seconds = Series("s")
    restic_seconds_by_night = {"first": Series("s"), "next": Series("s")}
    upkeep_rss = {"prune": Series("MiB"), "check": Series("MiB")}
    for rep in range(min(bench.reps, 3)):
        logger.info("Backup of %d agents, repetition %d", len(slugs), rep + 1)
        work = bench.scratch("backup")
        snapshots = work / "snapshots"
        snapshots.mkdir()
        plain = Repository(restic, work, "plain-repository")
        repository = Repository(restic, work, "repository")
        night_rss = []
        for name, night in (("first", first), ("next", next_night)):
            seconds, peak = snapshot_all(
                bench, env_file, states, snapshots, slugs, work / "snapshot.log"
            )
            snapshot_seconds.add(seconds)
            snapshot_rss.add(peak / MIB)
            restic_seconds, rss = repository.backup(snapshots)
            night.add(seconds + restic_seconds)
            restic_seconds_by_night[name].add(restic_seconds)
            night_rss.append(rss)
        restic_rss.add(max(night_rss) / MIB)
        # The rest of what runs under the same MemoryMax=: the prune of `forget --prune` (which
        # prunes only once a snapshot is forgotten) and the weekly `check --read-data-subset`.
        upkeep_rss["prune"].add(repository.run("prune")[1] / MIB)
        upkeep_rss["check"].add(repository.run("check", "--read-data-subset", "5%")[1] / MIB)
        plain_night_rss = []
        for night in (plain_first, plain_next):
            seconds, rss = plain.backup(states)
            night.add(seconds)
            plain_night_rss.append(rss)
        plain_rss.add(max(plain_night_rss) / MIB)
        shutil.rmtree(work, ignore_errors=True)
    _, bare = measured_run(
        [str(bench.agent.python), "-c", BASELINE_CODE],
        env=clean_environment(),
        cwd=None,
        log=states / "baseline.log",
        what="python -c 'import json, sqlite3'",
    )
    bare_rss = Series("MiB", [bare / MIB])
    bench.extras["backup"] = {
        "bytes": size,
        "files": files,
        "agents": len(slugs),
        "audit_entries": audit_entries,
        "documents": BACKUP_DOCUMENTS,
        "snapshot_seconds": snapshot_seconds,
        "restic_seconds": restic_seconds_by_night,
        "upkeep_rss": upkeep_rss,
    }
    shape = (
        f"{figure} ({len(slugs)} × {audit_entries:,} audit entries, {BACKUP_DOCUMENTS} documents "
        f"in done/ and outbox/; {size / MIB:,.0f} MiB in {files:,} files)"
    )
    baseline_name = "`restic backup` of the same state directories as plain files"
    rows = []
    for night, plain_night, what in (
        (first, plain_first, "first night, into an empty repository"),
        (next_night, plain_next, "next night, state unchanged"),
    ):
        ratio = night.median / plain_night.median
        rows.append(
            row_type(
                figure=f"{shape}, {what}: wall seconds ({len(slugs)} snapshots + `restic backup`)",
                baseline_name=f"{baseline_name}, {what.split(',')[0]}",
                goal=f"≤ {DURATION_GOAL:g}× the baseline",
                measured=night,
                baseline=plain_night,
                ratio=ratio,
                ratio_text=f"{ratio:.2f}× the baseline",
                passed=ratio <= DURATION_GOAL,
            )
        )
    rss_goal = MEMORY_MAX_MIB / MEMORY_MARGIN
    ratio = restic_rss.median / plain_rss.median
    rows.append(
        row_type(
            figure=f"{figure}: restic's peak RSS (the larger of the two nights)",
            baseline_name=f"{baseline_name} (the larger of the two)",
            goal=f"≤ {rss_goal:g} MiB (MemoryMax= {MEMORY_MAX_MIB}M / {MEMORY_MARGIN:g})",
            measured=restic_rss,
            baseline=plain_rss,
            ratio=ratio,
            ratio_text=f"{ratio:.2f}× the baseline; "
            f"{restic_rss.median / MEMORY_MAX_MIB:.0%} of MemoryMax=",
            passed=max(restic_rss.values) <= rss_goal,
        )
    )
    ratio = snapshot_rss.median / bare_rss.median
    rows.append(
        row_type(
            figure=f"{figure}: the snapshot's peak RSS (the largest of the {len(slugs)} agents)",
            baseline_name="`python -c 'import json, sqlite3'`",
            goal=f"≤ {SNAPSHOT_MEMORY_MAX_MIB / MEMORY_MARGIN:g} MiB (the snapshot unit's "
            f"MemoryMax= {SNAPSHOT_MEMORY_MAX_MIB}M / {MEMORY_MARGIN:g})",
            measured=snapshot_rss,
            baseline=bare_rss,
            ratio=ratio,
            ratio_text=f"{ratio:.2f}× the baseline",
            passed=max(snapshot_rss.values) <= SNAPSHOT_MEMORY_MAX_MIB / MEMORY_MARGIN,
        )
    )
    return rows
