"""The .env format the agent role writes (roles/agent/templates/env.j2): strict reader, writer.

    parse_env(text) -> dict[str, str]          EnvFormatError for any line it would misread
    read_env_file(path) -> dict[str, str]      EnvFormatError also for an unreadable file
    format_env(values, comments=()) -> str     the file, keys sorted as the role sorts them
    format_line(key, value) -> str             KEY='value', \\ and ' escaped

The writer single-quotes every value, so only two escapes exist (\\\\ and \\'): "#", spaces, "$",
double quotes and any unicode stay as they are, and nothing is expanded. The reader reads what
python-dotenv reads for every line it accepts (comments, `export`, unquoted, single- and
double-quoted values, inline " #" comments) and refuses, with the line number and key but never
the value (it may be a secret), what python-dotenv would skip with a warning or read past: a line
that is not KEY=value, a quote not closed on its line, text after a closing quote.
"""

import codecs
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# `export` is taken whole or not at all (possessive), as python-dotenv reads it.
LINE_PATTERN = re.compile(r"\s*(?:export\s+)?+(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=(?P<space>\s*)")
NEWLINE = re.compile(r"\r\n|\n|\r")
QUOTED = {
    "'": re.compile(r"'((?:\\.|[^'\\])*)'"),
    '"': re.compile(r'"((?:\\.|[^"\\])*)"'),
}
ESCAPES = {"'": re.compile(r"\\[\\']"), '"': re.compile(r"\\[\\'\"abfnrtv]")}
# After a closing quote: spaces, then nothing or a comment.
AFTER_QUOTE = re.compile(r"\s*(?:#.*)?")
INLINE_COMMENT = re.compile(r"\s+#.*")
# The role refuses these in a value (roles/agent/tasks/assert.yml): they would end the line.
LINE_BREAKING = ("\r", "\n", "\x00")


class EnvFormatError(ValueError):
    """A .env line or value that cannot be read or written faithfully; the message says the fix."""


def parse_env(text: str) -> dict[str, str]:
    """Return the KEY=value pairs of a .env text; raise EnvFormatError on the first bad line."""
    values: dict[str, str] = {}
    for number, line in enumerate(NEWLINE.split(text.removeprefix("\ufeff")), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        start = LINE_PATTERN.match(line)
        if start is None:
            raise EnvFormatError(
                f"line {number}: expected KEY=value; fix the line or start it with #"
            )
        key, rest = start.group("key"), line[start.end() :]
        values[key] = _value(rest, bool(start.group("space")), key, number)
    return values


def _value(rest: str, spaced: bool, key: str, number: int) -> str:
    quote = rest[:1]
    if quote not in QUOTED:
        if spaced and quote == "#":
            return ""  # KEY= # a comment: an empty value
        return INLINE_COMMENT.sub("", rest).rstrip()
    match = QUOTED[quote].match(rest)
    if match is None:
        raise EnvFormatError(
            f"line {number}: the {quote} that opens the value of {key} is not closed on that "
            f"line; fix: close it ({key}={quote}...{quote}) or remove it"
        )
    if not AFTER_QUOTE.fullmatch(rest, match.end()):
        raise EnvFormatError(
            f"line {number}: the value of {key} has text after its closing quote; fix: quote "
            'the whole value, or put " #" before a comment'
        )
    return ESCAPES[quote].sub(lambda m: codecs.decode(m.group(0), "unicode-escape"), match[1])


def read_env_file(path: Path) -> dict[str, str]:
    """Read a .env file; EnvFormatError (naming the file) when it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EnvFormatError(f"{path} is not UTF-8 text; fix: save it as UTF-8") from None
    except OSError as error:
        raise EnvFormatError(f"cannot read {path}: {error.strerror}") from None
    try:
        return parse_env(text)
    except EnvFormatError as error:
        raise EnvFormatError(f"{path} {error}") from None


def format_line(key: str, value) -> str:
    """Return KEY='value' as env.j2 writes it; EnvFormatError for what no line can hold."""
    if not KEY_PATTERN.fullmatch(key):
        raise EnvFormatError(f"{key!r} cannot be a .env key; use letters, digits and _")
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        kind = type(value).__name__
        raise EnvFormatError(
            f'{key} must be a string or a number (quote it, e.g. "true"), not {kind}'
        )
    text = str(value)
    if any(character in text for character in LINE_BREAKING):
        raise EnvFormatError(f"{key} must be on one line: no newline, carriage return or NUL")
    return f"{key}='" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def format_env(values: Mapping[str, object], comments: Iterable[str] = ()) -> str:
    """Return a whole .env text: comment lines, then one line per key in the role's order."""
    lines = [f"# {comment}" for comment in comments]
    # Jinja's dictsort, which the role uses, ignores case.
    lines += [format_line(key, values[key]) for key in sorted(values, key=lambda k: (k.lower(), k))]
    return "".join(line + "\n" for line in lines)
