"""The baked README's "Run it on your laptop" commands work as written.

A default agent is baked; the fenced block under that heading is read from the baked README.md with
a Markdown parser and its lines run in order, in one `bash -euo pipefail` session inside the
project, with the environment of a plain laptop shell (packages come from PyPI, as for a user).
Between the lines the session prints a marker and checks the line's exit status, so a failure
anywhere in a line (`pytest && ruff check .` included, which `set -e` alone lets through) stops the
block and names the line. Then the test checks what a user relies on after the block: the samples
were processed, results are in outbox/, the review queue and the costs show them, the audit log is
intact.
"""

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from test_cookiecutter_generation import (
    OUTER_ENVIRONMENT_PREFIXES,
    OUTER_ENVIRONMENT_VARIABLES,
    OUTPUT_TAIL_LINES,
    bake,
    cookiecutter_config,  # noqa: F401 (a fixture, used by name)
    tail,
)

LAPTOP_HEADING = "Run it on your laptop"
# Set by an activated virtual environment or by the template's own test run; a user's fresh shell
# has none of them.
PYTHON_ENVIRONMENT_VARIABLES = (
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONDONTWRITEBYTECODE",
)
MARKER = "::: README line"
MARKER_PATTERN = re.compile(rf"^{MARKER} (\d+): (.*)$")
FAILED_PATTERN = re.compile(rf"^{MARKER} (\d+) exited (\d+)$")
# What the block's `python scripts/make_samples.py var/incoming` draws beside the sample files.
DRAWN_SAMPLES = ["phone-photo-lab-result-chidi-okafor.jpg", "scanned-referral-youssef-benali.pdf"]
# pip install, the agent's own suite and its fault suite, on a busy machine.
BLOCK_TIMEOUT_SECONDS = 2400
HARNESS_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Command:
    """One command of a README block: its first line's number in the file and its text."""

    line: int
    text: str


@dataclass(frozen=True)
class BlockRun:
    """What running a block gave: the exit status, and each command's output by line number."""

    returncode: int
    outputs: dict[int, str]
    output: str
    failed_line: int | None


def fenced_block_under(markdown: str, heading: str) -> tuple[int, str]:
    """Return the first line number and the text of the code block under a heading.

    The heading is the first that starts with heading; the block is the section's first, before
    the next heading of any level.
    """
    tokens = MarkdownIt("commonmark").parse(markdown)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and tokens[index + 1].content.startswith(heading):
            for following in tokens[index + 3 :]:
                if following.type == "heading_open":
                    break
                if following.type in ("fence", "code_block"):
                    assert following.map is not None
                    # map counts from 0 and, for a fence, starts at the opening ``` line.
                    offset = 2 if following.type == "fence" else 1
                    return following.map[0] + offset, following.content
            raise AssertionError(f"the section {heading!r} has no code block")
    raise AssertionError(f"no heading starting with {heading!r}")


def commands_of(first_line: int, block: str) -> list[Command]:
    """Split a shell block into commands: a line ending in a backslash goes on the next one.

    Blank lines and lines that are only a comment are left out; bash would skip them anyway.
    """
    commands: list[Command] = []
    pending: list[str] = []
    for number, line in enumerate(block.splitlines(), start=first_line):
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending.append(line)
        if line.endswith("\\"):
            continue
        commands.append(Command(number - len(pending) + 1, "\n".join(pending)))
        pending = []
    if pending:
        commands.append(Command(first_line, "\n".join(pending)))
    return commands


def session_script(commands: list[Command]) -> str:
    """Return the bash script that runs commands in order, as written, marking each one."""
    # $? is the whole line's status: `a && b` that fails in `a` does not trip `set -e`.
    lines = [
        "readme_line_ran() {",
        "  local status=$?",
        f'  if [ "$status" -ne 0 ]; then echo "{MARKER} $1 exited $status"; exit "$status"; fi',
        "}",
    ]
    for command in commands:
        shown = shlex.quote(f"{MARKER} {command.line}: {command.text}")
        lines += [f"printf '%s\\n' {shown}", command.text, f"readme_line_ran {command.line}"]
    return "\n".join(lines) + "\n"


def laptop_shell_environment() -> dict[str, str]:
    """Return the environment of a user's plain shell: no test runner, systemd or virtualenv."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(OUTER_ENVIRONMENT_PREFIXES)
        and name not in OUTER_ENVIRONMENT_VARIABLES
        and name not in PYTHON_ENVIRONMENT_VARIABLES
    }


def run_block(commands: list[Command], cwd: Path, timeout: int) -> BlockRun:
    """Run commands in one `bash -euo pipefail` session in cwd; split the output per command."""
    script = cwd / ".readme-block.sh"
    script.write_text(session_script(commands), encoding="utf-8")
    try:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", str(script)],
            cwd=cwd,
            env=laptop_shell_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one stream: each line's output stays in order
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        script.unlink()
    outputs: dict[int, str] = {}
    current: int | None = None
    failed_line = None
    for line in result.stdout.splitlines():
        if match := FAILED_PATTERN.match(line):
            failed_line = int(match.group(1))
        elif match := MARKER_PATTERN.match(line):
            current = int(match.group(1))
            outputs[current] = ""
        elif current is not None:
            outputs[current] += line + "\n"
    if result.returncode != 0 and failed_line is None:
        failed_line = current  # `set -e` stopped the session inside that line
    return BlockRun(result.returncode, outputs, result.stdout, failed_line)


def command_with(commands: list[Command], *words: str) -> Command:
    """Return the one command whose words (comments aside) include all of words."""
    found = [
        command
        for command in commands
        if set(words) <= set(shlex.split(command.text, comments=True))
    ]
    assert len(found) == 1, f"expected one README command with {words}, found {found}"
    return found[0]


def visible_files(folder: Path) -> list[str]:
    """Return the names in folder that are not hidden ([] when it does not exist)."""
    if not folder.exists():
        return []
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith("."))


# The harness itself: a broken line must stop the block and be named. -----------------------------

HARNESS_README = """# Agent

