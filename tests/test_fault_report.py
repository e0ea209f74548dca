"""molecule/resources/fault-report.py, which prints the Molecule verify's fault and attack report.

The verify appends one JSON line per check; the script must print every row, and fail CI when a row
failed, counted a loss, duplicate or leak, or never ran.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "molecule" / "resources" / "fault-report.py"


def row(test: str, **fields) -> dict:
    base = {
        "test": test,
        "cases": 3,
        "losses": 0,
        "duplicates": 0,
        "leaks": 0,
        "passed": True,
        "tried": f"what {test} tried",
        "found": f"what {test} found",
    }
    return {**base, **fields}


def run(tmp_path, rows, *arguments: str):
    report = tmp_path / "report.jsonl"
    report.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(report), *arguments],
        capture_output=True,
        text=True,
        check=False,
    )


def test_all_rows_passing_print_the_table_and_exit_0(tmp_path):
    result = run(
        tmp_path,
        [row("kill -9 under systemd", cases=40), row("secrets")],
        "--require=secrets",
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "test",
        "cases",
        "losses",
        "duplicates",
        "leaks",
        "result",
    ]
    assert lines[2].split() == [
        "kill",
        "-9",
        "under",
        "systemd",
        "40",
        "0",
        "0",
        "0",
        "pass",
    ]
    assert "    tried: what secrets tried" in lines
    assert "    found: what secrets found" in lines


@pytest.mark.parametrize(
    "fields",
    [{"passed": False}, {"losses": 1}, {"duplicates": 2}, {"leaks": 1}],
    ids=["failed", "loss", "duplicate", "leak"],
)
def test_a_bad_row_fails_and_is_named(tmp_path, fields):
    result = run(tmp_path, [row("good"), row("bad", **fields)])

    assert result.returncode == 1
    assert "FAIL" in result.stdout.splitlines()[3]
    assert result.stderr.strip() == "fault-report: failed: bad"


def test_a_check_that_never_ran_fails(tmp_path):
    result = run(tmp_path, [row("good")], "--require=good", "--require=reboot")

    assert result.returncode == 1
    assert result.stderr.strip() == "fault-report: never ran: reboot"


def test_an_empty_report_fails(tmp_path):
    result = run(tmp_path, [])

    assert result.returncode == 1
    assert "no check recorded a row" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json\n", "line 1 is not JSON"),
        ('{"test": "x"}\n', "line 1 lacks passed, cases"),
    ],
)
def test_a_malformed_report_is_one_line_and_exit_2(tmp_path, content, message):
    report = tmp_path / "report.jsonl"
    report.write_text(content, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(report)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_missing_report_is_one_line_and_exit_2(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "absent.jsonl")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.startswith("fault-report: cannot read")
    assert "Traceback" not in result.stderr
