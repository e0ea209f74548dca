"""The contract's Telegram client against a local stand-in for the Bot API (a real HTTP server)."""

import logging
import traceback

import pytest

import stubs
from {{ cookiecutter.package_name }}.contract.errors import PermanentError, TransientError
from {{ cookiecutter.package_name }}.contract.telegram import (
    MAX_MESSAGE_CHARS,
    TelegramClient,
    escape,
    split_message,
    telegram_length,
)

SUPERGROUP = "-1009876543210"


@pytest.fixture
def telegram(telegram_stub):
    return telegram_stub


@pytest.fixture
def sleep(recording_sleep):
    return recording_sleep


@pytest.fixture
def client_for(fast_policy, sleep):
    """Return a maker of clients with fast retries and a recorded sleep."""

    def make(stub, chat_id=stubs.TELEGRAM_CHAT_ID, api_base=None, **kwargs) -> TelegramClient:
        base = api_base or stub.api_base
        return TelegramClient(
            stubs.TELEGRAM_TOKEN, chat_id, base, fast_policy, sleep=sleep, **kwargs
        )

    return make


def migrated_answer(new_chat: str):
    return stubs.answer(
        {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": int(new_chat)},
        },
        status=400,
    )


def test_sends_escaped_text_and_markup_as_given(telegram, client_for):
    client = client_for(telegram)

    assert client.send("a <b> & c") == 1
    assert client.send_html("<b>host</b>: 1 new problem\n🔴 disk full → <code>df -h</code>") == 1

    assert telegram.texts == [
        "a &lt;b&gt; &amp; c",
        "<b>host</b>: 1 new problem\n🔴 disk full → <code>df -h</code>",
    ]
    assert telegram.requests[0].json["parse_mode"] == "HTML"


def test_a_group_that_became_a_supergroup_is_written_to_under_its_new_id(sleep, caplog, client_for):
    with stubs.TelegramStub(chat_id=SUPERGROUP) as telegram:
        telegram.push(migrated_answer(SUPERGROUP))
        client = client_for(telegram)

        with caplog.at_level(logging.WARNING):
            client.send("first alert")
        client.send("second alert")

    assert [r.json["chat_id"] for r in telegram.requests] == [
        stubs.TELEGRAM_CHAT_ID,
        SUPERGROUP,
        SUPERGROUP,
    ]
    assert telegram.texts == ["first alert", "second alert"]
    assert client.chat_id == client.migrated_to == SUPERGROUP
    assert f"set TELEGRAM_CHAT_ID={SUPERGROUP}" in caplog.text
    assert sleep.calls == []  # no backoff: the answer says where to send


def test_a_migration_is_followed_once_only(telegram, client_for):
    telegram.push(migrated_answer(SUPERGROUP), migrated_answer("-1001111111111"))

    with pytest.raises(PermanentError, match=r"HTTP 400 .*upgraded to a supergroup"):
        client_for(telegram).send("alert")

    assert len(telegram.requests) == 2


def test_flood_control_waits_exactly_what_telegram_asks(telegram, sleep, client_for):
    waits = []
    telegram.push(stubs.telegram_429(3))

    client_for(telegram, on_wait=waits.append).send("alert")

    assert sleep.calls == [3.0]
    assert waits == [3.0]
    assert telegram.texts == ["alert"]


def test_flood_wait_beyond_the_budget_gives_up_at_once(telegram, sleep, client_for):
    telegram.push(stubs.telegram_429(600))

    with pytest.raises(TransientError, match="asked to wait 600s") as caught:
        client_for(telegram).send("alert")

    assert caught.value.status_code == 429
    assert len(telegram.requests) == 1
    assert sleep.calls == []


def test_server_errors_are_retried_a_bounded_number_of_times_with_jitter(
    telegram, sleep, client_for, fast_policy
):
    telegram.push(*[stubs.status(502, message="Bad Gateway")] * fast_policy.max_attempts)

    with pytest.raises(TransientError, match=r"HTTP 502 .*gave up after 3 attempt"):
        client_for(telegram, rng=lambda: 0.5).send("alert")

    assert len(telegram.requests) == fast_policy.max_attempts
    assert sleep.calls == [0.005, 0.01]  # half of each full-jitter cap (0.01, then 0.02)


