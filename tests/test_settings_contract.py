"""The agent declares its settings once; the contract page and the Ansible role agree with it.

A baked agent's `security/settings_schema.py` is the one declaration of its .env keys (type,
default, bounds, secret or not, help). docs/contract.md's settings table is what it prints; on the
Ansible side, roles/agent/meta/argument_specs.yml declares the keys `agent_settings` and
`agent_secrets` may hold, env.j2 writes them, and vars/main.yml and tasks/assert.yml fall back on
the agent's defaults for the keys they derive the watchdog from. Each of these is held to the
declaration here.
"""

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRACT = REPO_ROOT / "docs" / "contract.md"
ROLE = REPO_ROOT / "roles" / "agent"
ARGUMENT_SPECS = ROLE / "meta" / "argument_specs.yml"
ROLE_VARS = ROLE / "vars" / "main.yml"
ROLE_ASSERTS = ROLE / "tasks" / "assert.yml"
ROLE_CONFIG = ROLE / "tasks" / "config.yml"
ENV_TEMPLATE = ROLE / "templates" / "env.j2"
UNIT_TEMPLATE = ROLE / "templates" / "agent.service.j2"
EXAMPLE_AGENTS = REPO_ROOT / "inventories" / "example" / "group_vars" / "pillars" / "agents.yml"
MOLECULE = REPO_ROOT / "molecule" / "default" / "molecule.yml"
# A package name of its own, so no other installed bake of the template is imported instead.
AGENT_NAME = "Settings Contract Agent"
# The Ansible type each kind of setting is checked as (every value reaches the .env as text).
ANSIBLE_TYPES = {
    "text": "str",
    "whole number": "int",
    "number": "float",
    "path": "str",
    "services": "str",
    "percentages": "str",
}
# Keys the role writes itself, from its own variables, rather than taking from agent_settings.
ROLE_WRITTEN = {"PEOPLE_CSV": "agent_people_csv"}
FALLBACK = re.compile(r"agent_settings\.(?P<key>[A-Z_]+) \| default\((?P<value>[^)]*)\)")
SECRET_VALUE = "sk-contract-test-7c1e5a9b3d"


@pytest.fixture(scope="module")
def agent(baked_package):
    """Return the baked agent's declaration (settings_schema) and what is written from it."""
    schema, docs = baked_package(AGENT_NAME, "security.settings_schema", "security.settings_docs")
    return SimpleNamespace(schema=schema, docs=docs)


def role_options() -> dict:
    return yaml.safe_load(ARGUMENT_SPECS.read_text(encoding="utf-8"))["argument_specs"]["main"][
        "options"
    ]


def settings_options() -> dict:
    return role_options()["agent_settings"]["options"]


def secrets_options() -> dict:
    return role_options()["agent_secrets"]["options"]


def test_the_contracts_settings_table_is_the_agents(agent):
    table = agent.docs.markdown_table()

    assert table in CONTRACT.read_text(encoding="utf-8"), (
        "the settings table of docs/contract.md differs from the agent's declaration; fix: bake "
        "the template and paste what `<slug> settings table` prints"
    )


def test_the_role_can_write_every_declared_key_and_no_other(agent):
    declared = {setting.key for setting in agent.schema.SETTINGS}
    written = set(settings_options()) | set(secrets_options()) | set(ROLE_WRITTEN)

    assert written - declared == set(), "the role writes keys the agent does not read"
    assert declared - written == set(), "the agent reads keys the role cannot write"
    assert set(settings_options()).isdisjoint(secrets_options())


def test_the_env_file_holds_settings_secrets_and_the_people_file_only():
    variables = yaml.safe_load(ROLE_VARS.read_text(encoding="utf-8"))
    combined = re.findall(r"agent_\w+|'[A-Z_]+'", variables["__agent_env"])

    assert combined == [
        "agent_settings",
        "agent_secrets",
        "'PEOPLE_CSV'",
        "agent_people_file",
        "agent_people_csv",
    ]
    assert "{% for key, value in __agent_env | dictsort %}" in ENV_TEMPLATE.read_text()


