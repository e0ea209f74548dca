"""agentctl's settings are declared once (config.SETTINGS); the health role meets that declaration.

roles/health/templates/agentctl.conf.j2 writes a key from each role variable it names, and the
variable's default (roles/health/defaults/main.yml and meta/argument_specs.yml) must be agentctl's
own default, of a type agentctl accepts: a drift would change a threshold on upgrade, silently.
"""

import json
import re
from pathlib import Path

import pytest
import yaml
from agentctl_stubs import import_agentctl

REPO_ROOT = Path(__file__).resolve().parents[1]
ROLE = REPO_ROOT / "roles" / "health"
TEMPLATE_LINE = re.compile(r'^\s*"(?P<key>\w+)": \{\{ (?P<variable>health_\w+)\b')
# What argument_specs may call each of agentctl's kinds.
SPEC_TYPES = {
    "string": {"str"},
    "bool": {"bool"},
    "whole number": {"int"},
    "number above 0": {"int", "float"},
    "number, 0 or more": {"int", "float"},
    "percentage": {"int", "float"},
}

config = import_agentctl("config")


def written_by_the_role() -> dict[str, str]:
    """The keys agentctl.conf.j2 writes, each with the role variable it is written from."""
    text = (ROLE / "templates" / "agentctl.conf.j2").read_text(encoding="utf-8")
    found = {}
    for line in text.splitlines():
        if match := TEMPLATE_LINE.match(line):
            found[match["key"]] = match["variable"]
    return found


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


WRITTEN = written_by_the_role()
DEFAULTS = load_yaml(ROLE / "defaults" / "main.yml")
SPECS = load_yaml(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def test_every_key_the_role_writes_is_declared_by_agentctl():
    assert len(WRITTEN) >= 10
    assert sorted(set(WRITTEN) - set(config.SETTINGS)) == []
    # Every kind-list load_config checks is made from the one declaration.
    kinds = (config.PATH_KEYS, config.POSITIVE_NUMBER_KEYS, config.NON_NEGATIVE_NUMBER_KEYS)
    kinds += (config.PERCENT_KEYS, config.POSITIVE_INT_KEYS, config.BOOL_KEYS, config.STRING_KEYS)
    assert sorted(key for keys in kinds for key in keys) == sorted(config.SETTINGS)


@pytest.mark.parametrize("key", sorted(WRITTEN))
def test_the_roles_default_is_agentctls_default_and_kind(key):
    variable = WRITTEN[key]
    kind, default = config.SETTINGS[key]
    role_default = DEFAULTS[variable]
    if kind == "string":
        role_default = str(role_default)  # a chat id may be written as a number
    assert role_default == default, f"{variable}: {role_default!r} here, {default!r} in agentctl"
    assert SPECS[variable]["default"] == DEFAULTS[variable], f"{variable}: argument_specs"
    assert SPECS[variable]["type"] in SPEC_TYPES[kind], f"{variable}: {kind}"


def test_a_config_file_of_the_roles_defaults_loads(tmp_path):
    values = {key: DEFAULTS[variable] for key, variable in WRITTEN.items()}
    values["telegram_chat_id"] = str(values["telegram_chat_id"])
    path = tmp_path / "agentctl.conf"
    path.write_text(json.dumps(values), encoding="utf-8")

    loaded = config.load_config(path)

    assert {key: loaded[key] for key in WRITTEN} == values
