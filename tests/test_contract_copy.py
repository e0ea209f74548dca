"""The contract package is copied, not rendered: every copy of it is the template's, byte for byte.

The agent imports it as <package>.contract; the health role ships the same files next to agentctl.
Both must be the template's files exactly, so the two sides cannot drift apart (the health role's
copy, a link, is checked in test_agentctl_contract.py).
"""

import fnmatch
import json
from pathlib import Path

import pytest
from test_cookiecutter_generation import (
    bake,
    cookiecutter_config,  # noqa: F401 (a fixture, used by name)
)

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_CONTRACT = next(REPO_ROOT.glob("{{cookiecutter.agent_slug}}/src/*/contract"))


def contract_files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.py"))}


def test_the_template_has_a_contract_package_cookiecutter_copies_as_is():
    assert "__init__.py" in contract_files(TEMPLATE_CONTRACT)
    options = json.loads((REPO_ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    patterns = options["_copy_without_render"]
    for path in TEMPLATE_CONTRACT.glob("*.py"):
        relative = str(path.relative_to(REPO_ROOT))
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


@pytest.mark.parametrize(
    "answers",
    [{}, {"agent_name": "Invoice Checker", "telegram_alerts": "no", "llm_provider": "openai"}],
    ids=["defaults", "other-answers"],
)
def test_a_baked_agent_holds_the_template_contract_byte_for_byte(
    tmp_path,
    cookiecutter_config,  # noqa: F811 (the fixture, by name)
    answers,
):
    project = bake(tmp_path, cookiecutter_config, **answers).project
    (baked,) = project.glob("src/*/contract")

    assert contract_files(baked) == contract_files(TEMPLATE_CONTRACT)
    assert not (baked / "__pycache__").exists(), "the generator left bytecode in the contract"
