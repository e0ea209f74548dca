"""How the fault tests wire an agent to the HTTP stand-ins of tests/stubs.py."""

import importlib.util
import json

import corpus

import stubs
from {{ cookiecutter.package_name }}.integrations.llm import fake

PACKAGE = "{{ cookiecutter.package_name }}"
# The real LLM providers this agent was generated with (a `fake` agent keeps both).
PROVIDERS = [
    name
    for name, module in (("anthropic", "anthropic"), ("openai", "openai_compat"))
    if importlib.util.find_spec(f"{PACKAGE}.integrations.llm.{module}")
]
HAS_TELEGRAM = bool(importlib.util.find_spec(f"{PACKAGE}.integrations.telegram"))
MODELS = {"anthropic": "claude-sonnet-4-5-20250929", "openai": "gpt-4o-mini"}


def extracting(system: str, prompt: str) -> str:
    """Answer like a good LLM, or with the hostile answer the document asks for."""
    document = fake.document_part(prompt)
    scripted = corpus.hostile_answer(document)
    if scripted is not None:
        return scripted
    return json.dumps(fake.extract_fields(document))


def configure(home, llm, telegram=None, provider: str | None = None, **extra: str) -> str:
    """Point home's .env at the stand-ins; return the LLM provider used."""
    provider = provider or PROVIDERS[0]
    settings = {
        "LLM_PROVIDER": provider,
        "LLM_MODEL": MODELS[provider],
        "LLM_BASE_URL": llm.anthropic_base if provider == "anthropic" else llm.openai_base,
        "LLM_API_KEY": llm.api_key or stubs.LLM_API_KEY,
        "HTTP_TIMEOUT_SECONDS": "5",
        "HTTP_MAX_TOTAL_SECONDS": "30",
    }
    if telegram is not None:
        settings |= {
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_CHAT_ID": telegram.chat_id,
            "TELEGRAM_API_BASE": telegram.api_base,
        }
    home.write_env(**(settings | extra))
    return provider


class RecordingNotifier:
    """A notifier that keeps what it was asked to send (alerts included) instead of sending it."""

    name = "log"

    def __init__(self):
        self.texts: list[str] = []

    def send(self, text: str) -> None:
        self.texts.append(text)
