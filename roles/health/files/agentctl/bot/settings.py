"""The bot's settings (/etc/agents/pillars-bot.conf, JSON, from the health role) and its token.

The token is a systemd credential (LoadCredential=): a file in $CREDENTIALS_DIRECTORY that only
the unit's process reads, never in the environment, the settings or a log.
"""

import json
import os
from pathlib import Path

from ..errors import UsageError

BOT_CONFIG_ENV = "PILLARS_BOT_CONFIG"
DEFAULT_BOT_CONFIG = Path("/etc/agents/pillars-bot.conf")
CREDENTIAL = "telegram-bot-token"
PRIVACY_LEVELS = ("full", "initials", "record")
DEFAULTS = {
    "allowed_users": [],
    "allowed_chats": [],
    # Initials and birth year: enough to tell two candidates apart, no full name on Telegram.
    "privacy": "initials",
    "button_valid_hours": 24,
    "poll_timeout_seconds": 50,
    # How long a press waits for the agent to apply the decision before it says "handed over".
    "decision_wait_seconds": 15,
    "state_file": "/var/lib/pillars-bot/bot.json",
    "token_file": "",
}


def bot_config_path() -> Path:
    return Path(os.environ.get(BOT_CONFIG_ENV) or DEFAULT_BOT_CONFIG)


def load_bot_config(path: Path) -> dict:
    """Read the bot's settings over the defaults; UsageError, one line, on anything wrong."""
    try:
        given = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{path} does not exist; set health_bot_allowed_users and health_bot_allowed_chats "
            f"and re-run the health role (or set {BOT_CONFIG_ENV})"
        ) from None
    except ValueError as error:
        raise UsageError(f"{path} is not valid JSON ({error}); re-run the health role") from None
    if not isinstance(given, dict):
        raise UsageError(f"{path} must hold a JSON object; re-run the health role")
    given = {key: value for key, value in given.items() if not key.startswith("_")}
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"{path}: unknown setting(s) {', '.join(unknown)}; remove them")
    config = {**DEFAULTS, **given}
    problems = []
    for key in ("allowed_users", "allowed_chats"):
        ids = config[key]
        if not isinstance(ids, list) or not all(_is_id(value) for value in ids):
            problems.append(f"{key} must be a list of Telegram ids (whole numbers)")
        else:
            config[key] = frozenset(int(value) for value in ids)
    if not problems and not (config["allowed_users"] and config["allowed_chats"]):
        problems.append("allowed_users and allowed_chats must each name at least one id")
    if config["privacy"] not in PRIVACY_LEVELS:
        problems.append(f"privacy must be one of {', '.join(PRIVACY_LEVELS)}")
    for key in ("button_valid_hours", "poll_timeout_seconds", "decision_wait_seconds"):
        value = config[key]
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            problems.append(f"{key} must be a number above 0")
    if not str(config["state_file"]).startswith("/"):
        problems.append("state_file must be an absolute path")
    if problems:
        raise UsageError(f"{path}: {'; '.join(problems)}")
    config["state_file"] = Path(config["state_file"])
    config["poll_timeout_seconds"] = min(int(config["poll_timeout_seconds"]), 50)
    return config


def _is_id(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.lstrip("-").isdigit()


def read_token(bot_config: dict) -> str:
    """Return the bot token from the unit's credential (or token_file); UsageError if none."""
    if bot_config["token_file"]:
        path = Path(bot_config["token_file"])
    elif os.environ.get("CREDENTIALS_DIRECTORY"):
        path = Path(os.environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL
    else:
        raise UsageError(
            f"no bot token: run the bot as pillars-bot.service (LoadCredential={CREDENTIAL}) "
            "or set token_file in the bot's settings"
        )
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise UsageError(f"cannot read the bot token ({error.strerror}: {path})") from None
    if not token:
        raise UsageError(f"the bot token file {path} is empty; set health_telegram_bot_token")
    return token
