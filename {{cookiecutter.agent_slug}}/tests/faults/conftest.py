"""The fault and attack suite's report: every test adds a row saying what it tried and found.

Run the suite with `pytest -m faults` (the default run leaves it out: it takes minutes). At the end,
pytest prints a table (test, cases tried, losses, duplicates, leaks, pass/fail) that
docs/reliability.md reproduces. With FAULTS_REPORT=path, the rows are also written there as JSON,
for the template's own tests to check.

- cases: inputs, faults or calls the test tried;
- losses: inputs not found exactly once where the design puts them;
- duplicates: outputs, audit entries or cost records beyond the attempts made, or calls beyond
  their bounds;
- leaks: anything that escaped: a file written outside the agent's directories, a secret in
  something the agent wrote, a changed schema, a decision not taken by the database rules.
"""

import json
import os
from dataclasses import asdict, dataclass, field

import pytest

REPORT_ENV = "FAULTS_REPORT"
ROWS = pytest.StashKey[list]()
COLUMNS = (("test", 34), ("cases", 7), ("losses", 7), ("duplicates", 11), ("leaks", 6))


@dataclass
class Row:
    """One line of the summary table; the test fills the figures, its outcome sets `result`."""

    test: str
    nodeid: str
    tried: str = ""
    found: str = ""
    cases: int = 0
    losses: int = 0
    duplicates: int = 0
    leaks: int = 0
    result: str = "error"  # pass | fail | skip | error (never reached its end)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        """Add a finding to the `found` line."""
        self.notes.append(text)

    def as_dict(self) -> dict:
        row = asdict(self)
        row["found"] = "; ".join(filter(None, [self.found, *self.notes]))
        del row["notes"]
        return row


@pytest.fixture
def report(request) -> Row:
    """Return this test's row of the summary table."""
    row = Row(test=request.node.name, nodeid=request.node.nodeid)
    request.config.stash.setdefault(ROWS, []).append(row)
    return row


@pytest.fixture
def report_row(request):
    """Return a maker of more rows for this test (one run measuring several things)."""

    def make(test: str) -> Row:
        row = Row(test=test, nodeid=request.node.nodeid)
        request.config.stash.setdefault(ROWS, []).append(row)
        return row

    return make


@pytest.fixture
def new_home(home, tmp_path_factory):
    """Return a maker of more agent homes like `home`, each in a folder of its own."""
    return lambda: type(home)(tmp_path_factory.mktemp("home"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rows = [row for row in item.config.stash.get(ROWS, []) if row.nodeid == item.nodeid]
    for row in rows:
        if outcome.when == "call":
            row.result = "pass" if outcome.passed else "skip" if outcome.skipped else "fail"
        elif outcome.skipped and outcome.when == "setup":
            row.result = "skip"
        elif outcome.failed:
            row.result = "fail"
    for row in rows:
        if outcome.skipped and row.result == "skip" and not row.found:
            reason = outcome.longrepr[2] if isinstance(outcome.longrepr, tuple) else ""
            row.found = str(reason).removeprefix("Skipped: ")
    return outcome


def format_table(rows: list[dict]) -> list[str]:
    """Return the summary table as text lines, each row followed by what it tried and found."""
    header = "".join(
        f"{name:<{width}}" if index == 0 else f"{name:>{width}}"
        for index, (name, width) in enumerate(COLUMNS)
    )
    lines = [header + "  result", "-" * (len(header) + 8)]
    for row in rows:
        cells = "".join(
            f"{row[name]!s:<{width}.{width - 1}}" if index == 0 else f"{row[name]:>{width}}"
            for index, (name, width) in enumerate(COLUMNS)
        )
        lines.append(f"{cells}  {row['result']}")
    lines.append("")
    for row in rows:
        lines.append(f"{row['test']}:")
        lines.append(f"    tried: {row['tried']}")
        lines.append(f"    found: {row['found']}")
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rows = [row.as_dict() for row in config.stash.get(ROWS, [])]
    if not rows:
        return
    terminalreporter.write_sep("=", "fault and attack suite: summary")
    for line in format_table(rows):
        terminalreporter.write_line(line)
    target = os.environ.get(REPORT_ENV)
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
