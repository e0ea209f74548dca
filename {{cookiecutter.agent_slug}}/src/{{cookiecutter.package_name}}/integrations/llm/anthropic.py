"""Anthropic Messages API (`POST /v1/messages`) over requests."""

import logging
from collections.abc import Callable

import requests

from ...reliability.http import RetryPolicy
from .base import LLMError, Reply, Usage, post_json, token_count

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
WHAT = "anthropic messages"


class AnthropicProvider:
    """Ask Claude through the Messages API; usage includes prompt-cache reads and writes."""

    name = "anthropic"

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
        self.url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/v1/messages"
        self.policy = policy
        self.on_wait = on_wait
        self.session = session or requests.Session()

    def __repr__(self) -> str:
        return f"AnthropicProvider(url={self.url!r})"

    def complete(self, *, system: str, prompt: str, model: str, max_tokens: int) -> Reply:
        """Send one user message under `system` and return the text Claude answered."""
        body = {
            "model": model,
            "max_tokens": max_tokens,
            "system": system,
            "messages": [{"role": "user", "content": prompt}],
        }
        headers = {
            "x-api-key": self.api_key,
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
        }
        data = post_json(
            self.session,
            self.url,
            headers=headers,
            body=body,
            policy=self.policy,
            what=WHAT,
            secret=self.api_key,
            on_wait=self.on_wait,
        )
        return parse_message(data, model)


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
