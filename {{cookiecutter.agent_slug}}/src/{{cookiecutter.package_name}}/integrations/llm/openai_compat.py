"""OpenAI-compatible chat completions (`POST {base}/chat/completions`) over requests.

One client for OpenAI, OpenRouter, Mistral and local llama.cpp or Ollama servers: they differ only
by LLM_BASE_URL and the model id.
"""

import base64
import logging
import math
from urllib.parse import urlsplit

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

DEFAULT_BASE_URL = "https://api.openai.com/v1"
OPENAI_HOST = "api.openai.com"
# OpenAI reads PNG, JPEG, WEBP (and non-animated GIF) images, and PDFs as `file` parts.
# https://platform.openai.com/docs/guides/images-vision#image-input-requirements
# https://platform.openai.com/docs/guides/pdf-files
OPENAI_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", PDF})
# Other servers (Ollama, llama.cpp, OpenRouter...) get page images, in the two formats every one
# of them decodes.
# https://github.com/ollama/ollama/blob/main/docs/openai.md#supported-request-fields
COMPATIBLE_MEDIA_TYPES = frozenset({"image/png", "image/jpeg"})
# At detail "high" an image is scaled to fit 2048 x 2048, then its short side to 768 px, and
# billed per 512 px tile: a bigger image costs the same and only takes longer to send.
# https://platform.openai.com/docs/guides/images-vision#calculating-costs
IMAGE_MAX_LONG_EDGE = 2048
IMAGE_MAX_SHORT_EDGE = 768
TILE_PX = 512
IMAGE_DETAIL = "high"  # a scanned page's small print needs it
# (base tokens, tokens per tile) of the tile-billed models, by model id prefix.
# https://platform.openai.com/docs/guides/images-vision#calculating-costs
TILE_TOKENS = {
    "gpt-5": (70, 140),
    "gpt-4o-mini": (2833, 5667),
    "gpt-4o": (85, 170),
    "gpt-4.1": (85, 170),
    "gpt-4.5": (85, 170),
    "o1": (75, 150),
    "o3": (75, 150),
    "computer-use-preview": (65, 129),
}
DEFAULT_TILE_TOKENS = (85, 170)
# The patch-billed models: one token per 32 px patch, 1536 patches at most, times a multiplier.
# https://platform.openai.com/docs/guides/images-vision#calculating-costs
PATCH_PX = 32
MAX_PATCHES = 1536
PATCH_MULTIPLIERS = {"gpt-4.1-mini": 1.62, "gpt-4.1-nano": 2.46, "o4-mini": 1.72}
# Up to 500 images and 50 MB of payload in one request.
# https://platform.openai.com/docs/guides/images-vision#image-input-requirements
MAX_IMAGES = 500
MAX_REQUEST_BYTES = 50 * 1024 * 1024
# PDFs: up to 100 pages and 32 MB of content in one request.
# https://platform.openai.com/docs/guides/pdf-files#usage-considerations
MAX_PDF_PAGES = 100
MAX_PDF_REQUEST_BYTES = 32 * 1024 * 1024
# A PDF page is read as its extracted text and an image of the page. OpenAI names no per-page
# figure: the text takes Anthropic's documented upper bound, the image a letter page at 200 dpi.
# https://platform.openai.com/docs/guides/pdf-files#how-it-works
PDF_PAGE_TEXT_TOKENS = 3000
PDF_PAGE_PIXELS = (1700, 2200)
IMAGE_LIMITS = images.Limits(
    max_long_edge=IMAGE_MAX_LONG_EDGE,
    max_short_edge=IMAGE_MAX_SHORT_EDGE,
    max_pixels=None,
    max_bytes=MAX_REQUEST_BYTES * 3 // 4,
)
WHAT = "openai chat completions"
# Newer OpenAI models refuse max_tokens and ask for this name instead; other servers know only
# max_tokens, so it is the first choice.
NEW_MAX_TOKENS_FIELD = "max_completion_tokens"


