"""The Anthropic provider against a local stand-in for the Messages API."""

import logging
import time
import traceback

import pytest

import stubs
from {{ cookiecutter.package_name }}.integrations.llm import LLMError, Usage, make_provider
from {{ cookiecutter.package_name }}.reliability.http import PermanentError

MODEL = "claude-sonnet-4-5"
# Loggers whose lines must stay clean: the agent's own. urllib3's DEBUG lines print request paths
# (a bot token among them); the logging setup keeps that library at WARNING.
PACKAGE = "{{ cookiecutter.package_name }}"


@pytest.fixture
def provider(llm_stub, fast_policy):
    return make_provider(
        "anthropic", api_key=stubs.LLM_API_KEY, base_url=llm_stub.anthropic_base, policy=fast_policy
    )


def ask(provider, prompt="Return JSON for: Name: Jane Doe"):
    return provider.complete(system="Answer in JSON.", prompt=prompt, model=MODEL, max_tokens=321)


def test_factory_needs_an_api_key(fast_policy):
    with pytest.raises(PermanentError, match=r"set LLM_API_KEY in \.env"):
        make_provider("anthropic", api_key="", base_url=None, policy=fast_policy)


def test_sends_the_messages_api_request(provider, llm_stub):
    ask(provider)

    (sent,) = llm_stub.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == stubs.LLM_API_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": MODEL,
        "max_tokens": 321,
        "system": "Answer in JSON.",
        "messages": [{"role": "user", "content": "Return JSON for: Name: Jane Doe"}],
    }


def test_maps_text_model_and_usage_with_cache_tokens(provider, llm_stub):
    llm_stub.push(
        stubs.reply(
            '{"last_name": "Doe"}',
            input_tokens=120,
            output_tokens=30,
            cache_read_tokens=900,
            cache_write_tokens=45,
            model="claude-sonnet-4-5-20250929",
        )
    )

    result = ask(provider)

    assert result.text == '{"last_name": "Doe"}'
    assert result.model == "claude-sonnet-4-5-20250929"
    assert result.usage == Usage(
        input_tokens=120, output_tokens=30, cache_read_tokens=900, cache_write_tokens=45
    )


def test_joins_text_blocks_and_treats_null_cache_fields_as_zero(provider, llm_stub):
    llm_stub.push(
        stubs.answer(
            {
                "model": MODEL,
                "content": [{"type": "text", "text": "{"}, {"type": "text", "text": "}"}],
                "usage": {
                    "input_tokens": 5,
                    "output_tokens": 2,
                    "cache_read_input_tokens": None,
                },
            }
        )
    )

    result = ask(provider)

    assert result.text == "{}"
    assert result.usage == Usage(input_tokens=5, output_tokens=2)


def test_malformed_body_is_a_transient_unbilled_error(provider, llm_stub):
    llm_stub.push(stubs.malformed())

    with pytest.raises(LLMError, match="not JSON") as caught:
        ask(provider)

    assert caught.value.transient is True
    assert caught.value.usage is None


def test_billed_answer_without_text_keeps_its_usage(provider, llm_stub):
    usage = {"input_tokens": 50, "output_tokens": 9}
    llm_stub.push(stubs.answer({"model": MODEL, "content": [], "usage": usage}))

    with pytest.raises(LLMError, match="without text content") as caught:
        ask(provider)

    assert caught.value.transient is True
    assert caught.value.usage == Usage(input_tokens=50, output_tokens=9)


def test_refusal_is_permanent_and_billed(provider, llm_stub):
    usage = {"input_tokens": 50, "output_tokens": 1}
    llm_stub.push(stubs.answer({"content": [], "stop_reason": "refusal", "usage": usage}))

    with pytest.raises(LLMError, match="refused") as caught:
        ask(provider)

    assert caught.value.transient is False
    assert caught.value.usage == Usage(input_tokens=50, output_tokens=1)


def test_overloaded_and_rate_limited_are_retried(provider, llm_stub):
    llm_stub.push(stubs.status(529), stubs.status(429, retry_after=0), stubs.reply("{}"))

    assert ask(provider).text == "{}"
    assert len(llm_stub.requests) == 3


def test_gives_up_transiently_when_the_api_keeps_failing(provider, llm_stub):
    llm_stub.push(stubs.hang(2), stubs.reset(), stubs.status(500))
    started = time.monotonic()

    with pytest.raises(LLMError, match="gave up after 3 attempt") as caught:
        ask(provider)

    assert caught.value.transient is True
    assert caught.value.usage is None
    assert time.monotonic() - started < 1.5


def test_wrong_key_is_permanent_not_retried_and_never_echoed(llm_stub, fast_policy, caplog):
    caplog.set_level(logging.DEBUG, logger=PACKAGE)
    wrong_key = "sk-ant-WRONG-KEY-98765432100"
    provider = make_provider(
        "anthropic", api_key=wrong_key, base_url=llm_stub.anthropic_base, policy=fast_policy
    )
    llm_stub.push(stubs.status(401, message=f"invalid x-api-key {wrong_key}"))

    with pytest.raises(LLMError) as caught:
        ask(provider)

    assert caught.value.transient is False
    assert len(llm_stub.requests) == 1
    assert str(caught.value) == (
        "anthropic messages: HTTP 401 (authentication_error: invalid x-api-key [REDACTED]); "
        "check LLM_API_KEY"
    )
    for text in (caplog.text, "".join(traceback.format_exception(caught.value))):
        assert wrong_key not in text
        assert llm_stub.url not in text


@pytest.mark.parametrize(
    ("answered", "reported"), [("claude-sonnet-4-5-20250929",) * 2, (None, MODEL)]
)
def test_the_answered_model_id_is_reported_and_a_missing_one_is_the_requested(
    provider, llm_stub, answered, reported
):
    content = [{"type": "text", "text": "{}"}]
    usage = {"input_tokens": 5, "output_tokens": 2}
    llm_stub.push(stubs.answer({"model": answered, "content": content, "usage": usage}))

    assert ask(provider).model == reported


def test_the_provider_names_the_url_it_calls_which_chooses_the_price_list(provider, llm_stub):
    ask(provider)

    assert provider.url == llm_stub.anthropic_base.rstrip("/") + "/v1/messages"
    assert llm_stub.requests[0].path == "/v1/messages"
