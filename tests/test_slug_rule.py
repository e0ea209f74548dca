"""One slug rule: the agent role refuses and accepts exactly the slugs the contract does.

The rule is contract/layout.py's slug_problem (the generator hook loads it too). The role reaches it
through its filter plugin; here the role's own assertion runs through ansible-playbook, on local
hosts that each carry one slug, and its verdicts are held to the contract's.
"""

import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
LAYOUT = (
    REPO_ROOT
    / "{{cookiecutter.agent_slug}}"
    / "src"
    / "{{cookiecutter.package_name}}"
    / "contract"
    / "layout.py"
)
ROLE = REPO_ROOT / "roles" / "agent"
# The task, as ansible-playbook names it: "agent : Check the agent's slug".
SLUG_TASK = ": Check the agent's slug"
# Records each host's result of that task (ansible-core alone ships no JSON stdout callback).
OUTCOMES_CALLBACK = """
import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "slug_outcomes"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.outcomes = {}

    def record(self, result, failed):
        if result._task.get_name().endswith(os.environ["SLUG_TASK"]):
            self.outcomes[result._host.get_name()] = {**result._result, "failed": failed}

    def v2_runner_on_ok(self, result):
        self.record(result, False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self.record(result, True)

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["SLUG_OUTCOMES"], "w", encoding="utf-8") as file:
            json.dump(self.outcomes, file, default=str)
"""

# The edges of the rule, then text drawn from an alphabet that reaches every branch of it.
EDGES = [
    "",
    "a",
    "intake-bot",
    "a1-b2",
    "a--b",
    "a-",
    "-a",
    "1a",
    "Intake",
    "a_b",
    "a.b",
    "a..b",
    "a/b",
    "a\\b",
    "a b",
    "é",
    "a" * 26,
    "a" * 27,
    "a" * 25 + "-",
    "agent-" + "x" * 20,
]
ALPHABET = "ab9-A_./ "


def drawn_slugs(count: int) -> list[str]:
    rng = random.Random(20261201)
    slugs = []
    for _ in range(count):
        length = rng.choice((1, 2, 3, 5, 8, 25, 26, 27, 30))
        slugs.append("".join(rng.choice(ALPHABET) for _ in range(length)))
    return slugs


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def layout():
    return load(LAYOUT, "contract_layout_under_test")


def run_slug_assertions(tmp_path: Path, slugs: list[str]) -> dict:
    """Run the role's assert tasks for each slug, one local host a slug; return the JSON report."""
    ansible_playbook = Path(sys.executable).with_name("ansible-playbook")
    if not ansible_playbook.is_file():
        found = shutil.which("ansible-playbook")
        if found is None:
            pytest.skip("ansible-playbook is not installed (make test installs ansible-core)")
        ansible_playbook = Path(found)
    hosts = {
        f"slug{number:03d}": {
            "agent_slug": slug,
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
        }
        for number, slug in enumerate(slugs)
    }
    plugins = tmp_path / "callback_plugins"
    plugins.mkdir()
    (plugins / "slug_outcomes.py").write_text(OUTCOMES_CALLBACK, encoding="utf-8")
    outcomes = tmp_path / "outcomes.json"
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}), encoding="utf-8")
    playbook = tmp_path / "slugs.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "The agent role's checks, one slug a host",
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Run the role's assertions",
                            "ansible.builtin.include_role": {
                                "name": "agent",
                                "tasks_from": "assert",
                            },
                            "vars": {"agent_project_dir": str(tmp_path / "project")},
                        }
                    ],
                }
            ],
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(REPO_ROOT / "roles"),
        "ANSIBLE_CALLBACK_PLUGINS": str(plugins),
        "ANSIBLE_CALLBACKS_ENABLED": "slug_outcomes",
        "SLUG_TASK": SLUG_TASK,
        "SLUG_OUTCOMES": str(outcomes),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_FORKS": "10",
    }
    result = subprocess.run(
        [str(ansible_playbook), "-i", str(inventory), str(playbook)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        report = json.loads(outcomes.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pytest.fail(f"ansible-playbook recorded no outcome: {result.stdout[-2000:]}{result.stderr}")
    return {hosts[name]["agent_slug"]: outcome for name, outcome in report.items()}


def test_the_role_refuses_and_accepts_exactly_the_contracts_slugs(tmp_path, layout):
    slugs = list(dict.fromkeys(EDGES + drawn_slugs(60)))
    accepted_by_contract = {slug for slug in slugs if layout.slug_problem(slug) is None}
    assert 3 < len(accepted_by_contract) < len(slugs) - 10  # both verdicts are exercised

    outcomes = run_slug_assertions(tmp_path, slugs)

    assert set(outcomes) == set(slugs)
    accepted_by_role = {slug for slug, outcome in outcomes.items() if not outcome.get("failed")}
    assert accepted_by_role == accepted_by_contract
    for slug in set(slugs) - accepted_by_contract:
        message = outcomes[slug]["msg"]
        # One line: the slug, the contract's reason, and where to fix it.
        assert message.startswith(f"agent slug {json.dumps(slug)} "), message
        assert layout.slug_problem(slug) in message
        assert "pillars_agents" in message and "\n" not in message


def test_the_role_derives_the_user_and_unit_with_the_contract(layout):
    pytest.importorskip("ansible")
    plugin = load(ROLE / "filter_plugins" / "agent_slug.py", "agent_slug_filters_under_test")
    filters = plugin.FilterModule().filters()

    assert filters["agent_system_user"]("intake-bot") == layout.system_user("intake-bot")
    assert filters["agent_unit_name"]("intake-bot") == layout.unit_name("intake-bot")
    assert filters["agent_slug_problem"]("intake-bot") == ""
    # The plugin reads the contract through agentctl's link: the same file, not a copy.
    assert plugin.LAYOUT.resolve() == LAYOUT.resolve()


def test_no_slug_pattern_is_written_again_in_the_role():
    for path in (ROLE / "tasks" / "assert.yml", ROLE / "vars" / "main.yml"):
        text = path.read_text(encoding="utf-8")
        assert "[a-z0-9-]" not in text and "<= 26" not in text, path