## Run it on your laptop (no key needed)

```
echo first > first.txt            # a comment, as in the README
false && echo "never printed"
echo second > second.txt
```

## Elsewhere

```
echo elsewhere
```
"""


@pytest.mark.parametrize(
    ("broken_line", "expected_status"),
    [
        ("false && echo never", 1),  # `set -e` alone does not stop on this one
        ("false | cat", 1),  # nor, without pipefail, on this one
        ("exit 3", 3),
        ("echo $UNSET_VARIABLE_OF_THE_README_TEST", 1),
        ("no-such-command-in-the-readme", 127),
    ],
)
def test_a_failing_line_stops_the_block_and_is_named(
    tmp_path: Path, broken_line: str, expected_status: int
) -> None:
    readme = HARNESS_README.replace('false && echo "never printed"', broken_line)
    first_line, block = fenced_block_under(readme, LAPTOP_HEADING)
    commands = commands_of(first_line, block)

    run = run_block(commands, tmp_path, HARNESS_TIMEOUT_SECONDS)

    assert run.returncode == expected_status
    assert run.failed_line == 7  # the file's line 7 holds the broken line
    assert (tmp_path / "first.txt").read_text() == "first\n"
    assert not (tmp_path / "second.txt").exists()
    assert sorted(run.outputs) == [6, 7]
    assert "never" not in run.outputs[7]


def test_the_block_under_the_heading_runs_whole_lines_in_one_session(tmp_path: Path) -> None:
    readme = HARNESS_README.replace(
        'false && echo "never printed"', "cd sub 2>/dev/null || mkdir sub && \\\n  cd sub"
    )
    first_line, block = fenced_block_under(readme, LAPTOP_HEADING)
    commands = commands_of(first_line, block)

    assert [command.line for command in commands] == [6, 7, 9]
    run = run_block(commands, tmp_path, HARNESS_TIMEOUT_SECONDS)

    assert run.returncode == 0, run.output
    assert (tmp_path / "sub" / "second.txt").read_text() == "second\n"  # the cd carried over
    assert "elsewhere" not in run.output
    with pytest.raises(AssertionError, match="no heading"):
        fenced_block_under(readme, "Run it on a server")


# The baked README, as a user follows it. ---------------------------------------------------------


@pytest.mark.baked_tests
def test_the_laptop_commands_of_the_baked_readme_work_as_written(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    project = bake(tmp_path / "out", request.getfixturevalue("cookiecutter_config")).project
    first_line, block = fenced_block_under(
        (project / "README.md").read_text(encoding="utf-8"), LAPTOP_HEADING
    )
    commands = commands_of(first_line, block)
    samples = visible_files(project / "samples" / "incoming")
    assert samples, "the baked project has no sample documents"

    run = run_block(commands, project, BLOCK_TIMEOUT_SECONDS)

    if run.returncode != 0:
        failed = next((c for c in commands if c.line == run.failed_line), None)
        pytest.fail(
            f"README.md line {run.failed_line} exited {run.returncode}: "
            f"{failed.text if failed else '(before the first line)'}\n"
            f"--- its last {OUTPUT_TAIL_LINES} lines of output ---\n"
            f"{tail(run.outputs.get(run.failed_line or 0, run.output))}",
            pytrace=False,
        )
    assert sorted(run.outputs) == [command.line for command in commands], "a line did not run"

    # `once` processed every sample: each one is in done/ or review/, none waits or failed.
    state = project / "var"
    assert visible_files(state / "incoming") == [], "once left documents in incoming/"
    assert visible_files(state / "processing") == visible_files(state / "failed") == []
    done = [name for name in visible_files(state / "done") if not name.endswith(".why.json")]
    review = [name for name in visible_files(state / "review") if not name.endswith(".why.json")]
    assert sorted(done + review) == sorted(samples + DRAWN_SAMPLES)
    results = [
        json.loads(path.read_text(encoding="utf-8")) for path in (state / "outbox").iterdir()
    ]
    assert done and len(results) == len(done), "one result in outbox/ per document in done/"
    assert {result["source"] for result in results} == set(done)

    # What the inspection lines told the user matches that state.
    listed = run.outputs[command_with(commands, "review", "list").line]
    for name in review:
        assert f"[{name}]" in listed
    calls = sum(
        len(path.read_text(encoding="utf-8").splitlines())
        for path in (state / "costs").glob("*.jsonl")
    )
    assert calls >= len(samples)
    costs = run.outputs[command_with(commands, "costs").line]
    assert re.search(rf"^total\s+{calls}\s", costs, re.MULTILINE), costs
    verify = run.outputs[command_with(commands, "audit", "verify").line]
    assert "audit log intact" in verify
