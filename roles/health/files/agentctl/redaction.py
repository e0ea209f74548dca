"""Secrets: the bot token's root-only file, and taking every known secret out of output."""

import re
from pathlib import Path

from .errors import UsageError

# .env values shorter than this are redacted only when their key names a secret: redacting every
# "5" or "fake" would make journal lines unreadable without protecting anything.
MIN_REDACTED_VALUE_CHARS = 6
MIN_SECRET_VALUE_CHARS = 4
SECRET_KEY_PATTERN = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSPHRASE|CREDENTIAL", re.IGNORECASE)
SECRET_PATTERNS = (
    re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}"),  # Telegram bot tokens
    re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"),  # OpenAI / Anthropic style API keys
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)\b(api[_-]?key|token|secret|password)(\W{1,3})[^\s\"',;]{4,}"),
)
REDACTED = "[redacted]"


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


def parse_env_file(path: Path) -> dict[str, str]:
    """Read KEY=value lines the way python-dotenv does (quotes, escapes, comments)."""
    values = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, PermissionError, UnicodeDecodeError):
        return values
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            out, escaped = [], False
            for char in value[1:]:
                if escaped:
                    out.append(char if quote == "'" else {"n": "\n", "t": "\t"}.get(char, char))
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == quote:
                    break
                else:
                    out.append(char)
            value = "".join(out)
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        values[key] = value
    return values


class Redactor:
    """Replace every known secret value and every secret-looking pattern in a text."""

    def __init__(self):
        self.values: set[str] = set()

    def add(self, value: str) -> None:
        if value:
            self.values.add(value)

    def add_env_file(self, path: Path) -> None:
        for key, value in parse_env_file(path).items():
            if len(value) >= MIN_REDACTED_VALUE_CHARS or (
                SECRET_KEY_PATTERN.search(key) and len(value) >= MIN_SECRET_VALUE_CHARS
            ):
                self.add(value)

    def __call__(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, REDACTED)
        for pattern in SECRET_PATTERNS:
            if pattern.groups >= 2:
                text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
            elif pattern.groups == 1:
                text = pattern.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
            else:
                text = pattern.sub(REDACTED, text)
        return text


REDACT = Redactor()
