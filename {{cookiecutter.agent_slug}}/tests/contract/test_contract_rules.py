"""The contract package runs where only Python 3.11's standard library is: next to agentctl.

It is imported as <package>.contract in the agent and as agentctl.contract on the host, and the
template copies its files without rendering them: so only relative imports inside it, only the
standard library outside it, and no template syntax.
"""

import ast
import sys
from pathlib import Path

import pytest

import {{ cookiecutter.package_name }}.contract as contract

CONTRACT_DIR = Path(contract.__file__).parent
MODULES = sorted(CONTRACT_DIR.glob("*.py"))
MAX_MODULE_LINES = 300


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_imports_are_relative_or_from_the_standard_library(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in sys.stdlib_module_names, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_no_template_syntax_and_a_small_module(path):
    text = path.read_text(encoding="utf-8")
    for marker in ("{" + "{", "{" + "%", "{" + "#"):
        assert marker not in text, f"{path.name} holds {marker}"
    assert len(text.splitlines()) <= MAX_MODULE_LINES


def test_the_layout_module_imports_nothing_of_its_own():
    # The generator's pre-generation hook loads layout.py alone, from the template's files.
    tree = ast.parse((CONTRACT_DIR / "layout.py").read_text(encoding="utf-8"))
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))
