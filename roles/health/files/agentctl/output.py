"""What agentctl prints and logs (secrets taken out), and durations and sizes said short."""

import sys

from .redaction import REDACT


class LazyLogger:
    """The `agentctl` logger, set up on first use: to stderr, one line each, secrets taken out."""

    def __init__(self, name: str):
        self.name = name
        self.logger = None

    def __getattr__(self, attribute: str):
        return getattr(self.setup(), attribute)

    def setup(self):
        """Set the logger up (once) and return it; its children (agentctl.contract.*) use it too."""
        if self.logger is None:
            import logging  # most runs log nothing: they do not pay for the import

            class RedactingFormatter(logging.Formatter):
                def format(self, record: logging.LogRecord) -> str:
                    return REDACT(super().format(record))

            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(RedactingFormatter("agentctl: %(message)s"))
            self.logger = logging.getLogger(self.name)
            self.logger.addHandler(handler)
            self.logger.setLevel(logging.INFO)
            self.logger.propagate = False
        return self.logger


logger = LazyLogger("agentctl")


def say(text: str = "") -> None:
    """Print a line to stdout with every secret taken out."""
    print(REDACT(text))


def human_bytes(count: int | None) -> str:
    if count is None:
        return "-"
    for unit in ("B", "K", "M", "G"):
        if count < 1024 or unit == "G":
            return f"{count:.0f}{unit}" if unit == "B" else f"{count:.1f}{unit}".replace(".0", "")
        count /= 1024
    return f"{count:.1f}G"
