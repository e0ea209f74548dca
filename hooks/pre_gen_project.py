"""Refuse prompt answers that would bake a broken or unsafe agent, before any file is written.

Cookiecutter renders this file with Jinja, then runs it. Only the template's folder (where the
agent's slug rule is loaded from) and the block under ``__main__`` hold rendered values, each
written by ``tojson`` into a raw string and decoded with ``json.loads``: ``tojson`` escapes quotes,
backslashes, newlines and apostrophes, so no answer can end the string or change the code. The rest
is plain functions on plain strings, which the template's own tests import from the unrendered
file.

A rejected answer prints one line on stderr (which answer, why, how to fix) and exits 1;
cookiecutter then deletes the half-made project directory.
"""

import importlib.util
import json
import keyword
import os
import re
import sys
import unicodedata
from decimal import Decimal
from pathlib import Path
from types import ModuleType

MESSAGE_PREFIX = "pillars: "

# The one slug rule is the agent's (contract/layout.py: the command, the unit agent-<slug>.service
# and the system user agent-<slug>), loaded from the template's own copy of that file, which
# imports nothing but the standard library.
LAYOUT_GLOB = "*/src/*/contract/layout.py"


def template_dir(repo_dir: str) -> Path:
    """Return the template's folder, where contract/layout.py is read from.

    Imported unrendered (by the template's own tests): this file's repository. Rendered:
    cookiecutter's _repo_dir when it is absolute (a clone, an absolute path). A relative one is
    relative to where the command started, and cruft gives none; but cookiecutter and cruft both
    run hooks from inside the template's folder, so it is the parent process's folder (read from
    /proc on Linux), else _repo_dir taken from $PWD.
    """
    if repo_dir.startswith("{" + "{"):
        return Path(__file__).resolve().parent.parent
    path = Path(json.loads(repo_dir))
    candidates = [path] if path.is_absolute() else []
    candidates += [Path(f"/proc/{os.getppid()}/cwd"), Path(os.environ.get("PWD", ".")) / path]
    for candidate in candidates:
        if any(candidate.glob(LAYOUT_GLOB)):
            return candidate.resolve()
    raise SystemExit(
        f"{MESSAGE_PREFIX}cannot find the template's files from {path}; run cookiecutter with "
        "the template's absolute path"
    )


def load_layout(directory: Path) -> ModuleType:
    """Import contract/layout.py from the template's files, without the package around it."""
    path = next(directory.glob(LAYOUT_GLOB))
    spec = importlib.util.spec_from_file_location("pillars_contract_layout", path)
    module = importlib.util.module_from_spec(spec)
    # No __pycache__ in the template's contract folder: cookiecutter would copy it into the agent.
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes_bytecode
    return module


# Like the answers below, _repo_dir is written by tojson into a raw string (fmt: off keeps it so).
# fmt: off
LAYOUT = load_layout(template_dir(r'{{ cookiecutter._repo_dir|default("")|tojson }}'))
# fmt: on
SYSTEM_USER_PREFIX = LAYOUT.SYSTEM_USER_PREFIX
LINUX_USER_NAME_MAX_LENGTH = LAYOUT.LINUX_USER_NAME_MAX_LENGTH
SLUG_MAX_LENGTH = LAYOUT.SLUG_MAX_LENGTH
SLUG_PATTERN = LAYOUT.SLUG_PATTERN
PACKAGE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
EXAMPLE_SLUG = "intake-bot"

# Names that collide with system accounts, the fleet's own names, test folders or Windows devices.
RESERVED_NAMES = frozenset(
    {
        "root",
        "agent",
        "agents",
        "admin",
        "pillars",
        "systemd",
        "test",
        "tests",
        "src",
        "con",
        "nul",
    }
)
# Modules the agent or its tests import: a package with one of these names would shadow them.
TOOLING_MODULES = frozenset(
    {
        "requests",
        "urllib3",
        "certifi",
        "idna",
        "charset_normalizer",
        "dotenv",
        "pypdf",
        "pytest",
        "_pytest",
        "conftest",
        "hypothesis",
        "setuptools",
        "pkg_resources",
        "pip",
        "ruff",
    }
)

AGENT_NAME_MAX_LENGTH = 100
AUTHOR_NAME_MAX_LENGTH = 100
DESCRIPTION_MAX_LENGTH = 300
LLM_MODEL_MAX_LENGTH = 200
# Model ids seen across providers: "claude-sonnet-4-5", "gpt-4o-mini", "qwen2.5:7b-instruct",
# "meta-llama/llama-3.1-8b-instruct", "anthropic.claude-3-haiku-20240307-v1:0". Nothing here needs
# quoting in .env files, unit files or Python source.
LLM_MODEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*")
LLM_PROVIDERS = ("fake", "anthropic", "openai")
YES_NO = ("yes", "no")
BUDGET_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)?")
# PEP 440, appendix B: the canonical public form. A non-canonical spelling ("v1.0", "1.0-RC1") would
# be normalised by the build, so the wheel, the release directory and `--version` would disagree.
CANONICAL_VERSION_PATTERN = re.compile(
    r"([1-9][0-9]*!)?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*((a|b|rc)(0|[1-9][0-9]*))?"
    r"(\.post(0|[1-9][0-9]*))?(\.dev(0|[1-9][0-9]*))?"
)
# Unicode categories that break a one-line value: controls (newline, tab, escape), line and
# paragraph separators.
LINE_BREAKING_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
# Bidirectional overrides make text display differently from what it is (Trojan Source).
BIDI_CONTROL_CHARACTERS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Jinja's tojson writes characters above U+FFFF as surrogate pairs, which TOML rejects and Python
# turns into two unprintable halves.
MAX_SUPPORTED_CODE_POINT = 0xFFFF
SHOWN_VALUE_MAX_LENGTH = 60


