"""Keep secrets out of text: one marker, one set of patterns, for the agent and agentctl alike.

    REDACTED                             the marker every secret is replaced by
    Redactor(secrets=())                 a callable: Redactor(...)(text) -> text
        .add(value)                      one more value to hide (empty values are ignored)
        .add_env_values(mapping)         the values of a .env file worth hiding (env_secrets)
    env_secrets(mapping) -> set[str]     long values, and short ones whose key names a secret
    redact(text) -> text                 the patterns alone, no known values

Known values go first, longest first (a value that contains another is hidden whole), then the
patterns, which catch credentials nobody told us about: bot tokens, API keys, Authorization and
x-api-key headers, key=/token= in query strings, "password: ..." style pairs.
"""

import re
from collections.abc import Iterable, Mapping

REDACTED = "[REDACTED]"
# Values shorter than this are hidden only when their key names a secret: hiding every "5" or
# "fake" would make log lines unreadable without protecting anything.
MIN_SECRET_CHARS = 6
MIN_NAMED_SECRET_CHARS = 4
SECRET_KEY_PATTERN = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSPHRASE|CREDENTIAL", re.IGNORECASE)
# Each pattern's group 1, when it has one, is kept: it says what the hidden value was.
PATTERNS = (
    # Telegram bot tokens, inside URLs or alone.
    re.compile(r"(/bot)\d+:[^/\s\"']+"),
    re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}"),
    # Credentials carried in headers or query strings.
    # The quotes may be escaped once (a JSON text logged inside a JSON line).
    re.compile(
        r"(?i)(authorization\\?[\"']?\s*[:=]\s*\\?[\"']?(?:bearer\s+|basic\s+)?)[^\s\"'\\,}]+"
    ),
    re.compile(r"(?i)(x-api-key\\?[\"']?\s*[:=]\s*\\?[\"']?)[^\s\"'\\,}]+"),
    re.compile(r"(?i)([?&](?:api_key|key|token)=)[^&\s\"']+"),
    re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # Well-known API key shapes.
    re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"),
    # A secret named as such: "password: hunter22", "api_key=...".
    re.compile(r"(?i)\b((?:api[_-]?key|token|secret|password)[:=\s\"']{1,3})[^\s\"',;\\}]{4,}"),
)


def _keep_prefix(match: re.Match) -> str:
    prefix = match.group(1) if match.re.groups else ""
    return (prefix or "") + REDACTED


def redact(text: str) -> str:
    """Replace every credential-shaped part of text by REDACTED."""
    for pattern in PATTERNS:
        text = pattern.sub(_keep_prefix, text)
    return text


def env_secrets(values: Mapping[str, str]) -> set[str]:
    """Return the values of a settings file that must never be shown."""
    return {
        value
        for key, value in values.items()
        if len(value) >= MIN_SECRET_CHARS
        or (SECRET_KEY_PATTERN.search(key) and len(value) >= MIN_NAMED_SECRET_CHARS)
    }


class Redactor:
    """Replace known secret values, then credential-shaped strings, with REDACTED."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._values: set[str] = set()
        self.secrets: list[str] = []
        for value in secrets:
            self.add(value)

    def add(self, value: str) -> None:
        if value and value not in self._values:
            self._values.add(value)
            self.secrets = sorted(self._values, key=len, reverse=True)

    def add_env_values(self, values: Mapping[str, str]) -> None:
        for value in env_secrets(values):
            self.add(value)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return redact(text)
