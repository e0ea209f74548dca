"""OpenAI-compatible chat completions (`POST {base}/chat/completions`) over requests.

One client for OpenAI, OpenRouter, Mistral and local llama.cpp or Ollama servers: they differ only
by LLM_BASE_URL and the model id.
"""

import logging
from collections.abc import Callable

import requests

from ...reliability.http import RetryPolicy
from .base import LLMError, Reply, Usage, post_json, token_count

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
WHAT = "openai chat completions"
# Newer OpenAI models refuse max_tokens and ask for this name instead; other servers know only
# max_tokens, so it is the first choice.
NEW_MAX_TOKENS_FIELD = "max_completion_tokens"


class OpenAICompatProvider:
    """Ask any server that speaks the OpenAI chat completions API."""

    name = "openai"

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
        self.url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        self.policy = policy
        self.on_wait = on_wait
        self.session = session or requests.Session()
        self.max_tokens_field = "max_tokens"

    def __repr__(self) -> str:
        return f"OpenAICompatProvider(url={self.url!r})"

    def complete(self, *, system: str, prompt: str, model: str, max_tokens: int) -> Reply:
        """Send a system and a user message and return the text the model answered."""
        body: dict = {
            "model": model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": prompt},
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
        return post_json(
            self.session,
            self.url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            body=body,
            policy=self.policy,
            what=WHAT,
            secret=self.api_key,
            on_wait=self.on_wait,
        )


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
