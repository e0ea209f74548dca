"""Anthropic Messages API (`POST /v1/messages`) over requests."""

import base64
import logging
import math

from ...reliability.http import RetryPolicy
from . import images
from .base import (
    PDF,
    HTTPProvider,
    LLMError,
    Reply,
    Usage,
    check_attachments,
    pdf_pages,
    text_tokens,
    token_count,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
WHAT = "anthropic messages"

# What the Messages API reads besides text (GIF too, which no document here is).
# https://docs.anthropic.com/en/docs/build-with-claude/vision#ensuring-image-quality
# https://docs.anthropic.com/en/docs/build-with-claude/pdf-support
MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", PDF})
# A long edge over 1568 px, or more than about 1600 tokens (1.2 megapixels at w*h/750), is scaled
# down by the API before the model sees it: sending more only costs bandwidth and latency.
# https://docs.anthropic.com/en/docs/build-with-claude/vision#evaluate-image-size
IMAGE_MAX_LONG_EDGE = 1568
IMAGE_MAX_TOKENS = 1600
IMAGE_PIXELS_PER_TOKEN = 750
# 5 MB per image through the API (held to the base64 text that travels, the stricter reading).
# https://docs.anthropic.com/en/docs/build-with-claude/vision#faq
IMAGE_MAX_BYTES = 5 * 1024 * 1024 * 3 // 4
# Up to 100 images in one API request.
# https://docs.anthropic.com/en/docs/build-with-claude/vision#faq
MAX_IMAGES = 100
# A PDF: 100 pages at most, 32 MB for the whole request.
# https://docs.anthropic.com/en/docs/build-with-claude/pdf-support#check-pdf-requirements
MAX_PDF_PAGES = 100
MAX_REQUEST_BYTES = 32 * 1024 * 1024
# Each PDF page costs its text (1,500 to 3,000 tokens, the upper bound is taken) and its image.
# https://docs.anthropic.com/en/docs/build-with-claude/pdf-support#estimate-your-costs
PDF_PAGE_TEXT_TOKENS = 3000
PDF_PAGE_IMAGE_TOKENS = IMAGE_MAX_TOKENS
IMAGE_LIMITS = images.Limits(
    max_long_edge=IMAGE_MAX_LONG_EDGE,
    max_short_edge=None,
    max_pixels=IMAGE_MAX_TOKENS * IMAGE_PIXELS_PER_TOKEN,
    max_bytes=IMAGE_MAX_BYTES,
)


class AnthropicProvider(HTTPProvider):
    """Ask Claude through the Messages API; usage includes prompt-cache reads and writes."""

    name = "anthropic"
    default_base_url = DEFAULT_BASE_URL
    path = "/v1/messages"
    what = WHAT
    media_types = MEDIA_TYPES
    vision_by_default = True

    def prepare(self, attachments: tuple) -> tuple:
        """Scale the images down to what Claude reads, and hold the request to the API limits."""
        prepared = tuple(
            images.fit(a, IMAGE_LIMITS) if a.media_type.startswith("image/") else a
            for a in attachments
        )
        check_attachments(
            self,
            prepared,
            max_images=MAX_IMAGES,
            max_pdf_pages=MAX_PDF_PAGES,
            max_request_bytes=MAX_REQUEST_BYTES,
        )
        return prepared

    def input_tokens(self, *, system: str, prompt: str, model: str, attachments: tuple) -> int:
        """Estimate the input tokens: text at 4 characters a token, an image at w*h/750 tokens,
        a PDF page at its text and its image."""
        tokens = text_tokens(system) + text_tokens(prompt)
        for attachment in attachments:
            if attachment.media_type == PDF:
                pages = pdf_pages(attachment.data)
                tokens += pages * (PDF_PAGE_TEXT_TOKENS + PDF_PAGE_IMAGE_TOKENS)
            else:
                width, height = images.size_of(attachment)
                tokens += math.ceil(width * height / IMAGE_PIXELS_PER_TOKEN)
        return tokens

    def complete(
        self, *, system: str, prompt: str, model: str, max_tokens: int, attachments: tuple = ()
    ) -> Reply:
        """Send one user message under `system` and return the text Claude answered.

        Attachments go before the text, as the API advises: an `image` block per image and a
        `document` block per PDF, both base64.
        """
        content: str | list = prompt
        if attachments:
            content = [
                *map(content_block, self.prepare(attachments)),
                {"type": "text", "text": prompt},
            ]
        body = {
            "model": model,
            "max_tokens": max_tokens,
            "system": system,
            "messages": [{"role": "user", "content": content}],
        }
        headers = {
            "x-api-key": self.api_key,
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
        }
        data = self.post(body, headers)
        return parse_message(data, model)


def content_block(attachment) -> dict:
    """Return the Messages API block of one attachment.

    https://docs.anthropic.com/en/docs/build-with-claude/vision#base64-encoded-image-example
    https://docs.anthropic.com/en/docs/build-with-claude/pdf-support#option-2-base64-encoded-pdf-document
    """
    source = {
        "type": "base64",
        "media_type": attachment.media_type,
        "data": base64.standard_b64encode(attachment.data).decode("ascii"),
    }
    kind = "document" if attachment.media_type == PDF else "image"
    return {"type": kind, "source": source}


def parse_message(data: dict, requested_model: str) -> Reply:
    """Turn a Messages API answer into a Reply, or raise LLMError keeping the billed usage."""
    raw_usage = data.get("usage")
    usage = None
    if isinstance(raw_usage, dict):
        # Anthropic's input_tokens already leaves out cache reads and writes.
        usage = Usage(
            input_tokens=token_count(raw_usage.get("input_tokens")),
            output_tokens=token_count(raw_usage.get("output_tokens")),
            cache_read_tokens=token_count(raw_usage.get("cache_read_input_tokens")),
            cache_write_tokens=token_count(raw_usage.get("cache_creation_input_tokens")),
        )
    content = data.get("content")
    texts = (
        [block.get("text") for block in content if isinstance(block, dict)]
        if isinstance(content, list)
        else []
    )
    texts = [text for text in texts if isinstance(text, str)]
    if data.get("stop_reason") == "refusal":
        raise LLMError(f"{WHAT}: the model refused to answer", usage=usage, transient=False)
    if usage is None or not texts:
        missing = "usage" if usage is None else "text content"
        raise LLMError(f"{WHAT}: unexpected answer without {missing}", usage=usage, transient=True)
    if data.get("stop_reason") == "max_tokens":
        logger.warning("%s: the answer was cut at max_tokens; raise it if this repeats", WHAT)
    model = data.get("model")
    return Reply(
        text="".join(texts),
        model=model if isinstance(model, str) and model else requested_model,
        usage=usage,
    )


def create(*, api_key: str, base_url: str | None, policy: RetryPolicy, on_wait=None):
    """Build the provider make_provider asked for."""
    return AnthropicProvider(api_key=api_key, base_url=base_url, policy=policy, on_wait=on_wait)
