#!/usr/bin/env python3
"""Print the fault and attack report that the Molecule verify records, one row per check.

The same table as the generated agent's `pytest -m faults`: what each check tried and what it found,
with its losses, duplicates and leaks. Exit 1 when a row failed, counted any loss, duplicate or
leak, or when a row named with --require is missing (its check never ran); exit 2 when the report
cannot be read.

    fault-report.py REPORT.jsonl [--require TEST ...]
"""

import argparse
import json
import sys
import textwrap
from pathlib import Path

COUNTS = ("cases", "losses", "duplicates", "leaks")
TEST_WIDTH = 44
TEXT_WIDTH = 100


def read_rows(path: Path) -> list[dict]:
    """Return the report's rows in the order they were recorded; raise ValueError if malformed."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"line {number} is not JSON ({error.msg})") from None
        missing = [key for key in ("test", "passed", *COUNTS) if key not in row]
        if missing:
            raise ValueError(f"line {number} lacks {', '.join(missing)}")
        rows.append(row)
    return rows


def row_passed(row: dict) -> bool:
    return bool(row["passed"]) and not any(row[key] for key in COUNTS[1:])


def render(rows: list[dict]) -> str:
    header = (
        f"{'test':<{TEST_WIDTH}}{'cases':>6}{'losses':>7}{'duplicates':>11}{'leaks':>6}  result"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        counts = "".join(
            f"{row[key]:>{width}}" for key, width in zip(COUNTS, (6, 7, 11, 6), strict=True)
        )
        lines.append(
            f"{row['test']:<{TEST_WIDTH}}{counts}  {'pass' if row_passed(row) else 'FAIL'}"
        )
    lines.append("")
    for row in rows:
        lines.append(f"{row['test']}:")
        for label in ("tried", "found"):
            text = " ".join(str(row.get(label) or "-").split())
            lines.extend(
                textwrap.wrap(
                    text,
                    width=TEXT_WIDTH,
                    initial_indent=f"    {label}: ",
                    subsequent_indent=" " * 11,
                    break_on_hyphens=False,
                )
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the JSON lines file the verify wrote")
    parser.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="TEST",
        help="a row that must be present",
    )
    arguments = parser.parse_args()
    try:
        rows = read_rows(arguments.report)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        print(f"fault-report: cannot read {arguments.report}: {error}", file=sys.stderr)
        return 2
    print(render(rows))
    names = {row["test"] for row in rows}
    missing = [name for name in arguments.require if name not in names]
    failed = [row["test"] for row in rows if not row_passed(row)]
    if missing:
        print(f"\nfault-report: never ran: {', '.join(missing)}", file=sys.stderr)
    if failed:
        print(f"\nfault-report: failed: {', '.join(failed)}", file=sys.stderr)
    if not rows:
        print(
            "\nfault-report: the report is empty: no check recorded a row",
            file=sys.stderr,
        )
    return 1 if missing or failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
