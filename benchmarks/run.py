#!/usr/bin/env python3
"""Measure what pillars agents cost against baselines in the same run; write docs/benchmarks.md.

    python benchmarks/run.py [--reps N] [--container] [--keep]

Bakes an agent with the template's defaults, installs it into a scratch virtualenv, measures each
figure of the table side by side with its baseline, and writes the table, the machine and how to
reproduce it. Nothing here is a test: no timing is asserted, the table says PASS or MISS.
"""

import argparse
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import backup
import container
import figures
import ocr
import report
from agent_setup import REPO_ROOT, bake, install
from harness import BenchmarkError

logger = logging.getLogger("benchmarks")

DEFAULT_REPS = 5
DEFAULT_DOCUMENTS = 200
DEFAULT_CONTAINER_REPS = 3
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks.md"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Measure pillars against baselines in the same run; write docs/benchmarks.md.",
    )
    parser.add_argument(
        "--reps",
        type=positive_int,
        default=DEFAULT_REPS,
        help=f"repetitions of every figure (default {DEFAULT_REPS})",
    )
    parser.add_argument(
        "--documents",
        type=positive_int,
        default=DEFAULT_DOCUMENTS,
        help=f"documents in the throughput run (default {DEFAULT_DOCUMENTS})",
    )
    parser.add_argument(
        "--cost-agents",
        type=positive_int,
        default=20,
        help="agents in the cost history (default 20)",
    )
    parser.add_argument(
        "--cost-days",
        type=positive_int,
        default=365,
        help="days of cost history per agent (default 365)",
    )
    parser.add_argument(
        "--cost-calls",
        type=positive_int,
        default=200,
        help="LLM calls per agent per day (default 200)",
    )
    parser.add_argument(
        "--container",
        action="store_true",
        help="also measure figures 5 and 6 in the systemd test container "
        "(root, docker, Ansible; adds several minutes)",
    )
    parser.add_argument(
        "--container-reps",
        type=positive_int,
        default=DEFAULT_CONTAINER_REPS,
        help="site.yml re-runs and status calls in the container "
        f"(default {DEFAULT_CONTAINER_REPS}; a re-run takes a minute or two)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write the results (default docs/benchmarks.md)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch directory (its path is printed)"
    )
    parser.add_argument(
        "--throughput-only",
        action="store_true",
        help="measure only the throughput figure and print its row (docs/benchmarks.md is "
        "left as it is)",
    )
    parser.add_argument(
        "--backup-only",
        action="store_true",
        help="measure only the backup figure (its own cost history, --cost-* as given) and print "
        "its rows (docs/benchmarks.md is left as it is)",
    )
    return parser


def command_line(argv: list[str]) -> str:
    text = shlex.join(["python", "benchmarks/run.py", *argv])
    return f"make bench ({text})" if os.environ.get("MAKELEVEL") and not argv else text


def python_version(python: Path) -> str:
    return subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def measure(args, work: Path) -> dict:
    agent = install(bake(work / "baked"), work / "venv", work / "wheels")
    bench = figures.Bench(agent=agent, work=work / "runs", reps=args.reps)
    history = figures.CostHistory(args.cost_agents, args.cost_days, args.cost_calls)
    rows = [
        figures.idle_memory(bench),
        figures.start_to_ready(bench),
        figures.throughput(bench, args.documents),
        *figures.cost_queries(bench, history),
        *backup.measure(bench, figures.Row, history),
        *ocr.measure(bench, figures.Row),
    ]
    if args.container:
        rows += container.measure(work / "container", args.container_reps)
    else:
        rows += container.not_measured(
            "run `python benchmarks/run.py --container` (root, docker, the systemd test image)"
        )
    logger.info("Import times and per-append overhead")
    imports, import_total = figures.import_times(bench)
    return {
        "rows": rows,
        "reps": args.reps,
        "providers": bench.extras["providers"],
        "floor_rss": bench.extras["floor_rss"],
        "bare_rss": bench.extras["bare_rss"],
        "imports": imports,
        "import_total": import_total,
        "not_loaded_at_start": bench.extras["not_loaded_at_start"],
        "loaded_at_start": bench.extras["loaded_at_start"],
        "overhead": figures.append_overhead(bench),
        "audit_entries_per_item": bench.extras.get("audit_entries_per_item"),
        "machine": report.machine_lines(
            python_version(agent.python), work, REPO_ROOT, command_line(sys.argv[1:])
        ),
    }


def measure_throughput(args, work: Path) -> list[str]:
    """Return the result table with the throughput row alone, and the audit entries per item."""
    agent = install(bake(work / "baked"), work / "venv", work / "wheels")
    bench = figures.Bench(agent=agent, work=work / "runs", reps=args.reps)
    row = figures.throughput(bench, args.documents)
    entries = bench.extras["audit_entries_per_item"]
    return [*report.results_table([row]), "", f"{entries:.1f} audit entries per document."]


def measure_backup(args, work: Path) -> list[str]:
    """Return the result table with the backup figure's rows alone, and the state backed up."""
    agent = install(bake(work / "baked"), work / "venv", work / "wheels")
    bench = figures.Bench(agent=agent, work=work / "runs", reps=args.reps)
    history = figures.CostHistory(args.cost_agents, args.cost_days, args.cost_calls)
    rows = backup.measure(bench, figures.Row, history)
    lines = report.results_table(rows)
    state = bench.extras.get("backup")
    if state:
        lines += [
            "",
            f"{state['agents']} agents, {state['bytes']:,} bytes in {state['files']:,} files; "
            f"the {state['agents']} snapshots of a night: {state['snapshot_seconds'].text()}; "
            f"`restic backup` alone: {state['restic_seconds']['first'].text()} the first night, "
            f"{state['restic_seconds']['next'].text()} the next. Peak RSS under the same "
            f"MemoryMax=: `restic prune` {state['upkeep_rss']['prune'].text()}, `restic check "
            f"--read-data-subset 5%` {state['upkeep_rss']['check'].text()}.",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="pillars-bench-"))
    try:
        if args.throughput_only:
            print("\n".join(measure_throughput(args, work)))
            return EXIT_OK
        if args.backup_only:
            print("\n".join(measure_backup(args, work)))
            return EXIT_OK
        sections = measure(args, work)
    except BenchmarkError as error:
        sys.stderr.write(f"bench: failed: {error}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    finally:
        if args.keep:
            sys.stderr.write(f"bench: scratch directory kept: {work}\n")
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = report.write(args.output, sections)
    print(text)
    sys.stderr.write(f"bench: wrote {args.output}\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
