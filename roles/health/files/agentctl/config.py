"""agentctl's settings: /etc/agents/agentctl.conf (JSON, from the health role) over defaults."""

import json
import os
import re
from pathlib import Path

from .errors import UsageError

CONFIG_ENV = "AGENTCTL_CONFIG"
DEFAULT_CONFIG_PATH = Path("/etc/agents/agentctl.conf")


DEFAULT_CONFIG = {
    "admin_group": "pillars-admin",
    "sudo": True,
    "agents_dir": "/srv/agents",
    "state_root": "/var/lib/agents",
    "logs_root": "/var/log/agents",
    "config_root": "/etc/agents",
    "state_dir": "/var/lib/agentctl",
    "audit_log": "/var/log/agents/agentctl.log",
    "secret_file": "/etc/agents/agentctl.secret",
    "telegram_api_base": "https://api.telegram.org",
    "telegram_chat_id": "",
    "telegram_timeout_seconds": 10,
    "telegram_max_wait_seconds": 120,
    "heartbeat_url": "",
    "reminder_hours": 4,
    "heartbeat_max_age_minutes": 10,
    "backlog_max_age_minutes": 30,
    "review_max_age_hours": 24,
    "restart_alert_count": 1,
    "disk_max_percent": 90,
    "memory_max_percent": 90,
    "agent_memory_max_percent": 90,
    "run_agent_health": True,
    "journal_lines": 20,
}
PATH_KEYS = (
    "agents_dir",
    "state_root",
    "logs_root",
    "config_root",
    "state_dir",
    "audit_log",
    "secret_file",
)
POSITIVE_NUMBER_KEYS = (
    "telegram_timeout_seconds",
    "reminder_hours",
    "heartbeat_max_age_minutes",
    "backlog_max_age_minutes",
    "review_max_age_hours",
)
NON_NEGATIVE_NUMBER_KEYS = ("telegram_max_wait_seconds",)
PERCENT_KEYS = ("disk_max_percent", "memory_max_percent", "agent_memory_max_percent")
POSITIVE_INT_KEYS = ("restart_alert_count", "journal_lines")
BOOL_KEYS = ("sudo", "run_agent_health")
STRING_KEYS = ("admin_group", "telegram_api_base", "telegram_chat_id", "heartbeat_url")


def load_config(path: Path) -> dict:
    """Read the JSON configuration over the defaults; raise UsageError on anything wrong in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"{path} does not exist; install agentctl with the health role (or set {CONFIG_ENV})"
        ) from None
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
    # JSON has no comments: keys starting with "_" are comments.
    given = {key: value for key, value in given.items() if not key.startswith("_")}
    unknown = sorted(set(given) - set(DEFAULT_CONFIG))
    if unknown:
        raise UsageError(f"{path}: unknown setting(s) {', '.join(unknown)}; remove them")
    config = {**DEFAULT_CONFIG, **given}
    problems = []
    for key in PATH_KEYS:
        if not isinstance(config[key], str) or not config[key].startswith("/"):
            problems.append(f"{key} must be an absolute path")
    for key in POSITIVE_NUMBER_KEYS:
        if not is_number(config[key]) or config[key] <= 0:
            problems.append(f"{key} must be a number above 0")
    for key in NON_NEGATIVE_NUMBER_KEYS:
        if not is_number(config[key]) or config[key] < 0:
            problems.append(f"{key} must be a number, 0 or more")
    for key in PERCENT_KEYS:
        if not is_number(config[key]) or not 0 < config[key] <= 100:
            problems.append(f"{key} must be a percentage above 0, at most 100")
    for key in POSITIVE_INT_KEYS:
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            problems.append(f"{key} must be a whole number, 1 or more")
    for key in BOOL_KEYS:
        if not isinstance(config[key], bool):
            problems.append(f"{key} must be true or false")
    for key in STRING_KEYS:
        if not isinstance(config[key], str):
            problems.append(f"{key} must be a string")
    for key in ("telegram_api_base", "heartbeat_url"):
        value = config[key]
        if isinstance(value, str) and value and not re.match(r"^https?://[^\s/]+", value):
            problems.append(f"{key} must be an http(s) URL")
    if problems:
        raise UsageError(f"{path}: {'; '.join(problems)}")
    for key in PATH_KEYS:
        config[key] = Path(config[key])
    return config


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