class AnswerError(ValueError):
    """A prompt answer the template cannot use, with the reason and the fix."""

    def __init__(self, field: str, value: str, problem: str, fix: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field} {show(value)} {problem}. Fix: {fix}.")


def show(value: str) -> str:
    """Quote a value for a one-line message, escaping controls and shortening long values."""
    if len(value) > SHOWN_VALUE_MAX_LENGTH:
        value = value[: SHOWN_VALUE_MAX_LENGTH - 3] + "..."
    return json.dumps(value, ensure_ascii=False)


def suggest_slug(value: str) -> str:
    """Return a valid slug close to value, or the generic example when none is close."""
    words = re.findall(r"[a-z0-9]+", value.lower())
    candidate = "-".join(words)[:SLUG_MAX_LENGTH].strip("-")
    if candidate and candidate[0].isalpha() and candidate not in RESERVED_NAMES:
        return candidate
    return EXAMPLE_SLUG


def slug_fix(slug: str) -> str:
    """Say how to fix a slug the layout's rule refuses."""
    if not slug:
        return f'answer a short name such as "{EXAMPLE_SLUG}"'
    if LAYOUT.slug_problem(slug[:SLUG_MAX_LENGTH]) is None:  # only its length is wrong
        return f"shorten it to {SLUG_MAX_LENGTH} characters or fewer"
    return f'use only a-z, 0-9 and "-", e.g. "{suggest_slug(slug)}"'


def check_agent_slug(slug: str) -> None:
    """Raise AnswerError unless slug can name the command, the unit and the system user."""
    field = "agent_slug"
    problem = LAYOUT.slug_problem(slug)
    if problem is not None:
        raise AnswerError(field, slug, problem, slug_fix(slug))
    if slug in RESERVED_NAMES:
        raise AnswerError(
            field,
            slug,
            "is reserved (system accounts, pillars itself, test folders, Windows device names)",
            f'pick a more specific name, e.g. "{slug}-bot"',
        )
    package_name = slug.replace("-", "_")
    if package_name in sys.stdlib_module_names or package_name in TOOLING_MODULES:
        raise AnswerError(
            field,
            slug,
            f'is taken: as a Python package ("{package_name}") it would shadow the standard '
            "library or dependency module of that name",
            f'pick a more specific name, e.g. "{slug}-bot"',
        )


def check_package_name(package_name: str) -> None:
    """Raise AnswerError unless package_name is a safe, importable package name."""
    field = "package_name"
    if not PACKAGE_NAME_PATTERN.fullmatch(package_name):
        raise AnswerError(
            field,
            package_name,
            "is not a valid package name: it must start with a lowercase ASCII letter and contain "
            "only a-z, 0-9 and _",
            'use e.g. "intake_bot" (leave the default to derive it from the slug)',
        )
    if keyword.iskeyword(package_name):
        raise AnswerError(
            field,
            package_name,
            "is a Python keyword and cannot be imported",
            f'use e.g. "{package_name}_agent"',
        )
    if package_name in RESERVED_NAMES:
        raise AnswerError(
            field,
            package_name,
            "is reserved (system accounts, pillars itself, test folders, Windows device names)",
            f'use e.g. "{package_name}_agent"',
        )
    if package_name in sys.stdlib_module_names or package_name in TOOLING_MODULES:
        raise AnswerError(
            field,
            package_name,
            "would shadow the module of the same name (standard library or a dependency)",
            f'use e.g. "{package_name}_agent"',
        )


def check_one_line_text(field: str, value: str, max_length: int, *, required: bool) -> None:
    """Raise AnswerError unless value is one printable line of at most max_length characters."""
    if required and not value.strip():
        raise AnswerError(field, value, "is empty", "give it a short, readable text")
    if len(value) > max_length:
        raise AnswerError(
            field,
            value,
            f"is {len(value)} characters, the limit is {max_length}",
            "shorten it",
        )
    for character in value:
        if (
            unicodedata.category(character) in LINE_BREAKING_CATEGORIES
            or character in BIDI_CONTROL_CHARACTERS
        ):
            raise AnswerError(
                field,
                value,
                f"contains the control character U+{ord(character):04X}; it must be one line "
                "of printable text",
                "remove newlines, tabs and other control characters",
            )
        if ord(character) > MAX_SUPPORTED_CODE_POINT:
            raise AnswerError(
                field,
                value,
                f"contains {character} (U+{ord(character):04X}), which the template cannot write "
                "into pyproject.toml and Python source",
                "remove emoji and other characters above U+FFFF",
            )


