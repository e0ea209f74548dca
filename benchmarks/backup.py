"""The nightly backup of 20 agents with a year of cost records: its duration and restic's memory.

Backs up the cost figure's state tree (20 agents, a year of cost records each, their databases):
each agent's `snapshot --into`, then `restic backup` of the snapshots into an empty local
repository, as pillars-backup.service does on the first night (every byte new). The baseline of the
duration is one checksum pass over the same files (reading every byte once); restic's peak RSS is
held against the backup unit's MemoryMax= (roles/backup/defaults/main.yml).
"""

import hashlib
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

from harness import MIB, BenchmarkError, Series, clean_environment, run_command

logger = logging.getLogger(__name__)

MEMORY_MAX_MIB = 256  # backup_memory_max
RSS_GOAL_MIB = 200  # room under MemoryMax= for restic's cache and the kernel's accounting
DURATION_GOAL = 10.0  # the whole backup within ten checksum passes over the same bytes
PASSWORD = "bench-restic-password"  # noqa: S105 (a throwaway repository's)


def checksum_pass(root: Path) -> int:
    """Read every file under root once (sha256); return the bytes read."""
    total = 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
                    total += len(block)
    return total


def restic_backup(restic: str, repository: Path, source: Path, env: dict) -> tuple[float, int]:
    """Back source up into a new repository; return (wall seconds, peak RSS in bytes)."""
    run_command([restic, "init"], env=env, what="restic init")
    started = time.perf_counter()
    process = subprocess.Popen(
        [restic, "backup", "--quiet", "--host", "bench", "--tag", "pillars", str(source)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise BenchmarkError(f"restic backup exited {process.returncode}: {error.strip()[-400:]}")
    return elapsed, usage.ru_maxrss * 1024


def measure(bench, row_type) -> list:
    """Return the rows: the backup's duration and restic's peak RSS (row_type is figures.Row)."""
    figure = "Nightly backup of 20 agents with a year of cost records (snapshots + restic)"
    restic = shutil.which("restic")
    state_root = bench.extras.get("cost_state_root")
    if restic is None or state_root is None:
        why = (
            "restic is not installed (apt install restic)"
            if restic is None
            else "the cost history was not generated"
        )
        return [
            row_type.not_measured(f"{figure}: wall seconds", "", "", why),
            row_type.not_measured(f"{figure}: restic peak RSS", "", "", why),
        ]
    slugs = sorted(path.name for path in state_root.iterdir() if path.is_dir())
    env_file = bench.env_file(LLM_PROVIDER="fake", LLM_MODEL="fake-extractor-1")
    seconds, baseline, rss = Series("s"), Series("s"), Series("MiB")
    size = 0
    for rep in range(min(bench.reps, 2)):
        logger.info("Backup of %d agents, repetition %d", len(slugs), rep + 1)
        work = bench.scratch("backup")
        snapshots = work / "snapshots"
        snapshots.mkdir()
        started = time.perf_counter()
        for slug in slugs:
            (snapshots / slug).mkdir()
            run_command(
                bench.agent_argv(
                    env_file, state_root / slug, "snapshot", "--into", str(snapshots / slug)
                ),
                env=clean_environment(),
                cwd=bench.agent.project,
                what=f"the snapshot of {slug}",
            )
        snapshot_seconds = time.perf_counter() - started
        env = clean_environment(
            RESTIC_REPOSITORY=str(work / "repository"),
            RESTIC_PASSWORD=PASSWORD,
            RESTIC_CACHE_DIR=str(work / "cache"),
        )
        restic_seconds, peak = restic_backup(restic, work / "repository", snapshots, env)
        seconds.add(snapshot_seconds + restic_seconds)
        rss.add(peak / MIB)
        started = time.perf_counter()
        size = checksum_pass(state_root)
        baseline.add(time.perf_counter() - started)
        shutil.rmtree(work, ignore_errors=True)
    bench.extras["backup"] = {"bytes": size, "agents": len(slugs)}
    ratio = seconds.median / baseline.median
    memory_max = Series("MiB", [float(MEMORY_MAX_MIB)])
    return [
        row_type(
            figure=f"{figure}, {size / MIB:,.0f} MiB, first run into an empty repository: "
            "wall seconds",
            baseline_name="one sha256 pass over the same files",
            goal=f"≤ {DURATION_GOAL:g}× the pass",
            measured=seconds,
            baseline=baseline,
            ratio=ratio,
            ratio_text=f"{ratio:.1f}× the pass",
            passed=ratio <= DURATION_GOAL,
        ),
        row_type(
            figure=f"{figure}: restic's peak RSS",
            baseline_name="the backup unit's MemoryMax=",
            goal=f"≤ {RSS_GOAL_MIB} MiB",
            measured=rss,
            baseline=memory_max,
            ratio=rss.median / MEMORY_MAX_MIB,
            ratio_text=f"{rss.median / MEMORY_MAX_MIB:.0%} of MemoryMax=",
            passed=rss.median <= RSS_GOAL_MIB,
        ),
    ]
