"""The contract's Telegram client as a bot: getUpdates, buttons, edits, presses, 409 and 403."""

import threading

import pytest

import stubs
from {{ cookiecutter.package_name }}.contract.botapi import (
    MAX_CALLBACK_DATA_BYTES,
    BotClient,
    ConflictError,
    keyboard,
)
from {{ cookiecutter.package_name }}.contract.errors import PermanentError, TransientError

DOCTOR = 4242


@pytest.fixture
def telegram():
    with stubs.TelegramStub(chat_id=None) as stub:
        yield stub


@pytest.fixture
def client(telegram, fast_policy, recording_sleep):
    return BotClient(
        stubs.TELEGRAM_TOKEN, str(DOCTOR), telegram.api_base, fast_policy, sleep=recording_sleep
    )


def test_updates_come_until_a_higher_offset_confirms_them(telegram, client):
    first = telegram.say("/status", DOCTOR)
    second = telegram.say("/failed", DOCTOR)

    updates = client.get_updates(None)
    assert [u["update_id"] for u in updates] == [first, second]
    assert updates[0]["message"]["text"] == "/status"
    # Without a higher offset Telegram hands the same updates out again.
    assert [u["update_id"] for u in client.get_updates(first)] == [first, second]
    assert client.get_updates(second + 1) == []
    assert telegram.updates == []


def test_a_long_poll_returns_the_update_that_arrives_while_it_waits(telegram, client):
    got = []
    poller = threading.Thread(target=lambda: got.extend(client.get_updates(None, timeout=20)))
    poller.start()
    while not any(r.path.endswith("/getUpdates") for r in telegram.requests):
        threading.Event().wait(0.01)
    update_id = telegram.say("/review", DOCTOR)
    poller.join(timeout=20)

    assert [u["update_id"] for u in got] == [update_id]
    call = telegram.requests[-1].json
    assert call["timeout"] == 20
    assert call["allowed_updates"] == ["message", "callback_query"]


def test_a_message_with_buttons_is_edited_and_its_press_answered(telegram, client):
    sent = client.send_message(
        "<b>Review</b> r-1", buttons=[[("Jane D.", "t1")], [("Reject", "t2")]]
    )
    assert sent["message_id"] == 1
    assert telegram.message(1)["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Jane D.", "callback_data": "t1"}],
            [{"text": "Reject", "callback_data": "t2"}],
        ]
    }
    query = telegram.press(1, "t1", DOCTOR)
    press = client.get_updates(None)[0]["callback_query"]
    assert (press["id"], press["data"], press["from"]["id"]) == (query, "t1", DOCTOR)

    client.answer_callback_query(query, "Decided: Jane D.")
    client.edit_message_text(str(DOCTOR), 1, "<b>Review</b> r-1: decided")
    # The same edit twice is "message is not modified": no failure.
    client.edit_message_text(str(DOCTOR), 1, "<b>Review</b> r-1: decided")

    assert telegram.answers == [
        {"callback_query_id": query, "text": "Decided: Jane D.", "show_alert": False}
    ]
    edited = telegram.message(1)
    assert edited["text"] == "<b>Review</b> r-1: decided"
    assert edited["reply_markup"] == {"inline_keyboard": []}


def test_a_second_poller_gets_a_conflict_with_a_fix(telegram, client, fast_policy):
    telegram.push(
        stubs.status(
            409,
            message="Conflict: terminated by other getUpdates request; make sure that only "
            "one bot instance is running",
        )
    )
    with pytest.raises(ConflictError) as caught:
        client.get_updates(None)
    assert caught.value.status_code == 409
    assert "deleteWebhook" in str(caught.value)
    assert stubs.TELEGRAM_TOKEN not in str(caught.value)


def test_two_pollers_at_once_one_is_refused(telegram, fast_policy):
    results = []

    def poll():
        one = BotClient(stubs.TELEGRAM_TOKEN, str(DOCTOR), telegram.api_base, fast_policy)
        try:
            results.append(one.get_updates(None, timeout=1))
        except ConflictError as error:
            results.append(error)

    pollers = [threading.Thread(target=poll) for _ in range(2)]
    for poller in pollers:
        poller.start()
    for poller in pollers:
        poller.join(timeout=10)
    assert sorted(type(r).__name__ for r in results) == ["ConflictError", "list"]


def test_a_blocked_bot_is_a_permanent_refusal(telegram, client):
    telegram.push(stubs.status(403, message="Forbidden: bot was blocked by the user"))
    with pytest.raises(PermanentError) as caught:
        client.send_message("hello")
    assert caught.value.status_code == 403
    assert "blocked" in str(caught.value)
    assert len(telegram.requests) == 1


def test_a_flood_wait_on_an_answer_is_honoured(telegram, client, recording_sleep):
    telegram.push(stubs.telegram_429(3))
    client.answer_callback_query("q1", "ok")
    assert recording_sleep.total >= 3
    assert telegram.answers[0]["callback_query_id"] == "q1"


def test_polling_gives_up_as_transient_when_the_server_fails(telegram, client):
    telegram.push(*[stubs.status(502)] * 10)
    with pytest.raises(TransientError):
        client.get_updates(5)


def test_callback_data_over_the_limit_is_refused_before_sending():
    assert keyboard([[("a", "x" * MAX_CALLBACK_DATA_BYTES)]])
    with pytest.raises(ValueError, match="64 bytes"):
        keyboard([[("a", "é" * 33)]])
