"""JSON-lines logs to stdout (journald) and to a file logrotate may move; secrets redacted.

The file handler is WatchedFileHandler: when logrotate renames agent.log, the next line reopens the
path, so rotation loses nothing and needs no copytruncate.
"""

import json
import logging
import re
import sys
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler
from pathlib import Path

REDACTED = "[REDACTED]"
NOISY_LOGGERS = ("urllib3", "requests", "pypdf")
STANDARD_RECORD_FIELDS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime", "taskName"}
)
PATTERNS = (
    # Telegram bot tokens, inside URLs or alone.
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"),
    re.compile(r"(/bot)\d+:[^/\s\"']+"),
    # Credentials carried in headers or query strings.
    # The quotes may be escaped once (a JSON text logged inside a JSON line).
    re.compile(r"(?i)(authorization\\?[\"']?\s*[:=]\s*\\?[\"']?(?:bearer\s+)?)[^\s\"'\\,}]+"),
    re.compile(r"(?i)(x-api-key\\?[\"']?\s*[:=]\s*\\?[\"']?)[^\s\"'\\,}]+"),
    re.compile(r"(?i)([?&](?:api_key|key|token)=)[^&\s\"']+"),
    # Well-known API key shapes.
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}\b"),
)


class Redactor:
    """Replace known secret values and credential-shaped strings with [REDACTED]."""

    def __init__(self, secrets=()):
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern in PATTERNS:
            text = pattern.sub(
                lambda m: (m.group(1) if m.groups() and m.group(1) else "") + REDACTED, text
            )
        return text


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line, redacted as the last step."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": self.redactor(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in STANDARD_RECORD_FIELDS and not key.startswith("_"):
                entry[key] = self.redactor(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = self.redactor(self.formatException(record.exc_info))
        # Redact the text first (secrets with quotes), then the line (anything in extras).
        return self.redactor(json.dumps(entry, default=str, ensure_ascii=False))


def configure_logging(
    level: str = "INFO", log_file: Path | None = None, secrets=(), stream=None
) -> Redactor:
    """Send JSON lines to stdout (or stream) and, when given, to log_file; return the redactor."""
    redactor = Redactor(secrets)
    formatter = JsonFormatter(redactor)
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stdout)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(WatchedFileHandler(log_file, encoding="utf-8"))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    return redactor
