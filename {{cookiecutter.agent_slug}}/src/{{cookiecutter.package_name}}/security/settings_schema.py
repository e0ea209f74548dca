"""Every key of the .env file, declared once: name, type, default, bounds, secret or not, help.

The loader (settings.py) validates from this declaration, redaction takes its secrets from it, and
`.env.example` and the settings table of docs/contract.md are written from it (settings_docs.py).
A key is read by one of a few kinds: text, a whole number, a number, a path, or a list of systemd
unit names; `clean` normalises the text before it is checked.
"""

import math
from collections import namedtuple
from pathlib import Path

from ..contract.layout import SERVICE_NAME_PATTERN

# Baked answers: whether this agent was made with Telegram alerts (its settings are shown in
# .env.example only then; they are read either way).
TELEGRAM_ALERTS = {{ "True" if cookiecutter.telegram_alerts == "yes" else "False" }}
BAKED = "chosen at bake time"
# Kinds a setting is read as; `services` is a comma-separated list of systemd unit names,
# `percentages` a comma-separated list of whole numbers from 1 to 100.
TEXT, WHOLE, NUMBER, PATH, SERVICES = "text", "whole number", "number", "path", "services"
PERCENTAGES = "percentages"


class SettingsError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


def url(text: str) -> str:
    """Return a base URL without the surrounding blanks and trailing slashes."""
    return text.strip().rstrip("/")


def lower(text: str) -> str:
    return text.strip().lower()


def upper(text: str) -> str:
    return text.strip().upper()


# A named tuple rather than a dataclass: dataclasses imports inspect, a fifth of a read-only
# command's start-up.
_SettingFields = namedtuple(
    "_SettingFields",
    "key kind default help minimum choices secret clean example shown_default telegram",
    defaults=(None, (), False, str.strip, None, None, False),
)


class Setting(_SettingFields):
    """One .env key: how it is read, checked and documented.

    key, kind, default and help, then optionally: minimum, choices, secret, clean (how raw text is
    tidied), `example` (the value .env.example shows when it is not the default), `shown_default`
    (how the docs state a default that is not one fixed value) and `telegram` (shown in
    .env.example only when the agent was baked with Telegram alerts).
    """

    __slots__ = ()

    @property
    def attribute(self) -> str:
        """The name of the Settings attribute that holds the value."""
        return self.key.lower()

    def parse(self, raw: str) -> object:
        """Return the value raw stands for (the default when it is blank), or say why it cannot be.

        Messages show a secret's key, never its value.
        """
        text = self.clean(raw)
        if not text:
            return self.default
        if self.kind in (WHOLE, NUMBER):
            return self.number(text)
        if self.kind == PATH:
            return Path(text)
        if self.kind == SERVICES:
            return services(self.key, text)
        if self.kind == PERCENTAGES:
            return percentages(self.key, text)
        if self.choices and text not in self.choices:
            raise SettingsError(
                f"{self.named(text)} is not one of {', '.join(self.choices)}; fix it in .env"
            )
        return text

    def named(self, text: str) -> str:
        """Return KEY=value for a message, or the key alone for a secret."""
        return self.key if self.secret else f"{self.key}={text}"

    def number(self, text: str) -> int | float:
        kind = int if self.kind == WHOLE else float
        try:
            number = kind(text)
        except ValueError:
            raise SettingsError(
                f"{self.named(repr(text))} is not a {'whole ' if kind is int else ''}number; "
                "fix it in .env"
            ) from None
        if not math.isfinite(number) or (self.minimum is not None and number < self.minimum):
            raise SettingsError(
                f"{self.named(text)} must be at least {self.minimum}; fix it in .env"
            )
        return number


