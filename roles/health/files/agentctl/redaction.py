"""Secrets: the bot token's root-only file, and the redactor every output goes through."""

from .contract.redact import Redactor
from .errors import UsageError


def read_bot_token(config: dict) -> str:
    """Return the Telegram bot token from the root-only secret file ('' when none is set)."""
    path = config["secret_file"]
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    if info.st_mode & 0o077:
        raise UsageError(
            f"{path} can be read by others (mode {info.st_mode & 0o777:04o}); run: chmod 600 {path}"
        )
    return text.strip()


# Taught the bot token and the agents' .env values by the commands that may show them.
REDACT = Redactor()
