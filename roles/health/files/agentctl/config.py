"""agentctl's settings: /etc/agents/agentctl.conf (JSON, from the health role) over defaults."""

import json
import os
import re
from pathlib import Path

from .errors import UsageError

CONFIG_ENV = "AGENTCTL_CONFIG"
DEFAULT_CONFIG_PATH = Path("/etc/agents/agentctl.conf")


# Each setting once: its kind (how load_config checks it) and its default. The health role writes
# agentctl.conf from roles/health/defaults (tests/test_agentctl_config.py holds the two together).
PATH, NUMBER, NON_NEGATIVE, PERCENT, WHOLE, BOOL, STRING = (
    "path",
    "number above 0",
    "number, 0 or more",
    "percentage",
    "whole number",
    "bool",
    "string",
)
SETTINGS = {
    "admin_group": (STRING, "pillars-admin"),
    "sudo": (BOOL, True),
    "tools_user": (STRING, "pillars-ops"),
    "agents_dir": (PATH, "/srv/agents"),
    "state_root": (PATH, "/var/lib/agents"),
    "logs_root": (PATH, "/var/log/agents"),
    "config_root": (PATH, "/etc/agents"),
    "state_dir": (PATH, "/var/lib/agentctl"),
    "audit_log": (PATH, "/var/log/agents/agentctl.log"),
    "secret_file": (PATH, "/etc/agents/agentctl.secret"),
    "telegram_api_base": (STRING, "https://api.telegram.org"),
    "telegram_chat_id": (STRING, ""),
    "telegram_timeout_seconds": (NUMBER, 10),
    "telegram_max_wait_seconds": (NON_NEGATIVE, 120),
    "heartbeat_url": (STRING, ""),
    "reminder_hours": (NUMBER, 4),
    "heartbeat_max_age_minutes": (NUMBER, 10),
    "backlog_max_age_minutes": (NUMBER, 30),
    "review_max_age_hours": (NUMBER, 24),
    "restart_alert_count": (WHOLE, 1),
    "disk_max_percent": (PERCENT, 90),
    "memory_max_percent": (PERCENT, 90),
    "agent_memory_max_percent": (PERCENT, 90),
    "run_agent_health": (BOOL, True),
    "journal_lines": (WHOLE, 20),
    "backup_status_file": (PATH, "/var/lib/pillars-backup/status.json"),
    "backup_max_age_hours": (NUMBER, 26),
}
DEFAULT_CONFIG = {key: default for key, (_, default) in SETTINGS.items()}
URL_KEYS = ("telegram_api_base", "heartbeat_url")
URL = re.compile(r"^https?://[^\s/]+")


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# What each kind accepts, and how a problem with it is said: "<key> must be <said>".
KINDS = {
    PATH: (lambda value: isinstance(value, str) and value.startswith("/"), "an absolute path"),
    NUMBER: (lambda value: is_number(value) and value > 0, "a number above 0"),
    NON_NEGATIVE: (lambda value: is_number(value) and value >= 0, "a number, 0 or more"),
    PERCENT: (
        lambda value: is_number(value) and 0 < value <= 100,
        "a percentage above 0, at most 100",
    ),
    WHOLE: (
        lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 1,
        "a whole number, 1 or more",
    ),
    BOOL: (lambda value: isinstance(value, bool), "true or false"),
    STRING: (lambda value: isinstance(value, str), "a string"),
}


def keys_of(kind: str) -> tuple[str, ...]:
    return tuple(key for key, (of_kind, _) in SETTINGS.items() if of_kind == kind)


PATH_KEYS = keys_of(PATH)


def read_settings(path: Path, declared: dict, kinds: dict, missing: str) -> tuple[dict, list[str]]:
    """Read a JSON settings file over the declared defaults; return them and the problems found.

    declared maps each setting to (kind, default), kinds each kind to (accepts, said). A file
    that is missing (missing says how to get it), unreadable or not a JSON object, or that names
    a setting not declared, raises UsageError. Keys starting with "_" are comments (JSON has none).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist; {missing}") from None
    except PermissionError:
        raise UsageError(
            f"only root and members of the admin group may use agentctl (cannot read {path}); "
            "run it with sudo"
        ) from None
    try:
        given = json.loads(text)
    except ValueError as error:
        raise UsageError(
            f"{path} is not valid JSON ({error}); fix it or re-run the health role"
        ) from None
    if not isinstance(given, dict):
        raise UsageError(f"{path} must hold a JSON object; re-run the health role")
    given = {key: value for key, value in given.items() if not key.startswith("_")}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise UsageError(f"{path}: unknown setting(s) {', '.join(unknown)}; remove them")
    settings = {key: default for key, (_, default) in declared.items()} | given
    problems = []
    for key, (kind, _) in declared.items():
        accepts, said = kinds[kind]
        if not accepts(settings[key]):
            problems.append(f"{key} must be {said}")
    return settings, problems


def load_config(path: Path) -> dict:
    """Read the JSON configuration over the defaults; raise UsageError on anything wrong in it."""
    config, problems = read_settings(
        path, SETTINGS, KINDS, f"install agentctl with the health role (or set {CONFIG_ENV})"
    )
    for key in URL_KEYS:
        value = config[key]
        if isinstance(value, str) and value and not URL.match(value):
            problems.append(f"{key} must be an http(s) URL")
    if problems:
        raise UsageError(f"{path}: {'; '.join(problems)}")
    for key in PATH_KEYS:
        config[key] = Path(config[key])
    return config


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