def services(key: str, text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        if not SERVICE_NAME_PATTERN.match(name):
            raise SettingsError(
                f"{key} has an invalid unit name {name!r}; use comma-separated systemd unit names"
            )
    return names


def percentages(key: str, text: str) -> tuple[int, ...]:
    """Return the whole percentages of a comma-separated list, in increasing order, once each."""
    values = set()
    for word in (word.strip() for word in text.split(",")):
        if not (word.isdigit() and 1 <= int(word) <= 100):
            raise SettingsError(
                f"{key}={text} has {word!r}, not a whole percentage from 1 to 100; "
                "write them comma-separated, e.g. 50,80,100"
            )
        values.add(int(word))
    return tuple(sorted(values))


SETTINGS = (
    Setting(
        "LLM_PROVIDER",
        TEXT,
        "{{ cookiecutter.llm_provider }}",
        "The LLM: fake (offline, no key), anthropic, or openai (any OpenAI-compatible API).",
        clean=lower,
        shown_default=BAKED,
    ),
    Setting("LLM_MODEL", TEXT, "{{ cookiecutter.llm_model }}", "Model id.", shown_default=BAKED),
    Setting("LLM_API_KEY", TEXT, "", "Required for anthropic and openai.", secret=True),
    Setting(
        "LLM_BASE_URL",
        TEXT,
        None,
        "API base URL, for OpenAI-compatible servers, proxies and test stand-ins: OpenRouter "
        "https://openrouter.ai/api/v1, Mistral https://api.mistral.ai/v1, a local llama.cpp or "
        "Ollama server http://127.0.0.1:11434/v1, ...",
        clean=url,
        shown_default="the provider's",
    ),
    Setting(
        "LLM_VISION",
        TEXT,
        "auto",
        "Whether the model reads scans and photos itself (page images, PDFs): auto (anthropic, "
        "and openai at api.openai.com), on (also a local vision model behind LLM_BASE_URL: page "
        "images only), off (never; local OCR alone reads them).",
        choices=("auto", "on", "off"),
        clean=lower,
    ),
    Setting(
        "DAILY_BUDGET_USD",
        NUMBER,
        {{ cookiecutter.daily_budget_usd|float }},
        "LLM spend per UTC day; once reached, no LLM call is made and documents wait in incoming/ "
        "until tomorrow.",
        minimum=0.0,
        shown_default=BAKED,
    ),
    Setting(
        "BUDGET_WARNINGS",
        PERCENTAGES,
        (50, 80, 100),
        "Percentages of DAILY_BUDGET_USD at which today's spend is alerted, each once per UTC "
        "day (the highest one reached when a call passes several); 100 is the budget-reached "
        "alert, sent whether listed or not.",
        shown_default="`50,80,100`",
    ),
    Setting(
        "TELEGRAM_BOT_TOKEN",
        TEXT,
        "",
        "Telegram bot (create one with @BotFather) for notifications and alerts; empty: log only.",
        secret=True,
        telegram=True,
    ),
    Setting("TELEGRAM_CHAT_ID", TEXT, "", "Telegram chat to send to.", telegram=True),
    Setting(
        "TELEGRAM_API_BASE",
        TEXT,
        "https://api.telegram.org",
        "Telegram Bot API base URL.",
        clean=url,
        telegram=True,
    ),
    Setting(
        "HTTP_TIMEOUT_SECONDS",
        NUMBER,
        30.0,
        "Timeout of each HTTP request (LLM, Telegram).",
        minimum=0.05,
    ),
    Setting(
        "HTTP_MAX_ATTEMPTS", WHOLE, 4, "Attempts of each HTTP call, retries included.", minimum=1
    ),
    Setting(
        "HTTP_MAX_TOTAL_SECONDS",
        NUMBER,
        120.0,
        "Longest one HTTP call may take, retries and their waits included.",
        minimum=0.1,
    ),
    Setting(
        "POLL_INTERVAL_SECONDS",
        NUMBER,
        5.0,
        "Seconds between two scans of the inbox.",
        minimum=0.05,
    ),
    Setting("MAX_ATTEMPTS", WHOLE, 3, "Attempts per item before failed/.", minimum=1),
    Setting("MAX_FILE_MB", NUMBER, 20.0, "Largest accepted document.", minimum=0.001),
    Setting(
        "ITEM_TIME_LIMIT_SECONDS",
        NUMBER,
        300.0,
        "Longest the job steps may take on one document (LLM calls excepted: the HTTP_* settings "
        "bound them); past it, the document goes to failed/.",
        minimum=1.0,
    ),
    Setting(
        "OCR_ENABLED",
        TEXT,
        "true",
        "Read scans and photos with local OCR (tesseract, run in the agent's sandbox); needs the "
        "Debian packages tesseract-ocr, poppler-utils and one tesseract-ocr-<language> per "
        "OCR_LANGUAGES entry, checked at start.",
        choices=("true", "false"),
        clean=lower,
    ),
    Setting(
        "OCR_LANGUAGES",
        TEXT,
        "fra+ara+eng",
        "The languages tesseract reads, joined by + (tesseract's codes: fra, ara, eng, deu, ...).",
    ),
    Setting(
        "OCR_TIMEOUT_SECONDS",
        NUMBER,
        60.0,
        "Longest the OCR (or the rendering) of one page may take; past it, the document goes to "
        "failed/.",
        minimum=1.0,
    ),
    Setting(
        "PEOPLE_CSV",
        PATH,
        None,
        "CSV of people to match against (id,last_name,first_name,birth_date), upserted into "
        "SQLite at start.",
        example="samples/people.csv",
    ),
    Setting(
        "HEALTH_SERVICES",
        SERVICES,
        (),
        "Comma-separated allowlist of the systemd units the health check may query.",
    ),
    Setting(
        "LOG_LEVEL",
        TEXT,
        "INFO",
        "Least severe level logged.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        clean=upper,
    ),
    Setting(
        "LOG_FILE",
        PATH,
        None,
        "Also write JSON logs to this file.",
        shown_default="`$LOGS_DIRECTORY/agent.log` under systemd, else none",
    ),
    Setting(
        "PRICES_FILE",
        PATH,
        None,
        'A JSON price table ({"models": {"model-id": {"input": .., "output": .., ...}}}, USD per '
        "million tokens, exact ids) used before the built-in genai-prices snapshot.",
    ),
)
SECRET_KEYS = tuple(setting.key for setting in SETTINGS if setting.secret)
