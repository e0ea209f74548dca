"""Every path the READMEs name exists: links, playbooks, roles and the example inventory's files.

The commands themselves are run as written elsewhere (molecule/dayone for the server section,
test_readme_commands.py for the generated agent's laptop block); this catches a renamed file that a
README still names, in the parts no command runs.
"""

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
READMES = [
    REPO_ROOT / "README.md",
    *sorted((REPO_ROOT / "roles").glob("*/README.md")),
]
LINK = re.compile(r"\]\((?!https?://|#)(?P<target>[^)#\s]+)")
# Repository paths in code spans and blocks: playbooks, roles and the example inventory. Paths in
# inventories/prod/ are the user's copy (README step 2), checked against inventories/example/.
REPOSITORY_PATH = re.compile(
    r"(?<![\w/.~-])(?P<path>(?:playbooks|roles|inventories/(?:example|prod)|docs|molecule)/[\w./@-]*[\w/])"
)
# Names of things README tells the user to create, not files of the repository.
CREATED_BY_THE_USER = ("inventories/prod/group_vars/pillars/vault.yml",)


def named_paths(readme: Path) -> list[str]:
    text = readme.read_text(encoding="utf-8")
    paths = [match["target"] for match in LINK.finditer(text)]
    paths += [match["path"] for match in REPOSITORY_PATH.finditer(text)]
    return sorted(set(paths))


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_path_a_readme_names_exists(readme):
    missing = []
    for path in named_paths(readme):
        if path in CREATED_BY_THE_USER:
            continue
        in_repository = path.replace("inventories/prod/", "inventories/example/", 1)
        if path.startswith(("playbooks/", "roles/", "inventories/", "docs/", "molecule/")):
            target = REPO_ROOT / in_repository
        else:
            target = readme.parent / in_repository
        if not target.exists():
            missing.append(path)
    assert not missing, f"{readme.relative_to(REPO_ROOT)} names paths that do not exist: {missing}"


def test_the_check_sees_the_paths_it_should():
    """The patterns find what README names, so an empty result cannot pass for a clean one."""
    paths = named_paths(REPO_ROOT / "README.md")
    assert "playbooks/site.yml" in paths
    assert "docs/reliability.md" in paths
    assert "inventories/prod/group_vars/pillars/vault.yml.example" in paths
