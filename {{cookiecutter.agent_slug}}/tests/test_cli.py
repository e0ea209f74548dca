"""The command line: user errors are one clear line and exit code 2, never a traceback."""

import json

import pytest


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["bogus"], "invalid choice"),
        (["costs", "--by", "week"], "invalid choice"),
        (["costs", "--since", "last tuesday"], "not a date"),
        (["costs", "--since", "2026-02-30"], "not a date"),
        (["costs", "--since", "today", "--until", "yesterday"], "after --until"),
        (["review", "resolve", "abc"], "one of the arguments --choose --reject is required"),
        (["review", "resolve", "abc", "--choose", "x"], "invalid int value"),
        (["audit"], "required"),
        ([], "required"),
    ],
)
def test_wrong_flags_and_values_give_one_line_and_exit_2(home, args, expected):
    result = home.cli(*args)
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_readable_env_file_is_refused_with_the_fix(home):
    home.env_file.chmod(0o644)
    result = home.cli("once")
    assert result.returncode == 2
    assert "chmod 600" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_malformed_env_file_names_the_line(home):
    home.env_file.write_text("LLM_PROVIDER=fake\nthis is not a setting\n")
    home.env_file.chmod(0o600)
    result = home.cli("status")
    assert result.returncode == 2
    assert "line 2" in result.stderr


def test_an_unavailable_provider_or_missing_key_stops_the_start_clearly(home):
    home.write_env(LLM_PROVIDER="nonexistent")
    result = home.cli("once")
    assert result.returncode == 2
    assert "LLM_PROVIDER" in result.stderr and "Traceback" not in result.stderr


def test_version_and_costs_json(home):
    version = home.cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("{{ cookiecutter.agent_slug }} ")
    home.drop_samples()
    assert home.cli("once").returncode == 0
    costs = json.loads(home.cli("costs", "--since", "yesterday", "--json").stdout)
    assert costs["total"]["calls"] == 3
    assert costs["total"]["cost_usd"] > 0
    by_purpose = json.loads(home.cli("costs", "--by", "purpose", "--json").stdout)
    assert by_purpose["rows"][0]["purpose"] == "extract_fields"
    assert "audit log intact" in home.cli("audit", "verify").stdout
    status = home.cli("status")
    assert status.returncode == 0 and "done 2, review 1, failed 0" in status.stdout


def test_an_unbalanced_quote_in_the_env_file_stops_the_agent_with_the_line(home):
    home.env_file.write_text('LLM_PROVIDER=fake\nLLM_MODEL="gpt-4o-mini\nMAX_ATTEMPTS=3\n')
    home.env_file.chmod(0o600)
    home.drop_samples()
    for command in (["once"], ["costs"]):
        result = home.cli(*command)
        assert result.returncode == 2, command
        (line,) = result.stderr.splitlines()
        assert "line 2" in line and "LLM_MODEL" in line and "not closed" in line
        assert "Traceback" not in result.stderr and "python-dotenv" not in result.stderr
    assert home.files("incoming") == [
        "invoice-youssef-benali.pdf",
        "lab-result-marie-martin.md",
        "referral-jane-doe.txt",
    ]
    assert home.files("outbox") == home.files("done") == []


READ_ONLY_COMMANDS = [
    ["audit", "verify"],
    ["costs"],
    ["costs", "--since", "7d", "--json"],
    ["review", "list"],
    ["review", "show", "0123456789abcdef"],
    ["review", "resolve", "0123456789abcdef", "--reject"],
    ["status"],
    ["health"],
]


def tree(root):
    """Every path under root, relative, to show that a command created nothing."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def assert_one_error_line(result, *expected: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("{{ cookiecutter.agent_slug }}: error: ")
    for text in expected:
        assert text in line
    assert "Traceback" not in result.stderr
    return line


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=" ".join)
def test_a_command_that_reads_stops_where_there_is_no_agent_state(home, tmp_path, command):
    typo = tmp_path / "vra"
    file = tmp_path / "notes.txt"
    file.write_text("not a state directory\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    before = tree(tmp_path)
    for state_dir, why in (
        (typo, "does not exist"),
        (file, "is a file"),
        (empty, "holds no agent.db"),
        (typo / "var", "does not exist"),
    ):
        result = home.cli(*command, state_dir=state_dir)
        line = assert_one_error_line(result, f"no agent state at {state_dir}: ", why)
        assert "--state-dir" in line and "STATE_DIRECTORY" in line and " once" in line
        assert result.stdout == ""
    assert tree(tmp_path) == before
    assert file.read_text() == "not a state directory\n"


@pytest.mark.parametrize("command", ["once", "run"])
def test_the_agent_refuses_a_state_dir_that_is_a_file_or_has_no_parent(home, tmp_path, command):
    file = tmp_path / "notes.txt"
    file.write_text("not a state directory\n")
    before = tree(tmp_path)
    for state_dir, expected in (
        (file, f"cannot use {file} as the state directory: it is a file"),
        (file / "var", f"its parent {file} is not a directory"),
        (tmp_path / "typo" / "var", f"its parent {tmp_path / 'typo'} does not exist"),
    ):
        result = home.cli(command, state_dir=state_dir)
        assert_one_error_line(result, expected, "--state-dir")
    assert tree(tmp_path) == before
    assert file.read_text() == "not a state directory\n"


def test_once_creates_the_state_dir_under_an_existing_parent_then_commands_read_it(home, tmp_path):
    state_dir = tmp_path / "elsewhere" / "state"
    state_dir.parent.mkdir()
    assert home.cli("review", "list", state_dir=state_dir).returncode == 2
    assert not state_dir.exists()

    assert home.cli("once", state_dir=state_dir).returncode == 0

    assert sorted(path.name for path in state_dir.iterdir() if path.is_dir()) == [
        "archive",
        "decisions",
        "done",
        "failed",
        "incoming",
        "outbox",
        "processing",
        "review",
    ]
    verify = home.cli("audit", "verify", state_dir=state_dir)
    assert verify.returncode == 0 and "audit log intact" in verify.stdout
    listed = home.cli("review", "list", state_dir=state_dir)
    assert listed.returncode == 0 and "no document is waiting" in listed.stdout
