"""What every LLM provider returns and raises, and the one HTTP call they share."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import requests

from ...reliability.http import PermanentError, RetryPolicy, TransientError, request

logger = logging.getLogger(__name__)

# What to check in .env when the API refuses a request outright.
FIX_HINTS = {
    401: "check LLM_API_KEY",
    403: "check LLM_API_KEY and the account's access to LLM_MODEL",
    404: "check LLM_MODEL and LLM_BASE_URL",
}


@dataclass(frozen=True)
class Usage:
    """Tokens one call was billed for."""

    input_tokens: int = 0  # NOT counting cached tokens
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True)
class Reply:
    """The text an LLM answered, the model the API says answered, and the billed usage."""

    text: str
    model: str
    usage: Usage


class LLMError(Exception):
    """The call failed; `usage` is set when the failed call was billed all the same."""

    def __init__(self, message, usage: Usage | None = None, transient: bool = True):
        super().__init__(message)
        self.usage = usage
        self.transient = transient


class Provider(Protocol):
    """An LLM API the job can ask for a completion."""

    name: str  # "fake" | "anthropic" | "openai"
    url: str  # the URL called: it chooses the price list (observability/prices.py)

    def complete(self, *, system: str, prompt: str, model: str, max_tokens: int) -> Reply: ...


def post_json(
    session: requests.Session,
    url: str,
    *,
    headers: dict[str, str],
    body: dict,
    policy: RetryPolicy,
    what: str,
    secret: str,
    on_wait: Callable[[float], object] | None = None,
) -> dict:
    """POST a JSON body and return the JSON object answered, mapping every failure to LLMError.

    A transport or server failure that outlived the retries is transient; a refused request
    (bad key, bad model, bad body) is not. A 200 whose body is not a JSON object is transient and
    unbilled: nothing in it says otherwise.
    """
    try:
        response = request(
            session,
            "POST",
            url,
            policy=policy,
            what=what,
            on_wait=on_wait,
            secrets=(secret,),
            headers=headers,
            json=body,
        )
    except TransientError as error:
        raise LLMError(str(error), transient=True) from None
    except PermanentError as error:
        hint = FIX_HINTS.get(error.status_code)
        message = f"{error}; {hint}" if hint else str(error)
        raise LLMError(message, transient=False) from None
    try:
        data = response.json()
    except ValueError:
        raise LLMError(f"{what}: the answer is not JSON", transient=True) from None
    if not isinstance(data, dict):
        raise LLMError(f"{what}: the answer is not a JSON object", transient=True)
    return data


def token_count(value) -> int:
    """Return a token count from an API field that may be missing, null or malformed."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value
