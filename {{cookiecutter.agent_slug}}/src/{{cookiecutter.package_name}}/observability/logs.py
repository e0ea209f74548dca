"""JSON-lines logs to stdout (journald) and to a file logrotate may move; secrets redacted.

The file handler is WatchedFileHandler: when logrotate renames agent.log, the next line reopens the
path, so rotation loses nothing and needs no copytruncate.
"""

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from ..contract.redact import REDACTED, Redactor

__all__ = ["REDACTED", "JsonFormatter", "Redactor", "configure_logging"]

NOISY_LOGGERS = ("urllib3", "requests", "pypdf")
STANDARD_RECORD_FIELDS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime", "taskName"}
)


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
        from logging.handlers import WatchedFileHandler  # with socket: only when a file is set

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