def test_each_setting_has_the_agents_type_default_choices_and_help(agent):
    options = settings_options() | secrets_options()
    drift = []
    for setting in agent.schema.SETTINGS:
        option = options[setting.key]
        fixed = setting.shown_default is None and setting.default not in (None, "", ())
        expected = {
            "type": ANSIBLE_TYPES[setting.kind],
            "default": setting.default if fixed else None,
            "choices": list(setting.choices) or None,
            "description": agent.docs.described(setting),
        }
        if setting.key in ROLE_WRITTEN:
            expected["description"] = option["description"]
            assert ROLE_WRITTEN[setting.key] in option["description"]
        found = {name: option.get(name) for name in expected}
        drift += [
            f"{setting.key} {name}: role {found[name]!r}, agent {expected[name]!r}"
            for name in expected
            if found[name] != expected[name]
        ]

    assert drift == []


def test_the_secrets_are_the_agents_and_reach_only_a_root_only_file(agent):
    secrets = secrets_options()

    assert list(secrets) == list(agent.schema.SECRET_KEYS)
    assert all(option.get("no_log") is True for option in secrets.values())
    assert role_options()["agent_secrets"]["no_log"] is True
    tasks = yaml.safe_load(ROLE_CONFIG.read_text(encoding="utf-8"))
    (write,) = [
        task for task in tasks if task.get("ansible.builtin.template", {}).get("src") == "env.j2"
    ]
    assert write["ansible.builtin.template"]["mode"] == "0600"
    assert write["ansible.builtin.template"]["owner"] == "root"
    assert write["no_log"] is True and write["diff"] is False
    assert "LoadCredential=env:{{ __agent_env_file }}" in UNIT_TEMPLATE.read_text()


@pytest.mark.parametrize("path", [ROLE_VARS, ROLE_ASSERTS], ids=lambda path: path.name)
def test_the_roles_fallbacks_are_the_agents_defaults(agent, path):
    defaults = {setting.key: setting.default for setting in agent.schema.SETTINGS}
    fallbacks = FALLBACK.findall(path.read_text(encoding="utf-8"))

    assert fallbacks, f"{path} no longer falls back on the agent's defaults: drop this test"
    assert [(key, float(value)) for key, value in fallbacks] == [
        (key, float(defaults[key])) for key, _ in fallbacks
    ]


def example_agents() -> list[dict]:
    inventory = yaml.safe_load(EXAMPLE_AGENTS.read_text(encoding="utf-8"))["pillars_agents"]
    molecule = yaml.safe_load(MOLECULE.read_text(encoding="utf-8"))
    hosts = molecule["provisioner"]["inventory"]["host_vars"].values()
    return inventory + [agent for host in hosts for agent in host["pillars_agents"]]


def validate(settings: dict, secrets: dict) -> list[str]:
    """Return the role's argument errors for these settings and secrets, as a deploy does."""
    arg_spec = pytest.importorskip("ansible.module_utils.common.arg_spec")
    options = {name: role_options()[name] for name in ("agent_settings", "agent_secrets")}
    result = arg_spec.ArgumentSpecValidator(options).validate(
        {"agent_settings": settings, "agent_secrets": secrets}, validate_role_argument_spec=True
    )
    return result.error_messages


@pytest.mark.parametrize("entry", example_agents(), ids=lambda entry: entry["slug"])
def test_the_example_agents_pass_the_role_argument_spec(entry):
    assert validate(entry.get("settings", {}), entry.get("secrets", {})) == []


@pytest.mark.parametrize(
    ("settings", "secrets", "named"),
    [
        ({"LLM_API_KEY": SECRET_VALUE}, {}, "agent_settings.LLM_API_KEY"),
        ({}, {"TELEGRAM_CHAT_ID": SECRET_VALUE}, "agent_secrets.TELEGRAM_CHAT_ID"),
        ({"LLM_MODELL": "gpt-4o-mini"}, {}, "agent_settings.LLM_MODELL"),
        ({"DAILY_BUDGET_USD": "five"}, {}, "DAILY_BUDGET_USD"),
        ({"MAX_ATTEMPTS": "2.5"}, {}, "MAX_ATTEMPTS"),
        ({"LOG_LEVEL": "CHATTY"}, {}, "LOG_LEVEL"),
    ],
)
def test_a_key_or_value_the_agent_would_refuse_or_leak_is_refused_at_deploy(
    settings, secrets, named
):
    errors = validate(settings, secrets)

    assert len(errors) == 1 and named in errors[0]
    assert SECRET_VALUE not in errors[0]
