"""The bot's settings (/etc/agents/pillars-bot.conf, JSON, from the health role) and its token.

The token is a systemd credential (LoadCredential=): a file in $CREDENTIALS_DIRECTORY that only
the unit's process reads, never in the environment, the settings or a log.
"""

import os
from pathlib import Path

from ..config import KINDS, NUMBER, PATH, STRING, read_settings
from ..errors import UsageError

BOT_CONFIG_ENV = "PILLARS_BOT_CONFIG"
DEFAULT_BOT_CONFIG = Path("/etc/agents/pillars-bot.conf")
CREDENTIAL = "telegram-bot-token"
PRIVACY_LEVELS = ("full", "initials", "record")
# The longest getUpdates long poll the Bot API holds (a longer one is shortened to it).
LONGEST_POLL_SECONDS = 50
IDS, PRIVACY = "telegram ids", "privacy level"
# Each setting once, as agentctl's own (config.SETTINGS): its kind and its default. The health
# role writes pillars-bot.conf (tests/test_agentctl_config.py holds the two together).
BOT_SETTINGS = {
    "allowed_users": (IDS, []),
    "allowed_chats": (IDS, []),
    # Initials and birth year: enough to tell two candidates apart, no full name on Telegram.
    "privacy": (PRIVACY, "initials"),
    "button_valid_hours": (NUMBER, 24),
    "poll_timeout_seconds": (NUMBER, LONGEST_POLL_SECONDS),
    # How long a press waits for the agent to apply the decision before it says "handed over".
    "decision_wait_seconds": (NUMBER, 15),
    "state_file": (PATH, "/var/lib/pillars-bot/bot.json"),
    "token_file": (STRING, ""),
}
BOT_KINDS = KINDS | {
    IDS: (
        lambda value: isinstance(value, list) and all(is_id(one) for one in value),
        "a list of Telegram ids (whole numbers)",
    ),
    PRIVACY: (lambda value: value in PRIVACY_LEVELS, f"one of {', '.join(PRIVACY_LEVELS)}"),
}


def bot_config_path() -> Path:
    return Path(os.environ.get(BOT_CONFIG_ENV) or DEFAULT_BOT_CONFIG)


def load_bot_config(path: Path) -> dict:
    """Read the bot's settings over the defaults; UsageError, one line, on anything wrong."""
    config, problems = read_settings(
        path,
        BOT_SETTINGS,
        BOT_KINDS,
        "set health_bot_allowed_users and health_bot_allowed_chats and re-run the health role "
        f"(or set {BOT_CONFIG_ENV})",
    )
    if not problems and not (config["allowed_users"] and config["allowed_chats"]):
        problems.append("allowed_users and allowed_chats must each name at least one id")
    if problems:
        raise UsageError(f"{path}: {'; '.join(problems)}")
    for key in ("allowed_users", "allowed_chats"):
        config[key] = frozenset(int(value) for value in config[key])
    config["state_file"] = Path(config["state_file"])
    config["poll_timeout_seconds"] = min(int(config["poll_timeout_seconds"]), LONGEST_POLL_SECONDS)
    return config


def is_id(value) -> bool:
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
