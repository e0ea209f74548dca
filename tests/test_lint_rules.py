"""The repository's own Python is linted under the generated agent's ruff rules, all of it.

The agent's rules are read from a baked pyproject.toml (the template's copy holds Jinja), and the
root pyproject.toml must carry the same line length, target and rule selection; the per-file ignores
are each side's own, except that test code is ignored alike. `make test`'s `ruff check` must reach
every Python file of the repository, agentctl's package included, and its `ruff format --check` all
of them too.
"""

import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

from test_cookiecutter_generation import (
    bake,
    cookiecutter_config,  # noqa: F401 (a fixture, used by name)
)

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR_NAME = "{{cookiecutter.agent_slug}}"
RUFF_TIMEOUT_SECONDS = 120


def ruff_settings(pyproject: Path) -> dict:
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["ruff"]


def test_the_repository_lints_under_the_agents_rules(tmp_path, cookiecutter_config):  # noqa: F811
    agent = ruff_settings(bake(tmp_path, cookiecutter_config).project / "pyproject.toml")
    root = ruff_settings(REPO_ROOT / "pyproject.toml")
    for key in ("line-length", "target-version"):
        assert root.get(key) == agent.get(key), key
    for key in ("select", "ignore"):
        assert root["lint"].get(key) == agent["lint"].get(key), f"lint.{key}"
    test_ignores = agent["lint"]["per-file-ignores"]["tests/**"]
    assert root["lint"]["per-file-ignores"]["tests/**"] == test_ignores


def is_python(path: Path) -> bool:
    if path.suffix == ".py":
        return True
    try:
        with path.open("rb") as handle:
            first_line = handle.readline(200)
    except OSError:
        return False
    return first_line.startswith(b"#!") and b"python" in first_line


def repository_python_files() -> set[str]:
    """Every Python file of the repository, by name or shebang, the template folder aside."""
    found = set()
    for directory, subdirectories, files in os.walk(REPO_ROOT):
        subdirectories[:] = [
            name
            for name in subdirectories
            if not name.startswith(".") and name not in (TEMPLATE_DIR_NAME, "__pycache__")
        ]
        for name in files:
            path = Path(directory) / name
            # Jinja templates of Python (the agentctl launcher) are rendered by Ansible, not linted.
            if path.suffix != ".j2" and is_python(path):
                found.add(path.relative_to(REPO_ROOT).as_posix())
    return found


def make_test_ruff_arguments(subcommand: str = "check") -> list[str]:
    """The arguments of `ruff check` (or `ruff format`) in the Makefile's test target."""
    lines = (REPO_ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    target = lines[lines.index("test: $(VENV)/.dev-installed") :]
    command = f"-m ruff {subcommand}"
    ruff_line = next(line for line in target if command in line)
    return shlex.split(ruff_line.split(command, 1)[1])


def run_ruff(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=RUFF_TIMEOUT_SECONDS,
        check=False,
    )


def test_make_test_lints_every_python_file():
    result = run_ruff("check", "--no-cache", "--show-files", *make_test_ruff_arguments())
    assert result.returncode == 0, result.stderr
    linted = {
        Path(line).resolve().relative_to(REPO_ROOT).as_posix()
        for line in result.stdout.splitlines()
        if line.strip()
    }
    python_files = repository_python_files()
    assert "roles/health/files/agentctl/cli.py" in python_files
    assert "roles/agent/files/build_wheels.py" in python_files
    assert sorted(python_files - linted) == [], "Python files `make test` does not lint"


def test_make_test_checks_the_format_of_agentctl():
    arguments = make_test_ruff_arguments("format")
    assert "--check" in arguments
    paths = [REPO_ROOT / argument for argument in arguments if not argument.startswith("-")]
    agentctl = REPO_ROOT / "roles" / "health" / "files" / "agentctl"
    modules = sorted(agentctl.rglob("*.py"))
    assert len(modules) > 10, "agentctl is a package of modules"
    for module in modules:
        assert any(module.is_relative_to(path) for path in paths), f"{module} is not format-checked"
    result = run_ruff("format", "--no-cache", *arguments)
    assert result.returncode == 0, result.stdout + result.stderr