class OpenAICompatProvider(HTTPProvider):
    """Ask any server that speaks the OpenAI chat completions API."""

    name = "openai"
    default_base_url = DEFAULT_BASE_URL
    path = "/chat/completions"
    what = WHAT
    filename = "document.pdf"  # the name a PDF `file` part carries

    def __init__(self, **settings):
        super().__init__(**settings)
        self.max_tokens_field = "max_tokens"
        # OpenAI itself reads PDFs and is on for LLM_VISION=auto; another server reads the page
        # images only when LLM_VISION=on says its model has eyes.
        official = urlsplit(self.url).hostname == OPENAI_HOST
        self.media_types = OPENAI_MEDIA_TYPES if official else COMPATIBLE_MEDIA_TYPES
        self.vision_by_default = official

    def prepare(self, attachments: tuple) -> tuple:
        """Scale the images down to what is billed, and hold the request to the API limits."""
        prepared = tuple(
            images.fit(a, IMAGE_LIMITS) if a.media_type.startswith("image/") else a
            for a in attachments
        )
        has_pdf = any(a.media_type == PDF for a in prepared)
        check_attachments(
            self,
            prepared,
            max_images=MAX_IMAGES,
            max_pdf_pages=MAX_PDF_PAGES,
            max_request_bytes=MAX_PDF_REQUEST_BYTES if has_pdf else MAX_REQUEST_BYTES,
        )
        return prepared

    def input_tokens(self, *, system: str, prompt: str, model: str, attachments: tuple) -> int:
        """Estimate the input tokens: text at 4 characters a token, images by OpenAI's formula,
        a PDF page as its text and its image."""
        tokens = text_tokens(system) + text_tokens(prompt)
        for attachment in attachments:
            if attachment.media_type == PDF:
                page = PDF_PAGE_TEXT_TOKENS + image_tokens(model, *PDF_PAGE_PIXELS)
                tokens += pdf_pages(attachment.data) * page
            else:
                tokens += image_tokens(model, *images.size_of(attachment))
        return tokens

    def complete(
        self, *, system: str, prompt: str, model: str, max_tokens: int, attachments: tuple = ()
    ) -> Reply:
        """Send a system and a user message and return the text the model answered.

        Attachments go before the text: an `image_url` part (a data URL) per image, a `file`
        part (`file_data`, a data URL) per PDF.
        """
        content: str | list = prompt
        if attachments:
            parts = [self.content_part(a) for a in self.prepare(attachments)]
            content = [*parts, {"type": "text", "text": prompt}]
        body: dict = {
            "model": model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": content},
            ],
        }
        # JSON mode is refused unless the messages mention JSON, so ask for it only then.
        if "json" in (system + prompt).lower():
            body["response_format"] = {"type": "json_object"}
        try:
            data = self._post(body, max_tokens)
        except LLMError as error:
            if error.transient or NEW_MAX_TOKENS_FIELD not in str(error):
                raise
            logger.info("%s: the server wants %s; switching", WHAT, NEW_MAX_TOKENS_FIELD)
            self.max_tokens_field = NEW_MAX_TOKENS_FIELD
            data = self._post(body, max_tokens)
        return parse_completion(data, model)

    def _post(self, body: dict, max_tokens: int) -> dict:
        body = {**body, self.max_tokens_field: max_tokens}
        return self.post(body, {"Authorization": f"Bearer {self.api_key}"})

    def content_part(self, attachment) -> dict:
        """Return the chat completions content part of one attachment.

        https://platform.openai.com/docs/guides/images-vision#giving-a-model-images-as-input
        https://platform.openai.com/docs/guides/pdf-files#base64-encoded-files
        """
        encoded = base64.standard_b64encode(attachment.data).decode("ascii")
        url = f"data:{attachment.media_type};base64,{encoded}"
        if attachment.media_type == PDF:
            return {"type": "file", "file": {"filename": self.filename, "file_data": url}}
        return {"type": "image_url", "image_url": {"url": url, "detail": IMAGE_DETAIL}}


def image_tokens(model: str, width: int, height: int) -> int:
    """Return the input tokens OpenAI bills for one image at detail "high"."""
    model = model.lower()
    multiplier = next((m for p, m in PATCH_MULTIPLIERS.items() if model.startswith(p)), None)
    if multiplier is not None:
        patches = math.ceil(width / PATCH_PX) * math.ceil(height / PATCH_PX)
        return math.ceil(min(patches, MAX_PATCHES) * multiplier)
    base, per_tile = next(
        (
            t
            for p, t in sorted(TILE_TOKENS.items(), key=lambda i: -len(i[0]))
            if model.startswith(p)
        ),
        DEFAULT_TILE_TOKENS,
    )
    scale = images.scale_for(width, height, IMAGE_LIMITS)
    tiles = math.ceil(width * scale / TILE_PX) * math.ceil(height * scale / TILE_PX)
    return base + per_tile * tiles


def parse_completion(data: dict, requested_model: str) -> Reply:
    """Turn a chat completion into a Reply, or raise LLMError keeping the billed usage."""
    raw_usage = data.get("usage")
    usage = None
    if isinstance(raw_usage, dict):
        details = raw_usage.get("prompt_tokens_details")
        cached = token_count(details.get("cached_tokens")) if isinstance(details, dict) else 0
        prompt_tokens = token_count(raw_usage.get("prompt_tokens"))
        # prompt_tokens includes the cached ones, which are priced apart.
        usage = Usage(
            input_tokens=max(prompt_tokens - cached, 0),
            output_tokens=token_count(raw_usage.get("completion_tokens")),
            cache_read_tokens=cached,
        )
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if isinstance(message, dict) and message.get("refusal"):
        raise LLMError(f"{WHAT}: the model refused to answer", usage=usage, transient=False)
    text = message.get("content") if isinstance(message, dict) else None
    if usage is None or not isinstance(text, str):
        missing = "usage" if usage is None else "message content"
        raise LLMError(f"{WHAT}: unexpected answer without {missing}", usage=usage, transient=True)
    if choice.get("finish_reason") == "length":
        logger.warning("%s: the answer was cut at max_tokens; raise it if this repeats", WHAT)
    model = data.get("model")
    return Reply(
        text=text,
        model=model if isinstance(model, str) and model else requested_model,
        usage=usage,
    )


def create(*, api_key: str, base_url: str | None, policy: RetryPolicy, on_wait=None):
    """Build the provider make_provider asked for."""
    return OpenAICompatProvider(api_key=api_key, base_url=base_url, policy=policy, on_wait=on_wait)
