"""Make every HTTP request of the agent: always a timeout, bounded jittered retries, no secrets.

Only failures that may pass are retried (connection errors, timeouts, 408, 429, 5xx). Waits use
full-jitter exponential backoff, except when the server says how long to wait (`Retry-After`, or
Telegram's `parameters.retry_after`): then that wait is honoured, or the call gives up at once when
the wait would not fit in the retry budget. Attempts and total wall time are both bounded.

Messages and log lines never carry the URL (Telegram URLs hold the bot token) nor headers (API
keys): exceptions are raised `from None` with the exception class name or status code only.
"""

import contextlib
import logging
import random
import re
import string
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import requests

from ..contract.errors import PermanentError, TransientError
from ..contract.redact import Redactor
from ..contract.retry import Attempts, RetryPolicy, body_retry_after, parse_retry_after

__all__ = ["PermanentError", "RetryPolicy", "TransientError", "request"]

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 429})
FIRST_SERVER_ERROR = 500
FIRST_CLIENT_ERROR = 400
MAX_DETAIL_CHARS = 200
MIN_SECRET_CHARS = 6
MIN_CREDENTIAL_CHARS = 16
# Mistakes in the request itself (a bad URL or header from the settings): no retry can fix them.
NOT_SENT_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidJSONError,
    requests.exceptions.TooManyRedirects,
)
SECRET_HEADER_WORDS = ("authorization", "key", "token", "secret", "cookie")


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    what: str,
    sleep: Callable[[float], object] = time.sleep,
    rng: Callable[[], float] = random.random,
    on_wait: Callable[[float], object] | None = None,
    secrets: Iterable[str] = (),
    **kwargs,
) -> requests.Response:
    """Send one HTTP request with retries and return the successful response.

    `what` names the call in messages ("telegram sendMessage"). `secrets` are extra values (API
    keys, tokens) to blank out of any detail quoted from an error body; the URL and header values
    are always blanked. Raise TransientError when the retries or the time budget are used up, and
    PermanentError for an answer that retrying cannot fix.
    """
    hidden = _hidden_values(url, kwargs.get("headers"), secrets)
    attempts = Attempts(policy, what, sleep=sleep, rng=rng, on_wait=on_wait)
    while True:
        timeout = attempts.timeout()
        server_wait = None
        status = None
        try:
            response = session.request(method, url, timeout=timeout, **kwargs)
        except requests.Timeout as error:
            failure = f"timeout ({type(error).__name__})"
        except NOT_SENT_ERRORS as error:
            raise PermanentError(f"{what}: request not sent ({type(error).__name__})") from None
        except requests.RequestException as error:
            # Connection refused or reset, an answer cut short: the network may recover.
            failure = f"connection failed ({type(error).__name__})"
        else:
            status = response.status_code
            if status < FIRST_CLIENT_ERROR:
                return response
            detail = _redact(error_detail(response), hidden)
            if status not in RETRYABLE_STATUSES and status < FIRST_SERVER_ERROR:
                suffix = f" ({detail})" if detail else ""
                raise PermanentError(f"{what}: HTTP {status}{suffix}", status, detail)
            failure = f"HTTP {status}" + (f" ({detail})" if detail else "")
            server_wait = retry_after_seconds(response)
            response.close()

        attempts.failed(failure, status, server_wait)


def retry_after_seconds(response: requests.Response) -> float | None:
    """Return how long the server asked to wait, from Retry-After or Telegram's retry_after."""
    waits = []
    header = response.headers.get("Retry-After")
    if header:
        waits.append(parse_retry_after(header.strip()))
    with contextlib.suppress(ValueError):
        waits.append(body_retry_after(response.json()))
    waits = [wait for wait in waits if wait is not None]
    return max(waits) if waits else None


def error_detail(response: requests.Response) -> str | None:
    """Return the human-readable reason an API gave in an error body, cut to a short line."""
    try:
        body = response.json()
    except ValueError:
        return None
    detail = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            kind, message = error.get("type"), error.get("message")
            detail = f"{kind}: {message}" if kind and message else message or kind
        elif isinstance(error, str):
            detail = error
        detail = detail or body.get("description") or body.get("message")
    if not isinstance(detail, str) or not detail.strip():
        return None
    detail = " ".join(detail.split())
    return detail[:MAX_DETAIL_CHARS] + ("..." if len(detail) > MAX_DETAIL_CHARS else "")


def _hidden_values(url: str, headers, secrets: Iterable[str]) -> list[str]:
    parts = urlsplit(url)
    values = [url, parts.path, parts.query, *secrets]
    # A credential inside the URL ("/bot<token>/sendMessage", "?key=..."), with or without the
    # letters glued in front of it.
    for piece in re.split(r"[/?&=]", f"{parts.path}?{parts.query}"):
        if len(piece) >= MIN_CREDENTIAL_CHARS and any(char.isdigit() for char in piece):
            values.extend([piece, piece.lstrip(string.ascii_letters)])
    for name, value in (headers or {}).items():
        if isinstance(value, str) and any(word in name.lower() for word in SECRET_HEADER_WORDS):
            values.append(value)
            values.extend(value.split())
    return sorted({v for v in values if len(v) >= MIN_SECRET_CHARS}, key=len, reverse=True)


def _redact(text: str | None, hidden: list[str]) -> str | None:
    return None if text is None else Redactor(hidden)(text)
