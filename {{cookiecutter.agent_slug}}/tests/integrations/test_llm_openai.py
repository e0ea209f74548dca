"""The OpenAI-compatible provider against a local stand-in for chat completions."""

import logging
import traceback

import pytest

import stubs
from {{ cookiecutter.package_name }}.integrations.llm import LLMError, Usage, make_provider
from {{ cookiecutter.package_name }}.reliability.http import PermanentError

MODEL = "gpt-4o-mini"
# Loggers whose lines must stay clean: the agent's own. urllib3's DEBUG lines print request paths
# (a bot token among them); the logging setup keeps that library at WARNING.
PACKAGE = "{{ cookiecutter.package_name }}"
NEW_FIELD_ONLY = (
    "Unsupported parameter: 'max_tokens' is not supported with this model. "
    "Use 'max_completion_tokens' instead."
)


@pytest.fixture
def provider(llm_stub, fast_policy):
    return make_provider(
        "openai", api_key=stubs.LLM_API_KEY, base_url=llm_stub.openai_base, policy=fast_policy
    )


def ask(provider, system="Answer with one JSON object.", prompt="Name: Jane Doe"):
    return provider.complete(system=system, prompt=prompt, model=MODEL, max_tokens=256)


def test_factory_needs_an_api_key(fast_policy):
    with pytest.raises(PermanentError, match=r"LLM_PROVIDER=openai needs an API key"):
        make_provider("openai", api_key="", base_url=None, policy=fast_policy)


def test_sends_the_chat_completions_request_in_json_mode(provider, llm_stub):
    ask(provider)

    (sent,) = llm_stub.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {stubs.LLM_API_KEY}"
    assert "x-api-key" not in sent.headers
    assert sent.json == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Answer with one JSON object."},
            {"role": "user", "content": "Name: Jane Doe"},
        ],
        "response_format": {"type": "json_object"},
        "max_tokens": 256,
    }


def test_json_mode_is_not_asked_when_the_prompt_never_says_json(provider, llm_stub):
    # OpenAI refuses json_object mode unless the messages mention JSON.
    ask(provider, system="Be brief.", prompt="Say hello.")

    assert "response_format" not in llm_stub.requests[0].json


def test_maps_usage_taking_cached_tokens_out_of_the_input(provider, llm_stub):
    llm_stub.push(
        stubs.reply(
            '{"a": 1}', input_tokens=100, output_tokens=20, cache_read_tokens=1200, model="gpt-x"
        )
    )

    result = ask(provider)

    assert result.text == '{"a": 1}'
    assert result.model == "gpt-x"
    assert result.usage == Usage(input_tokens=100, output_tokens=20, cache_read_tokens=1200)
    assert llm_stub.requests[0].json["model"] == MODEL


def test_usage_without_details_from_a_local_server(provider, llm_stub):
    body = {
        "model": "llama-3.1-8b",
        "choices": [{"message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 3, "total_tokens": 43},
    }
    llm_stub.push(stubs.answer(body))

    assert ask(provider).usage == Usage(input_tokens=40, output_tokens=3)


def test_malformed_body_is_a_transient_unbilled_error(provider, llm_stub):
    llm_stub.push(stubs.malformed("<html>Bad gateway</html>"))

    with pytest.raises(LLMError, match="not JSON") as caught:
        ask(provider)

    assert caught.value.transient is True
    assert caught.value.usage is None


def test_billed_answer_without_content_keeps_its_usage(provider, llm_stub):
    usage = {
        "prompt_tokens": 70,
        "completion_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 20},
    }
    llm_stub.push(stubs.answer({"model": MODEL, "choices": [], "usage": usage}))

    with pytest.raises(LLMError, match="without message content") as caught:
        ask(provider)

    assert caught.value.transient is True
    assert caught.value.usage == Usage(input_tokens=50, cache_read_tokens=20)


def test_refusal_is_permanent_and_billed(provider, llm_stub):
    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    usage = {"prompt_tokens": 30, "completion_tokens": 8}
    llm_stub.push(stubs.answer({"choices": [{"message": message}], "usage": usage}))

    with pytest.raises(LLMError, match="refused") as caught:
        ask(provider)

    assert caught.value.transient is False
    assert caught.value.usage == Usage(input_tokens=30, output_tokens=8)


def test_switches_to_max_completion_tokens_when_the_model_asks(provider, llm_stub):
    llm_stub.push(stubs.status(400, message=NEW_FIELD_ONLY), stubs.reply("{}"), stubs.reply("{}"))

    ask(provider)
    ask(provider)

    first, second, third = (sent.json for sent in llm_stub.requests)
    assert first["max_tokens"] == 256
    assert second["max_completion_tokens"] == 256
    assert "max_tokens" not in second
    # Remembered: the next call does not pay for the refusal again.
    assert "max_tokens" not in third


def test_unknown_model_says_what_to_check(provider, llm_stub):
    llm_stub.push(stubs.status(404, message="The model `gpt-9` does not exist"))

    with pytest.raises(LLMError, match=r"does not exist\); check LLM_MODEL and LLM_BASE_URL$"):
        ask(provider)


def test_rate_limit_then_server_error_are_retried(provider, llm_stub):
    llm_stub.push(stubs.status(429, retry_after="0"), stubs.status(502), stubs.reply("{}"))

    assert ask(provider).text == "{}"
    assert len(llm_stub.requests) == 3


def test_timeouts_give_up_transiently(provider, llm_stub):
    llm_stub.push(stubs.hang(2), stubs.hang(2), stubs.hang(2))

    with pytest.raises(LLMError, match="timeout") as caught:
        ask(provider)

    assert caught.value.transient is True
    assert len(llm_stub.requests) == 3


def test_bad_request_is_permanent_and_not_retried(provider, llm_stub, caplog):
    caplog.set_level(logging.DEBUG, logger=PACKAGE)
    llm_stub.push(stubs.status(400, message=f"Incorrect API key provided: {stubs.LLM_API_KEY}"))

    with pytest.raises(LLMError) as caught:
        ask(provider)

    assert caught.value.transient is False
    assert len(llm_stub.requests) == 1
    for text in (caplog.text, "".join(traceback.format_exception(caught.value))):
        assert stubs.LLM_API_KEY not in text
        assert llm_stub.url not in text


@pytest.mark.parametrize(("answered", "reported"), [("gpt-4o-mini-2024-07-18",) * 2, ("", MODEL)])
def test_the_answered_model_id_is_reported_and_a_missing_one_is_the_requested(
    provider, llm_stub, answered, reported
):
    usage = {"prompt_tokens": 5, "completion_tokens": 2}
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": "{}"},
        "finish_reason": "stop",
    }
    llm_stub.push(stubs.answer({"model": answered, "choices": [choice], "usage": usage}))

    assert ask(provider).model == reported


def test_the_provider_names_the_url_it_calls_which_chooses_the_price_list(provider, llm_stub):
    ask(provider)

    assert provider.url == llm_stub.openai_base.rstrip("/") + "/chat/completions"
    assert llm_stub.requests[0].path == "/v1/chat/completions"