def check_llm_model(model: str) -> None:
    """Raise AnswerError unless model looks like a model id that needs no quoting anywhere."""
    field = "llm_model"
    if not model:
        raise AnswerError(
            field,
            model,
            "is empty",
            'give the provider\'s model id, e.g. "gpt-4o-mini"',
        )
    if len(model) > LLM_MODEL_MAX_LENGTH:
        raise AnswerError(
            field,
            model,
            f"is {len(model)} characters, the limit is {LLM_MODEL_MAX_LENGTH}",
            "give the provider's model id",
        )
    if not LLM_MODEL_PATTERN.fullmatch(model):
        raise AnswerError(
            field,
            model,
            "is not a model id: it may hold only letters, digits and . _ : / @ + - (no spaces, "
            "quotes or control characters)",
            'give the provider\'s model id, e.g. "claude-sonnet-4-5" or "gpt-4o-mini"',
        )


def check_daily_budget(budget: str) -> None:
    """Raise AnswerError unless budget is a positive decimal number of US dollars."""
    field = "daily_budget_usd"
    # The pattern admits only digits and one dot, so Decimal() cannot fail on what it lets through.
    if not BUDGET_PATTERN.fullmatch(budget) or Decimal(budget) <= 0:
        raise AnswerError(
            field,
            budget,
            "is not a positive amount of US dollars",
            'answer a number such as "5" or "2.50" (no sign, no currency symbol)',
        )


def check_version(version: str) -> None:
    """Raise AnswerError unless version is a PEP 440 version in canonical form."""
    if not CANONICAL_VERSION_PATTERN.fullmatch(version):
        raise AnswerError(
            "version",
            version,
            "is not a PEP 440 version in canonical form",
            'answer e.g. "0.1.0", "1.0rc1" or "2.0.post1" (no "v" prefix)',
        )


def check_choice(field: str, value: str, allowed: tuple[str, ...]) -> None:
    """Raise AnswerError unless value is one of allowed."""
    if value not in allowed:
        raise AnswerError(
            field,
            value,
            f"is not one of {', '.join(allowed)}",
            f"answer {' or '.join(allowed)}",
        )


def validate_answers(answers: dict[str, str]) -> None:
    """Raise AnswerError for the first answer the template cannot use."""
    check_one_line_text("agent_name", answers["agent_name"], AGENT_NAME_MAX_LENGTH, required=True)
    check_agent_slug(answers["agent_slug"])
    check_package_name(answers["package_name"])
    check_one_line_text(
        "description", answers["description"], DESCRIPTION_MAX_LENGTH, required=False
    )
    check_one_line_text(
        "author_name", answers["author_name"], AUTHOR_NAME_MAX_LENGTH, required=False
    )
    check_choice("llm_provider", answers["llm_provider"], LLM_PROVIDERS)
    check_llm_model(answers["llm_model"])
    check_daily_budget(answers["daily_budget_usd"])
    check_choice("telegram_alerts", answers["telegram_alerts"], YES_NO)
    check_version(answers["version"])


def main(answers: dict[str, str]) -> int:
    """Validate answers; on the first bad one print one line on stderr and return 1."""
    # Cookiecutter hands over every answer as a string, except a value from extra_context that is
    # not one; checking its text form still gives the user a readable message.
    answers = {
        name: value if isinstance(value, str) else str(value) for name, value in answers.items()
    }
    try:
        validate_answers(answers)
    except AnswerError as error:
        print(f"{MESSAGE_PREFIX}{error}", file=sys.stderr)
        return 1
    return 0


# Each answer sits in a raw string in single quotes: tojson never emits an apostrophe (it writes
# \u0027) nor a raw newline, so the literal cannot end early, and json.loads undoes every escape.
# A formatter would switch to double quotes, which tojson does emit; hence fmt: off.
# fmt: off
if __name__ == "__main__":
    sys.exit(
        main(
            {
                "agent_name": json.loads(r'{{ cookiecutter.agent_name|tojson }}'),
                "agent_slug": json.loads(r'{{ cookiecutter.agent_slug|tojson }}'),
                "package_name": json.loads(r'{{ cookiecutter.package_name|tojson }}'),
                "description": json.loads(r'{{ cookiecutter.description|tojson }}'),
                "author_name": json.loads(r'{{ cookiecutter.author_name|tojson }}'),
                "llm_provider": json.loads(r'{{ cookiecutter.llm_provider|tojson }}'),
                "llm_model": json.loads(r'{{ cookiecutter.llm_model|tojson }}'),
                "daily_budget_usd": json.loads(r'{{ cookiecutter.daily_budget_usd|tojson }}'),
                "telegram_alerts": json.loads(r'{{ cookiecutter.telegram_alerts|tojson }}'),
                "version": json.loads(r'{{ cookiecutter.version|tojson }}'),
            }
        )
    )
# fmt: on
