"""What every LLM provider returns and raises, and the one HTTP call they share."""

import io
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import requests

from ...reliability.http import PermanentError, RetryPolicy, TransientError, request

logger = logging.getLogger(__name__)

PDF = "application/pdf"

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
    media_types: frozenset[str]  # the attachments it reads ("image/png", "application/pdf", ...)
    vision_by_default: bool  # LLM_VISION=auto lets it read them
    in_process: bool  # answers without going out (the fake): no batch is flushed before a call

    def prepare(self, attachments: tuple) -> tuple:
        """Return the attachments as they will be sent (images scaled down), or raise
        AttachmentError when a documented limit refuses them."""
        ...

    def input_tokens(self, *, system: str, prompt: str, model: str, attachments: tuple) -> int:
        """Estimate the input tokens of a call with these prepared attachments."""
        ...

    def complete(
        self, *, system: str, prompt: str, model: str, max_tokens: int, attachments: tuple = ()
    ) -> Reply: ...


def text_tokens(text: str) -> int:
    """Estimate the tokens of a text: about four characters each, as the providers advise."""
    return math.ceil(len(text) / 4)


def base64_length(data: bytes) -> int:
    return 4 * math.ceil(len(data) / 3)


def pdf_pages(data: bytes) -> int:
    """Return the number of pages of a PDF, or raise AttachmentError when it cannot be read."""
    import pypdf  # only a call with a PDF pays for the import

    from .images import AttachmentError

    try:
        return len(pypdf.PdfReader(io.BytesIO(data)).pages)
    except (pypdf.errors.PyPdfError, ValueError, OSError, KeyError, TypeError) as error:
        raise AttachmentError(f"the PDF cannot be read: {error}") from None


def check_attachments(
    provider, attachments: tuple, *, max_images: int, max_pdf_pages: int, max_request_bytes: int
) -> None:
    """Raise AttachmentError when the prepared attachments break a limit of the provider's API.

    max_request_bytes bounds the attachments once base64-encoded, as they travel in the JSON body.
    """
    from .images import AttachmentError

    unread = sorted({a.media_type for a in attachments} - provider.media_types)
    if unread:
        raise AttachmentError(f"{provider!r} does not read {', '.join(unread)}")
    images = sum(1 for a in attachments if a.media_type.startswith("image/"))
    if images > max_images:
        raise AttachmentError(
            f"{images} images in one request, over the {max_images} the {provider.name} API accepts"
        )
    size = sum(base64_length(a.data) for a in attachments)
    if size > max_request_bytes:
        raise AttachmentError(
            f"the attachments take {size / 2**20:.1f} MiB once encoded, over the "
            f"{max_request_bytes / 2**20:.0f} MiB one {provider.name} request may carry"
        )
    pages = sum(pdf_pages(a.data) for a in attachments if a.media_type == PDF)
    if pages > max_pdf_pages:
        raise AttachmentError(
            f"a PDF of {pages} pages, over the {max_pdf_pages} pages one {provider.name} request "
            "may carry"
        )


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


class HTTPProvider:
    """What the providers behind an HTTP API share: the URL called, the key, retries, session.

    A provider sets default_base_url (LLM_BASE_URL overrides it), path (appended to it) and what
    (names the API in errors), and posts its request bodies with post().
    """

    default_base_url: str
    path: str
    what: str
    in_process = False

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        policy: RetryPolicy,
        on_wait: Callable[[float], object] | None = None,
        session: requests.Session | None = None,
    ):
        self.api_key = api_key
        self.url = (base_url or self.default_base_url).rstrip("/") + self.path
        self.policy = policy
        self.on_wait = on_wait
        self.session = session or requests.Session()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    def post(self, body: dict, headers: dict[str, str]) -> dict:
        """POST body with headers to the provider's URL; return its JSON object (post_json)."""
        return post_json(
            self.session,
            self.url,
            headers=headers,
            body=body,
            policy=self.policy,
            what=self.what,
            secret=self.api_key,
            on_wait=self.on_wait,
        )


def token_count(value) -> int:
    """Return a token count from an API field that may be missing, null or malformed."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value
