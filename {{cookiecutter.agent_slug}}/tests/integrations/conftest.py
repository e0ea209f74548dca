"""Fixtures for the integration tests: a local stand-in for the LLM APIs (Telegram's is shared)."""

import pytest

import stubs


@pytest.fixture
def llm_stub():
    with stubs.LLMStub() as stub:
        yield stub
