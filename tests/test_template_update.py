"""Template updates reach agents that were generated earlier, through cruft.

Each test copies the template into a throw-away git repository (standing in for the published
pillars repository), generates an agent from it with `cruft create`, commits a template change, and
runs `cruft check` and `cruft update` in the agent exactly as docs/updating.md tells a user to.
"""

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR_NAME = "{{cookiecutter.agent_slug}}"
TEMPLATE_PARTS = ("cookiecutter.json", "hooks", TEMPLATE_DIR_NAME)
AGENT_NAME = "Update Check Bot"
AGENT_SLUG = "update-check-bot"
COMMAND_TIMEOUT_SECONDS = 300

# A template change a maintainer might ship: a new file and a new section at the end of a file.
NEW_TEMPLATE_FILE = "UPGRADING.md"
NEW_TEMPLATE_FILE_TEXT = "Notes for {{ cookiecutter.agent_name }} after a template update.\n"
APPENDED_SECTION = "\n[tool.coverage.run]\nbranch = true\n"
# A user's own change, far from the end of the same file.
USER_LINE = "# kept by the user across template updates"
# One line both sides change: the update cannot merge it on its own.
CONTESTED_LINE = 'requires-python = ">=3.11"'
TEMPLATE_VERSION_OF_LINE = 'requires-python = ">=3.12"'
USER_VERSION_OF_LINE = 'requires-python = ">=3.11,<4"'


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    """Return an environment with its own HOME and git identity, so no user config leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    git_config = home / ".gitconfig"
    git_config.write_text(
        "[user]\n\tname = Template Test\n\temail = template-test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n"
        "[commit]\n\tgpgsign = false\n"
        "[advice]\n\tdetachedHead = false\n",
        encoding="utf-8",
    )
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GIT_", "PYTEST_", "COOKIECUTTER"))
    }
    environment.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(git_config), GIT_CONFIG_NOSYSTEM="1")
    return environment


def run(
    command: list[str], cwd: Path, environment: dict[str, str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run command in cwd; with check, fail the test with its output when it exits non-zero."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` in {cwd} exited {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
    return result


def cruft(
    arguments: list[str], cwd: Path, environment: dict[str, str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run cruft from the test's own environment."""
    return run([sys.executable, "-m", "cruft", *arguments], cwd, environment, check=check)


def commit_all(repository: Path, message: str, environment: dict[str, str]) -> str:
    """Commit every change in repository and return the new commit id."""
    run(["git", "add", "-A"], repository, environment)
    run(["git", "commit", "-q", "-m", message], repository, environment)
    return run(["git", "rev-parse", "HEAD"], repository, environment).stdout.strip()


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the one line equal to old in path with new."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    matches = [index for index, line in enumerate(lines) if line.rstrip("\n") == old]
    assert len(matches) == 1, f"expected exactly one line {old!r} in {path}"
    lines[matches[0]] = new + "\n"
    path.write_text("".join(lines), encoding="utf-8")


@pytest.fixture
def template_repository(tmp_path: Path, environment: dict[str, str]) -> Path:
    """Copy the template into a fresh git repository with one commit."""
    repository = tmp_path / "pillars"
    repository.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache")
    for part in TEMPLATE_PARTS:
        source = REPO_ROOT / part
        if source.is_dir():
            shutil.copytree(source, repository / part, ignore=ignore)
        else:
            shutil.copy2(source, repository / part)
    run(["git", "init", "-q"], repository, environment)
    commit_all(repository, "Template as released", environment)
    return repository


def create_agent(
    template_repository: Path, output_dir: Path, environment: dict[str, str], **answers: str
) -> Path:
    """Generate an agent with `cruft create`, as a user does, and return its directory."""
    cruft(
        [
            "create",
            str(template_repository),
            "--no-input",
            "--output-dir",
            str(output_dir),
            "--extra-context",
            json.dumps({"agent_name": AGENT_NAME, **answers}),
        ],
        output_dir.parent,
        environment,
    )
    agent = output_dir / AGENT_SLUG
    assert (agent / ".cruft.json").is_file()
    return agent


def cruft_state(agent: Path) -> dict:
    """Return the agent's .cruft.json."""
    return json.loads((agent / ".cruft.json").read_text(encoding="utf-8"))


