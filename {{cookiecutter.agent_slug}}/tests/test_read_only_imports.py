"""Commands that only read start fast: they import neither logging, requests nor the agent.

`python -X importtime` lists every module a run imports, so these tests see what a user's run pays.
"""

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

# What only running the agent (or changing its state) needs: logging and its JSON formatter, the
# HTTP client, package metadata, shutil (argparse would import it to measure the terminal), the
# inbox and the agent itself.
HEAVY = {
    "logging",
    "requests",
    "urllib3",
    "importlib.metadata",
    "shutil",
    "{{ cookiecutter.package_name }}.observability.logs",
    "{{ cookiecutter.package_name }}.reliability.inbox",
    "{{ cookiecutter.package_name }}.agent",
}


def write_costs(home, day_lines: dict) -> None:
    """A state directory as the agent leaves it: its database and one cost file per day."""
    costs = home.state / "costs"
    costs.mkdir(parents=True)
    (home.state / "agent.db").write_bytes(b"")
    for day, lines in day_lines.items():
        (costs / f"{day.isoformat()}.jsonl").write_text("".join(lines), encoding="utf-8")


def record(day, cost) -> str:
    return (
        json.dumps(
            {
                "ts": f"{day.isoformat()}T09:30:00.000+00:00",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 80,
                "purpose": "extract_fields",
                "cost_usd": cost,
                "status": "ok",
            }
        )
        + "\n"
    )


def run_timed(home, *args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    argv = home.command(*args)
    argv[1:1] = ["-X", "importtime"]
    result = subprocess.run(
        argv,
        cwd=home.root,
        capture_output=True,
        text=True,
        timeout=60,
        env=home.process_env(),
        check=False,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    return result, imported


def other_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if not line.startswith("import time:")]


@pytest.mark.parametrize(
    "args", [["costs", "--since", "yesterday"], ["costs", "--by", "model", "--json"], ["status"]]
)
def test_read_only_commands_import_nothing_of_logging_or_the_agent(home, args):
    today = datetime.now(UTC).date()
    write_costs(home, {today - timedelta(days=1): [record(today, 0.0012)], today: []})

    result, imported = run_timed(home, *args)

    assert "{{ cookiecutter.package_name }}.cli" in imported  # the listing is real
    assert "argparse" in imported and "json" in imported
    assert not imported & HEAVY
    if args[0] == "costs":
        assert result.returncode == 0, result.stderr
        assert other_lines(result) == []
    else:  # no heartbeat yet: status says so in one line and exit 1
        assert result.returncode == 1
        assert "no heartbeat" in result.stdout


def test_a_damaged_cost_record_is_one_plain_line_and_the_sum_stays_exact(home):
    today = datetime.now(UTC).date()
    write_costs(home, {today: [record(today, 0.1), "{torn\n", record(today, 0.2)]})

    result, imported = run_timed(home, "costs", "--json")

    assert result.returncode == 0, result.stderr
    total = json.loads(result.stdout)["total"]
    assert total["calls"] == 2 and total["cost_usd"] == 0.3  # 0.1 + 0.2, added exactly
    (line,) = other_lines(result)
    assert line == f"Skipping unreadable cost record {home.state / 'costs' / today.isoformat()}" + (
        ".jsonl line 2"
    )
    assert "logging" in imported  # only because there was something to warn about
    assert not imported & (HEAVY - {"logging"})


def costs_help(home, columns: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        home.command("costs", "--help"),
        capture_output=True,
        text=True,
        timeout=60,
        env=home.process_env(COLUMNS=str(columns)),
        check=False,
    )


def test_help_still_fits_the_terminal_it_is_shown_in(home):
    narrow, wide = costs_help(home, 50), costs_help(home, 200)

    assert narrow.returncode == wide.returncode == 0
    # Wrapped to 50 columns as argparse would, and not wrapped where the terminal is wide.
    assert "show this help message\n" in narrow.stdout
    assert "show this help message and exit" in wide.stdout
    assert max(len(line) for line in wide.stdout.splitlines()) > 50
    assert "--since SINCE" in narrow.stdout and "--since SINCE" in wide.stdout


ARGVS = [
    ["costs", "--since", "yesterday"],
    ["--env-file", "costs", "status"],
    ["--env-file=x", "--state-dir", "y", "costs", "--by", "model", "--json"],
    ["--state-dir", "--env-file", "costs"],
    ["--env-file"],
    ["--env", "x", "costs"],
    ["--version"],
    ["-h"],
    ["costs", "--help"],
    ["costs", "--by", "week"],
    ["review", "resolve", "abc", "--choose", "2", "--note", "ok"],
    ["review", "resolve", "abc"],
    ["audit"],
    ["audit", "verify"],
    ["settings", "table"],
    ["bogus"],
    ["run", "--since", "today"],
    [],
]


def parse(parser, argv, capsys):
    try:
        outcome = vars(parser.parse_args(argv))
    except SystemExit as exit:
        outcome = exit.code
    return outcome, capsys.readouterr()


@pytest.mark.parametrize("argv", ARGVS, ids=" ".join)
def test_the_parser_of_one_command_reads_argv_as_the_whole_one_does(argv, capsys):
    from {{ cookiecutter.package_name }}.cli import build_parser, named_command

    assert parse(build_parser(named_command(argv)), argv, capsys) == parse(
        build_parser(), argv, capsys
    )
