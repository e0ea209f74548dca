"""LLM providers: `fake` (offline), `anthropic` (Messages API), `openai` (any compatible server).

The project generator removes the modules of the providers not chosen, so they are imported here
lazily, by name, and a missing one is a clear configuration error rather than an ImportError.
"""

import importlib
import importlib.util
from collections.abc import Callable

from ...reliability.http import PermanentError, RetryPolicy
from .base import LLMError, Provider, Reply, Usage

__all__ = ["PROVIDERS", "LLMError", "Provider", "Reply", "Usage", "available", "make_provider"]

# LLM_PROVIDER value -> module in this package.
PROVIDERS = {"fake": "fake", "anthropic": "anthropic", "openai": "openai_compat"}
KEYLESS_PROVIDERS = frozenset({"fake"})


def available() -> list[str]:
    """Return the LLM_PROVIDER values whose module is present in this agent."""
    return [
        name
        for name, module in PROVIDERS.items()
        if importlib.util.find_spec(f"{__name__}.{module}") is not None
    ]


def make_provider(
    name: str,
    *,
    api_key: str,
    base_url: str | None,
    policy: RetryPolicy,
    on_wait: Callable[[float], object] | None = None,
) -> Provider:
    """Build the provider LLM_PROVIDER names; raise PermanentError with the fix when it can't."""
    present = available()
    if name not in present:
        raise PermanentError(
            f"LLM_PROVIDER={name} is not available in this agent "
            f"(available: {', '.join(present)}); set LLM_PROVIDER in .env"
        )
    if name not in KEYLESS_PROVIDERS and not api_key:
        raise PermanentError(f"LLM_PROVIDER={name} needs an API key; set LLM_API_KEY in .env")
    module = importlib.import_module(f"{__name__}.{PROVIDERS[name]}")
    return module.create(api_key=api_key, base_url=base_url, policy=policy, on_wait=on_wait)
