"""Read the .env file: KEY=value lines, refusing any line python-dotenv would skip or read past."""

import io
import re
from pathlib import Path

from dotenv.parser import parse_stream

from .settings_schema import SettingsError

LINE_PATTERN = re.compile(r"^\s*(export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*")
QUOTES = "\"'"


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
