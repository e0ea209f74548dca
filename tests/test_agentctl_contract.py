"""agentctl ships the agent's contract package as it is, byte for byte.

The contract (state layout, file I/O, redaction, .env reader, record readers, times, Telegram,
health checks) is written once, in the template's `contract/` package. The health role ships it next
to agentctl through a link in git, roles/health/files/agentctl/contract, which the role's copy
follows: the files a host gets are those of a baked agent.
"""

import subprocess
from pathlib import Path

from agentctl_stubs import AGENTCTL, install_agentctl
from test_cookiecutter_generation import (
    bake,
    cookiecutter_config,  # noqa: F401 (a fixture, used by name)
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = AGENTCTL / "contract"
GIT_SYMLINK_MODE = "120000"


def contract_files(root: Path) -> dict[str, bytes]:
    """Every file under root by relative path (links followed), bytecode aside."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_role_ships_the_baked_contract_byte_for_byte(tmp_path, cookiecutter_config):  # noqa: F811
    baked = bake(tmp_path / "bake", cookiecutter_config)
    package = baked.project / "src" / baked.answers["package_name"] / "contract"
    expected = contract_files(package)
    assert "__init__.py" in expected and len(expected) > 5, sorted(expected)

    assert contract_files(SHIPPED.resolve()) == expected
    # What a host gets: the role's copy follows the link, as the test install does.
    install_agentctl(tmp_path / "lib")
    installed = tmp_path / "lib" / "agentctl" / "contract"
    assert installed.is_dir() and not installed.is_symlink()
    assert contract_files(installed) == expected


def test_the_shipped_contract_is_a_link_in_git_not_a_copy():
    listed = subprocess.run(
        ["git", "ls-files", "--stage", "--", SHIPPED.relative_to(REPO_ROOT).as_posix()],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert listed[:1] == [GIT_SYMLINK_MODE], listed
    assert SHIPPED.is_symlink()
    target = SHIPPED.resolve()
    template_contract = REPO_ROOT / "{{cookiecutter.agent_slug}}" / "src"
    assert target.is_relative_to(template_contract), target
    assert target.name == "contract"
