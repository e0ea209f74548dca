"""Load settings and secrets from one .env file, without exporting anything into the environment.

Under systemd the file arrives through LoadCredential= as $CREDENTIALS_DIRECTORY/env; on a laptop it
is ./.env. Secrets stay in the Settings object: os.environ is never written, so child processes and
/proc/<pid>/environ never see them.
"""

import io
import logging
import math
import os
import re
import stat
from dataclasses import dataclass, field, fields
from pathlib import Path

from dotenv.parser import parse_stream

logger = logging.getLogger(__name__)

CREDENTIAL_NAME = "env"
LOCAL_ENV_FILE = ".env"
LOCAL_STATE_DIR = "var"
LOG_FILE_NAME = "agent.log"
LINE_PATTERN = re.compile(r"^\s*(export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*")
QUOTES = "\"'"
SERVICE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9@._-]+$")
SECRET_KEYS = ("LLM_API_KEY", "TELEGRAM_BOT_TOKEN")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MIN_SECRET_LENGTH = 6


class SettingsError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Every setting the agent reads. Defaults are the baked answers."""

    state_dir: Path
    log_file: Path | None = None
    env_file: Path | None = None
    llm_provider: str = "{{ cookiecutter.llm_provider }}"
    llm_model: str = "{{ cookiecutter.llm_model }}"
    llm_api_key: str = field(default="", repr=False)
    llm_base_url: str | None = None
    daily_budget_usd: float = {{ cookiecutter.daily_budget_usd|float }}
    telegram_bot_token: str = field(default="", repr=False)
    telegram_chat_id: str = ""
    telegram_api_base: str = "https://api.telegram.org"
    poll_interval_seconds: float = 5.0
    http_timeout_seconds: float = 30.0
    http_max_attempts: int = 4
    http_max_total_seconds: float = 120.0
    max_attempts: int = 3
    max_file_mb: float = 20.0
    item_time_limit_seconds: float = 300.0
    people_csv: Path | None = None
    health_services: tuple[str, ...] = ()
    log_level: str = "INFO"
    prices_file: Path | None = None

    def secrets(self) -> list[str]:
        """Return the secret values that must never appear in a log line or a message."""
        values = [self.llm_api_key, self.telegram_bot_token]
        return [value for value in values if len(value) >= MIN_SECRET_LENGTH]

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


def find_env_file(explicit: str | None = None) -> tuple[Path | None, bool]:
    """Return the settings file to read and whether systemd handed it over as a credential."""
    if explicit:
        return Path(explicit), False
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / CREDENTIAL_NAME).exists():
        return Path(credentials) / CREDENTIAL_NAME, True
    local = Path(LOCAL_ENV_FILE)
    return (local, False) if local.exists() else (None, False)


def check_permissions(path: Path) -> None:
    """Refuse a settings file that group or others can read: it holds secrets."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SettingsError(
            f"{path} is readable by group or others (mode {mode:04o}) and holds secrets; "
            f"fix: chmod 600 {path}"
        )


