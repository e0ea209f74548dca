"""agentctl's settings are declared once (config.SETTINGS); the health role meets that declaration.

roles/health/templates/agentctl.conf.j2 writes a key from each role variable it names, and the
variable's default (roles/health/defaults/main.yml and meta/argument_specs.yml) must be agentctl's
own default, of a type agentctl accepts: a drift would change a threshold on upgrade, silently.
The bot's settings (bot/settings.BOT_SETTINGS) are declared and read the same way.
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
    # Every declared kind is one load_config checks.
    assert {kind for kind, _ in config.SETTINGS.values()} <= set(config.KINDS)


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


# The bot's settings (pillars-bot.conf) are declared the same way, and read by the same reader.

bot_settings = import_agentctl("bot.settings")
BOT_TEMPLATE_LINE = re.compile(r'^\s*"(?P<key>\w+)": (?P<value>.+?),?$')


def written_for_the_bot() -> dict[str, str]:
    """The keys pillars-bot.conf.j2 writes, each with what it writes (a variable or a value)."""
    text = (ROLE / "templates" / "pillars-bot.conf.j2").read_text(encoding="utf-8")
    found = {}
    for line in text.splitlines()[1:-1]:
        if (match := BOT_TEMPLATE_LINE.match(line)) and not match["key"].startswith("_"):
            found[match["key"]] = match["value"]
    return found


def test_every_key_the_role_writes_for_the_bot_is_declared_by_it():
    written = written_for_the_bot()
    assert len(written) >= 5
    assert sorted(set(written) - set(bot_settings.BOT_SETTINGS)) == []
    kinds = {kind for kind, _ in bot_settings.BOT_SETTINGS.values()}
    assert kinds <= set(bot_settings.BOT_KINDS)
    # Written as a fixed value, it is the bot's own default.
    state_file = bot_settings.BOT_SETTINGS["state_file"][1]
    assert json.loads(written["state_file"]) == state_file


@pytest.mark.parametrize(
    ("key", "variable"),
    [("privacy", "health_bot_privacy"), ("button_valid_hours", "health_bot_button_valid_hours")],
)
def test_the_roles_bot_defaults_are_the_bots(key, variable):
    assert variable in written_for_the_bot()[key]
    assert DEFAULTS[variable] == bot_settings.BOT_SETTINGS[key][1]
    assert SPECS[variable]["default"] == DEFAULTS[variable]
    if key == "privacy":
        assert tuple(SPECS[variable]["choices"]) == bot_settings.PRIVACY_LEVELS


def bot_file(tmp_path, **settings) -> Path:
    path = tmp_path / "pillars-bot.conf"
    values = {"_comment": "a comment", "allowed_users": [42], "allowed_chats": ["-100"]}
    path.write_text(json.dumps(values | settings), encoding="utf-8")
    return path


def test_a_bot_settings_file_loads_over_the_defaults(tmp_path):
    loaded = bot_settings.load_bot_config(bot_file(tmp_path, poll_timeout_seconds=90))

    assert loaded["allowed_users"] == frozenset({42})
    assert loaded["allowed_chats"] == frozenset({-100})
    assert loaded["privacy"] == "initials"
    assert loaded["state_file"] == Path("/var/lib/pillars-bot/bot.json")
    assert loaded["poll_timeout_seconds"] == 50  # the Bot API's longest long poll


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"allowed_users": ["doc"]}, "allowed_users must be a list of Telegram ids"),
        ({"allowed_chats": []}, "allowed_users and allowed_chats must each name at least one id"),
        ({"privacy": "everything"}, "privacy must be one of full, initials, record"),
        ({"button_valid_hours": 0}, "button_valid_hours must be a number above 0"),
        ({"decision_wait_seconds": True}, "decision_wait_seconds must be a number above 0"),
        ({"state_file": "bot.json"}, "state_file must be an absolute path"),
        ({"token_file": 7}, "token_file must be a string"),
        ({"allowed": [1]}, "unknown setting(s) allowed; remove them"),
    ],
)
def test_a_bad_bot_setting_says_which_and_why(tmp_path, settings, said):
    with pytest.raises(bot_settings.UsageError) as raised:
        bot_settings.load_bot_config(bot_file(tmp_path, **settings))
    assert said in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_bot_settings_file_says_how_to_get_it(tmp_path):
    with pytest.raises(bot_settings.UsageError, match="health_bot_allowed_users"):
        bot_settings.load_bot_config(tmp_path / "absent.conf")
