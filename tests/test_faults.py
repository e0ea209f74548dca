"""Run a baked agent's fault and attack suite and hold its figures to zero.

The suite lives in the generated agent (`tests/faults/`, `pytest -m faults`): kill -9 loop, hostile
inputs, disk full, flaky networks, injection, secrets. Here one agent is baked with the default
answers, its suite runs as its user would run it, and its summary table is printed in this run's
output. Any failing row, any loss, duplicate or leak, or a suite that tried too little fails the
template's tests: a regression in any figure fails CI.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_cookiecutter_generation import (
    OUTPUT_TAIL_LINES,
    bake,
    cookiecutter_config,  # noqa: F401 (a fixture, used by name)
    laptop_environment,
    tail,
)

FAULTS_SUITE_TIMEOUT_SECONDS = 1800
SUMMARY_TITLE = "fault and attack suite: summary"
# Row names (as the baked suite's tests name them) that must be there, and the least each must try.
REQUIRED_ROWS = {
    "kill -9 loop": 500,
    "results <=> done": 500,
    "notifications once": 100,
    "operator move during processing": 30,
    "hostile inputs (generated)": 1000,
    "hostile inputs (fixed corpus)": 1,
    "disk full (injected ENOSPC)": 1,
    "disk full (real tmpfs)": 0,  # skipped where no tmpfs can be mounted
    "audit append fails (EIO)": 1,
    "network: 20 agents, one storm": 20,
    "injection: SQLite functions": 1,
    "injection: prompt (obeying LLM)": 1,
    "hallucinated fields": 60,
    "scans": 12,
    "secrets": 1,
    "health after restart": 3,
    "watchdog during a slow item": 2,
}
FIGURES = ("losses", "duplicates", "leaks")


def summary_section(output: str) -> str:
    """Return the summary table the baked suite printed (its terminal summary section)."""
    lines = output.splitlines()
    start = next((n for n, line in enumerate(lines) if SUMMARY_TITLE in line), None)
    if start is None:
        return ""
    end = next(
        (n for n in range(start + 1, len(lines)) if lines[n].startswith("===")),
        len(lines),
    )
    return "\n".join(lines[start:end])


def row_problems(rows: list[dict]) -> list[str]:
    """Return every way the rows fall short: a failing row, a non-zero figure, too few cases."""
    problems = []
    by_name = {row["test"]: row for row in rows}
    for name, least in REQUIRED_ROWS.items():
        row = by_name.get(name)
        if row is None:
            problems.append(f"no row {name!r}: the test is gone or renamed")
        elif row["result"] != "skip" and row["cases"] < least:
            problems.append(f"{name}: tried {row['cases']} cases, at least {least} required")
    network_rows = [name for name in by_name if name.startswith("network (")]
    if not network_rows:
        problems.append("no network row for an LLM provider")
    for row in rows:
        if row["result"] not in ("pass", "skip"):
            problems.append(f"{row['test']}: {row['result']} ({row['found']})")
        problems += [
            f"{row['test']}: {figure} = {row[figure]}" for figure in FIGURES if row[figure]
        ]
    return problems


@pytest.mark.baked_tests
def test_baked_agent_survives_its_fault_and_attack_suite(
    tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    project = bake(tmp_path / "out", request.getfixturevalue("cookiecutter_config")).project
    report_path = tmp_path / "faults-report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "faults", "-p", "no:cacheprovider"],
        cwd=project,
        env=laptop_environment(project) | {"FAULTS_REPORT": str(report_path)},
        capture_output=True,
        text=True,
        timeout=FAULTS_SUITE_TIMEOUT_SECONDS,
        check=False,
    )
    output = result.stdout + result.stderr
    table = summary_section(output)
    # Printed past the capture, so the table shows in every run (xdist workers included).
    with capsys.disabled():
        sys.stderr.write(f"\n{table or '(the baked suite printed no summary)'}\n")
    if not report_path.exists():
        pytest.fail(
            f"the baked fault suite wrote no report (pytest exit code {result.returncode}):\n"
            f"{tail(output, OUTPUT_TAIL_LINES)}",
            pytrace=False,
        )
    problems = row_problems(json.loads(report_path.read_text(encoding="utf-8")))
    if result.returncode != 0 or problems:
        # The table is printed once, above; the output's tail is what came before it.
        before_table = output.replace(table, "") if table else output
        pytest.fail(
            f"the baked agent fails its fault and attack suite (pytest exit code "
            f"{result.returncode}):\n" + "\n".join(problems) + "\n\n"
            f"--- last {OUTPUT_TAIL_LINES} lines of its output ---\n{tail(before_table)}",
            pytrace=False,
        )