def test_a_server_error_that_passes_delivers(telegram, client_for):
    telegram.push(stubs.status(500), stubs.hang(2))

    client_for(telegram).send("alert")

    assert telegram.texts == ["alert"]
    assert len(telegram.requests) == 3


@pytest.mark.parametrize(
    ("code", "message", "hint"),
    [
        (400, "Bad Request: chat not found", "check TELEGRAM_CHAT_ID"),
        (401, "Unauthorized", "check TELEGRAM_BOT_TOKEN"),
        (403, "Forbidden: bot was blocked by the user", "member of the chat"),
        (404, "Not Found", "check TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE"),
    ],
)
def test_refusals_are_permanent_not_retried_and_say_what_to_check(
    telegram, code, message, hint, client_for
):
    telegram.push(stubs.status(code, message=f"{message} (bot{stubs.TELEGRAM_TOKEN})"))

    with pytest.raises(PermanentError) as caught:
        client_for(telegram).send("alert")

    text = str(caught.value)
    assert text.startswith(f"telegram sendMessage: HTTP {code} ({message}")
    assert hint in text
    assert caught.value.status_code == code
    assert stubs.TELEGRAM_TOKEN not in text
    assert len(telegram.requests) == 1


def test_an_unreachable_api_is_transient_and_never_shows_the_token(caplog, client_for):
    client = client_for(None, chat_id="1", api_base="http://127.0.0.1:9")

    with caplog.at_level(logging.DEBUG), pytest.raises(TransientError) as caught:
        client.send("alert")

    assert "connection failed (ConnectionRefusedError)" in str(caught.value)
    for text in (caplog.text, "".join(traceback.format_exception(caught.value)), repr(client)):
        assert stubs.TELEGRAM_TOKEN not in text


@pytest.mark.parametrize("base", ["not a url", "ftp2://example.org"])
def test_a_bad_api_base_is_a_permanent_error_in_one_line(base, client_for):
    with pytest.raises(PermanentError, match="bad TELEGRAM_API_BASE"):
        client_for(None, api_base=base).send("alert")


def test_missing_settings_are_refused_with_the_fix():
    with pytest.raises(PermanentError, match="TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID"):
        TelegramClient("", "1")


def test_long_text_goes_out_in_parts_telegram_accepts(telegram, client_for):
    text = "".join(f"line {n} <&>\n" for n in range(2000))

    parts = client_for(telegram).send(text)

    assert parts == len(telegram.texts) > 1
    assert "".join(telegram.texts) == escape(text)


# splitting --------------------------------------------------------------------------------------


def test_length_is_counted_as_telegram_counts_it():
    assert telegram_length("<b>bold</b> &amp; <code>x</code>") == len("bold & x")
    assert telegram_length("\N{GRINNING FACE}") == 2  # UTF-16 code units
    assert telegram_length("&#128512;") == 2
    assert telegram_length("a < b") == 5  # a lone "<" is text


def test_a_part_never_ends_inside_a_tag_or_an_entity():
    markup = "<b>" + "&amp;" * 5000 + "</b>"

    parts = split_message(markup, limit=1000)

    assert "".join(parts) == markup
    assert all(telegram_length(p) <= 1000 for p in parts)
    assert all(p.endswith(("&amp;", "</b>")) for p in parts)


def test_parts_end_at_a_line_break_in_their_second_half():
    lines = [f"<b>item {n}</b> " + "x" * 90 for n in range(100)]

    parts = split_message("\n".join(lines))

    assert all(telegram_length(p) <= MAX_MESSAGE_CHARS for p in parts)
    assert all(p.endswith("\n") for p in parts[:-1])
    assert all(p.startswith("<b>item") for p in parts)


def test_short_text_is_one_part():
    assert split_message("hello") == ["hello"]
    assert split_message("") == []