def ship_template_change(template_repository: Path, environment: dict[str, str]) -> str:
    """Commit a new file and an appended section to the template; return the commit id."""
    template = template_repository / TEMPLATE_DIR_NAME
    (template / NEW_TEMPLATE_FILE).write_text(NEW_TEMPLATE_FILE_TEXT, encoding="utf-8")
    with (template / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
        pyproject.write(APPENDED_SECTION)
    return commit_all(
        template_repository, "Template: coverage settings, upgrade notes", environment
    )


def test_update_brings_template_changes_and_keeps_user_edits(
    tmp_path: Path, template_repository: Path, environment: dict[str, str]
) -> None:
    agent = create_agent(template_repository, tmp_path / "agents", environment)
    first_commit = run(["git", "rev-parse", "HEAD"], template_repository, environment).stdout
    assert cruft_state(agent)["commit"] == first_commit.strip()
    run(["git", "init", "-q"], agent, environment)
    commit_all(agent, "Generated from pillars", environment)
    assert "up to date" in cruft(["check"], agent, environment).stdout

    # The user makes the agent theirs and commits.
    pyproject = agent / "pyproject.toml"
    replace_once(pyproject, "[project]", f"[project]\n{USER_LINE}")
    own_module = agent / "src" / "update_check_bot" / "my_rules.py"
    own_module.write_text('"""Rules of my own."""\n', encoding="utf-8")
    commit_all(agent, "My changes", environment)

    new_commit = ship_template_change(template_repository, environment)

    check = cruft(["check"], agent, environment, check=False)
    assert check.returncode == 1
    assert "out of date" in check.stdout

    cruft(["update", "--skip-apply-ask", "--allow-untracked-files"], agent, environment)

    upgrading = agent / NEW_TEMPLATE_FILE
    assert upgrading.read_text(encoding="utf-8") == (
        f"Notes for {AGENT_NAME} after a template update.\n"
    )
    text = pyproject.read_text(encoding="utf-8")
    assert text.endswith(APPENDED_SECTION)
    assert USER_LINE in text
    assert tomllib.loads(text)["tool"]["coverage"]["run"]["branch"] is True
    assert own_module.read_text(encoding="utf-8") == '"""Rules of my own."""\n'
    assert list(agent.rglob("*.rej")) == []
    assert cruft_state(agent)["commit"] == new_commit
    assert cruft_state(agent)["context"]["cookiecutter"]["agent_name"] == AGENT_NAME

    commit_all(agent, "Template update", environment)
    assert cruft(["check"], agent, environment).returncode == 0


def test_conflicting_update_in_a_git_agent_leaves_conflict_markers(
    tmp_path: Path, template_repository: Path, environment: dict[str, str]
) -> None:
    agent = create_agent(template_repository, tmp_path / "agents", environment)
    run(["git", "init", "-q"], agent, environment)
    commit_all(agent, "Generated from pillars", environment)
    replace_once(agent / "pyproject.toml", CONTESTED_LINE, USER_VERSION_OF_LINE)
    commit_all(agent, "My Python range", environment)

    replace_once(
        template_repository / TEMPLATE_DIR_NAME / "pyproject.toml",
        CONTESTED_LINE,
        TEMPLATE_VERSION_OF_LINE,
    )
    commit_all(template_repository, "Template: Python 3.12", environment)

    cruft(["update", "--skip-apply-ask", "--allow-untracked-files"], agent, environment)

    text = (agent / "pyproject.toml").read_text(encoding="utf-8")
    assert "<<<<<<< ours" in text
    assert USER_VERSION_OF_LINE in text
    assert TEMPLATE_VERSION_OF_LINE in text
    status = run(["git", "status", "--porcelain"], agent, environment).stdout
    assert "UU pyproject.toml" in status
    # cruft records the update even though a conflict is left: review before committing.
    assert cruft(["check"], agent, environment).returncode == 0


def test_conflicting_update_outside_git_leaves_a_rej_file(
    tmp_path: Path, template_repository: Path, environment: dict[str, str]
) -> None:
    agent = create_agent(template_repository, tmp_path / "agents", environment)
    replace_once(agent / "pyproject.toml", CONTESTED_LINE, USER_VERSION_OF_LINE)
    replace_once(
        template_repository / TEMPLATE_DIR_NAME / "pyproject.toml",
        CONTESTED_LINE,
        TEMPLATE_VERSION_OF_LINE,
    )
    ship_template_change(template_repository, environment)

    result = cruft(["update", "--skip-apply-ask"], agent, environment)

    assert "*.rej" in result.stdout + result.stderr
    rejected = (agent / "pyproject.toml.rej").read_text(encoding="utf-8")
    assert f"+{TEMPLATE_VERSION_OF_LINE}" in rejected
    text = (agent / "pyproject.toml").read_text(encoding="utf-8")
    assert USER_VERSION_OF_LINE in text  # the user's line is untouched
    assert text.endswith(APPENDED_SECTION)  # the hunk that did not conflict is applied
    assert (agent / NEW_TEMPLATE_FILE).is_file()


def test_changing_an_answer_later_brings_the_files_it_needs(
    tmp_path: Path, template_repository: Path, environment: dict[str, str]
) -> None:
    agent = create_agent(
        template_repository, tmp_path / "agents", environment, telegram_alerts="no"
    )
    telegram_module = agent / "src" / "update_check_bot" / "integrations" / "telegram.py"
    assert not telegram_module.exists()  # the post-generation hook removed it
    run(["git", "init", "-q"], agent, environment)
    commit_all(agent, "Generated from pillars", environment)

    cruft(
        [
            "update",
            "--skip-apply-ask",
            "--variables-to-update",
            json.dumps({"telegram_alerts": "yes"}),
        ],
        agent,
        environment,
    )

    assert telegram_module.is_file()
    assert cruft_state(agent)["context"]["cookiecutter"]["telegram_alerts"] == "yes"
