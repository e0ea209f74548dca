"""Fixtures for the integration tests: local stand-ins for the LLM APIs and Telegram."""

import pytest

import stubs
from {{ cookiecutter.package_name }}.reliability.http import RetryPolicy

# Short enough that a whole retry sequence against a hanging server stays under a second.
FAST_POLICY = RetryPolicy(
    max_attempts=3,
    max_total_seconds=5.0,
    timeout_seconds=0.2,
    base_delay_seconds=0.01,
    max_delay_seconds=0.05,
)


@pytest.fixture
def fast_policy() -> RetryPolicy:
    return FAST_POLICY


@pytest.fixture
def llm_stub():
    with stubs.LLMStub() as stub:
        yield stub


@pytest.fixture
def telegram_stub():
    with stubs.TelegramStub() as stub:
        yield stub


@pytest.fixture
def recording_sleep() -> stubs.RecordingSleep:
    return stubs.RecordingSleep()