def read_env_file(path: Path) -> dict[str, str]:
    """Parse KEY=value lines, refusing any line python-dotenv would skip or read past.

    python-dotenv drops a statement it cannot parse with a warning, and lets a quoted value run on
    over the next lines until some later quote closes it: either way a setting would silently fall
    back to its default or swallow the settings below it. Messages name the line and the key, never
    the value (it may be a secret).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{path} is not UTF-8 text; fix: save it as UTF-8") from None
    except OSError as error:
        raise SettingsError(f"cannot read {path}: {error.strerror}") from None
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        # A statement's text starts with the blank lines before it.
        lines = binding.original.string.splitlines()
        blank = next((n for n, line in enumerate(lines) if line.strip()), len(lines))
        lines = lines[blank:]
        while lines and not lines[-1].strip():
            lines.pop()
        number = binding.original.line + blank
        if not lines or lines[0].lstrip().startswith("#"):
            continue
        start = LINE_PATTERN.match(lines[0])
        if start is None or (binding.key is not None and binding.value is None):
            raise SettingsError(
                f"{path} line {number}: expected KEY=value; fix the line or start it with #"
            )
        if binding.error or len(lines) > 1:
            raise SettingsError(quote_problem(path, number, lines[0], start))
        values[binding.key] = binding.value or ""
    return values


def quote_problem(path: Path, number: int, line: str, start: re.Match) -> str:
    """Explain why the quoted value that line starts is unreadable, and how to fix it."""
    key, value = start.group("key"), line[start.end() :]
    quote = value[:1]
    if quote and quote in QUOTES and not closing_quote_follows(value[1:], quote):
        return (
            f"{path} line {number}: the {quote} that opens the value of {key} is not closed on "
            f"that line; fix: close it ({key}={quote}...{quote}) or remove it"
        )
    return (
        f"{path} line {number}: the value of {key} has text after its closing quote; fix: quote "
        'the whole value, or put " #" before a comment'
    )


def closing_quote_follows(text: str, quote: str) -> bool:
    """Tell whether text holds an unescaped quote (a backslash escapes the next character)."""
    escaped = False
    for character in text:
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == quote:
            return True
    return False


def _number(values: dict[str, str], key: str, kind, default, minimum: float):
    raw = values.get(key, "").strip()
    if not raw:
        return default
    try:
        number = kind(raw)
    except ValueError:
        raise SettingsError(
            f"{key}={raw!r} is not a {'whole ' if kind is int else ''}number; fix it in .env"
        ) from None
    if not math.isfinite(number) or number < minimum:
        raise SettingsError(f"{key}={raw} must be at least {minimum}; fix it in .env")
    return number


def _services(raw: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    for name in names:
        if not SERVICE_NAME_PATTERN.match(name):
            raise SettingsError(
                f"HEALTH_SERVICES has an invalid unit name {name!r}; "
                "use comma-separated systemd unit names"
            )
    return names


def load_settings(env_file: str | None = None, state_dir: str | None = None) -> Settings:
    """Build the Settings from the .env file, systemd's directories and the baked defaults."""
    path, from_systemd = find_env_file(env_file)
    values: dict[str, str] = {}
    if path is not None:
        if not path.exists():
            raise SettingsError(f"settings file {path} does not exist; fix: cp .env.example {path}")
        if not from_systemd:
            check_permissions(path)
        values = read_env_file(path)
    known = {f.name.upper() for f in fields(Settings)}
    for key in sorted(set(values) - known):
        logger.warning("Ignoring unknown setting %s in %s", key, path)

    defaults = Settings(state_dir=Path())
    state = state_dir or os.environ.get("STATE_DIRECTORY", "").split(":")[0] or LOCAL_STATE_DIR
    logs_dir = os.environ.get("LOGS_DIRECTORY", "").split(":")[0]
    log_file = values.get("LOG_FILE") or (str(Path(logs_dir) / LOG_FILE_NAME) if logs_dir else "")
    level = (values.get("LOG_LEVEL") or defaults.log_level).upper()
    if level not in LOG_LEVELS:
        raise SettingsError(
            f"LOG_LEVEL={level} is not one of {', '.join(LOG_LEVELS)}; fix it in .env"
        )
    people = values.get("PEOPLE_CSV", "").strip()
    prices = values.get("PRICES_FILE", "").strip()
    return Settings(
        state_dir=Path(state).resolve(),
        log_file=Path(log_file) if log_file else None,
        env_file=path,
        llm_provider=(values.get("LLM_PROVIDER") or defaults.llm_provider).strip().lower(),
        llm_model=(values.get("LLM_MODEL") or defaults.llm_model).strip(),
        llm_api_key=values.get("LLM_API_KEY", "").strip(),
        llm_base_url=values.get("LLM_BASE_URL", "").strip().rstrip("/") or None,
        daily_budget_usd=_number(values, "DAILY_BUDGET_USD", float, defaults.daily_budget_usd, 0.0),
        telegram_bot_token=values.get("TELEGRAM_BOT_TOKEN", "").strip(),
        telegram_chat_id=values.get("TELEGRAM_CHAT_ID", "").strip(),
        telegram_api_base=(values.get("TELEGRAM_API_BASE") or defaults.telegram_api_base)
        .strip()
        .rstrip("/"),
        poll_interval_seconds=_number(
            values, "POLL_INTERVAL_SECONDS", float, defaults.poll_interval_seconds, 0.05
        ),
        http_timeout_seconds=_number(
            values, "HTTP_TIMEOUT_SECONDS", float, defaults.http_timeout_seconds, 0.05
        ),
        http_max_attempts=_number(values, "HTTP_MAX_ATTEMPTS", int, defaults.http_max_attempts, 1),
        http_max_total_seconds=_number(
            values, "HTTP_MAX_TOTAL_SECONDS", float, defaults.http_max_total_seconds, 0.1
        ),
        max_attempts=_number(values, "MAX_ATTEMPTS", int, defaults.max_attempts, 1),
        max_file_mb=_number(values, "MAX_FILE_MB", float, defaults.max_file_mb, 0.001),
        item_time_limit_seconds=_number(
            values, "ITEM_TIME_LIMIT_SECONDS", float, defaults.item_time_limit_seconds, 1.0
        ),
        people_csv=Path(people) if people else None,
        health_services=_services(values.get("HEALTH_SERVICES", "")),
        log_level=level,
        prices_file=Path(prices) if prices else None,
    )
