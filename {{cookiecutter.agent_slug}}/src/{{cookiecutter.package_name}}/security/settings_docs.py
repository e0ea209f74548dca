"""Write .env.example and the settings table of docs/contract.md from the one declaration.

`<agent> settings example > .env.example` and `<agent> settings table` print them; the tests fail
when the committed copies differ.
"""

import textwrap

from .. import AGENT_SLUG
from .settings_schema import NUMBER, SETTINGS, TELEGRAM_ALERTS, WHOLE, Setting

COMMENT_WIDTH = 100
EXAMPLE_HEADER = f"""\
# Settings and secrets of {AGENT_SLUG}. Copy to .env and keep it private:
#   cp .env.example .env && chmod 600 .env
# The agent refuses a .env that group or others can read. On a server this file is
# /etc/agents/{AGENT_SLUG}/.env (mode 0600), rendered by the Ansible bundle.
# Written by `{AGENT_SLUG} settings example` from security/settings_schema.py.
"""
TABLE_HEADER = "| key | meaning | default |\n|---|---|---|\n"


def shown(value: object) -> str:
    """Return a value as a .env file writes it."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ",".join(str(part) for part in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def described(setting: Setting) -> str:
    """Return the help of a setting, with what it accepts and whether it is a secret."""
    parts = ["Secret." if setting.secret else "", setting.help]
    if setting.choices:
        parts.append(f"One of {', '.join(setting.choices)}.")
    if setting.kind in (WHOLE, NUMBER):
        bound = f", at least {shown(setting.minimum)}" if setting.minimum is not None else ""
        parts.append(f"A {setting.kind}{bound}.")
    return " ".join(part for part in parts if part)


def env_example() -> str:
    """Return the text of .env.example: every setting this agent uses, with its help."""
    parts = [EXAMPLE_HEADER]
    for setting in SETTINGS:
        if setting.telegram and not TELEGRAM_ALERTS:
            continue
        comment = textwrap.wrap(
            described(setting), COMMENT_WIDTH - 2, break_long_words=False, break_on_hyphens=False
        )
        value = setting.example if setting.example is not None else shown(setting.default)
        parts.append("\n" + "".join(f"# {line}\n" for line in comment) + f"{setting.key}={value}\n")
    return "".join(parts)


def markdown_table() -> str:
    """Return the settings table of docs/contract.md: every key, its meaning and its default."""
    rows = []
    for setting in SETTINGS:
        if setting.shown_default is not None:
            default = setting.shown_default
        elif setting.default is None:
            default = "none"
        else:
            default = f"`{shown(setting.default)}`" if shown(setting.default) else "empty"
        meaning = described(setting).replace("|", "\\|")
        rows.append(f"| `{setting.key}` | {meaning} | {default} |\n")
    return TABLE_HEADER + "".join(rows)
