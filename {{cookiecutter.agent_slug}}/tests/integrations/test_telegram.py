"""The Telegram notifier against a local stand-in for the Bot API."""

import html
import logging
import time
import traceback

import pytest

import stubs
from {{ cookiecutter.package_name }}.contract.telegram import telegram_length
from {{ cookiecutter.package_name }}.integrations.telegram import (
    MAX_MESSAGE_CHARS,
    TelegramNotifier,
    split_message,
)
from {{ cookiecutter.package_name }}.reliability.http import (
    PermanentError,
    RetryPolicy,
    TransientError,
)

# Loggers whose lines must stay clean: the agent's own. urllib3's DEBUG lines print request paths
# (a bot token among them); the logging setup keeps that library at WARNING.
PACKAGE = "{{ cookiecutter.package_name }}"


def notifier_for(
    stub, policy, *, token=stubs.TELEGRAM_TOKEN, chat_id=stubs.TELEGRAM_CHAT_ID, on_wait=None
):
    return TelegramNotifier(
        token=token, chat_id=chat_id, api_base=stub.api_base, policy=policy, on_wait=on_wait
    )


@pytest.fixture
def notifier(telegram_stub, fast_policy):
    return notifier_for(telegram_stub, fast_policy)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_sends_escaped_html_without_link_previews(notifier, telegram_stub):
    notifier.send("Doc <b>&amp; co</b> from https://example.org & friends")

    (sent,) = telegram_stub.requests
    assert sent.path == f"/bot{stubs.TELEGRAM_TOKEN}/sendMessage"
    assert sent.json == {
        "chat_id": stubs.TELEGRAM_CHAT_ID,
        "text": "Doc &lt;b&gt;&amp;amp; co&lt;/b&gt; from https://example.org &amp; friends",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
        "disable_web_page_preview": True,
    }


def test_escapes_markup_so_telegram_accepts_it(notifier, telegram_stub):
    notifier.send("<b>&")

    assert telegram_stub.texts == ["&lt;b&gt;&amp;"]


def test_splits_long_text_into_parts_that_rejoin(notifier, telegram_stub):
    line = "Item <%d> & more text to fill the line up\n"
    text = "".join(line % number for number in range(400))[:10_000]
    assert len(text) == 10_000

    notifier.send(text)

    parts = telegram_stub.texts
    assert len(parts) >= 3
    # Telegram counts the text once entities are parsed: "&amp;" is one character.
    assert all(telegram_length(part) <= MAX_MESSAGE_CHARS for part in parts)
    assert "".join(parts) == html.escape(text, quote=False)
    # Every part but the last ends at a line break.
    assert all(part.endswith("\n") for part in parts[:-1])


def test_split_never_cuts_an_entity():
    escaped = html.escape("&" * 5000 + "x" * 3, quote=False)

    parts = split_message(escaped)

    assert "".join(parts) == escaped
    assert [telegram_length(part) for part in parts] == [4096, 904 + 3]
    assert all(part.startswith("&amp;") for part in parts)
    assert all(part.endswith(";") for part in parts[:-1])


def test_split_without_line_breaks_fills_parts():
    parts = split_message("y" * 10_000)

    assert [len(part) for part in parts] == [4096, 4096, 1808]


def test_split_counts_characters_the_way_telegram_does(notifier, telegram_stub):
    text = "\N{GRINNING FACE}" * 3000  # two UTF-16 code units each

    notifier.send(text)

    assert all(utf16_len(part) <= MAX_MESSAGE_CHARS for part in telegram_stub.texts)
    assert "".join(telegram_stub.texts) == text


def test_short_text_is_one_message_and_blank_text_none(notifier, telegram_stub):
    assert split_message("hello") == ["hello"]

    notifier.send("  \n ")

    assert telegram_stub.requests == []


def test_flood_control_waits_as_long_as_telegram_asks(telegram_stub):
    waits = []
    policy = RetryPolicy(max_attempts=3, max_total_seconds=5.0, timeout_seconds=0.5)
    telegram_stub.push(stubs.telegram_429(1))
    started = time.monotonic()

    notifier_for(telegram_stub, policy, on_wait=waits.append).send("alert")

    assert waits == [1.0]
    assert time.monotonic() - started >= 1.0
    assert telegram_stub.texts == ["alert"]
    assert len(telegram_stub.requests) == 2


def test_flood_wait_beyond_the_budget_gives_up_at_once(notifier, telegram_stub):
    telegram_stub.push(stubs.telegram_429(600))

    with pytest.raises(TransientError, match="asked to wait 600s"):
        notifier.send("alert")

    assert len(telegram_stub.requests) == 1


def test_blocked_bot_is_permanent_and_not_retried(notifier, telegram_stub):
    telegram_stub.push(stubs.status(403, message="Forbidden: bot was blocked by the user"))

    with pytest.raises(PermanentError) as caught:
        notifier.send("alert")

    assert len(telegram_stub.requests) == 1
    assert str(caught.value) == (
        "telegram sendMessage: HTTP 403 (Forbidden: bot was blocked by the user); "
        "check that the bot is a member of the chat and may write there"
    )
    assert telegram_stub.messages == []


def test_wrong_chat_says_which_setting_to_fix(telegram_stub, fast_policy):
    with pytest.raises(PermanentError, match=r"chat not found\); check TELEGRAM_CHAT_ID"):
        notifier_for(telegram_stub, fast_policy, chat_id="42").send("alert")


def test_wrong_token_is_permanent_and_never_shown(telegram_stub, fast_policy, caplog):
    caplog.set_level(logging.DEBUG, logger=PACKAGE)
    wrong = "654321:WRONG-SECRET-TOKEN-abc"

    with pytest.raises(PermanentError, match=r"HTTP 401 .*check TELEGRAM_BOT_TOKEN") as caught:
        notifier_for(telegram_stub, fast_policy, token=wrong).send("alert")

    assert len(telegram_stub.requests) == 1
    for text in (caplog.text, "".join(traceback.format_exception(caught.value))):
        assert wrong not in text
        assert telegram_stub.url not in text


def test_token_never_appears_when_giving_up(notifier, telegram_stub, caplog):
    caplog.set_level(logging.DEBUG, logger=PACKAGE)
    telegram_stub.push(
        stubs.status(500, message=f"internal error for bot{stubs.TELEGRAM_TOKEN}"),
        stubs.hang(2),
        stubs.hang(2),
    )

    with pytest.raises(TransientError) as caught:
        notifier.send("alert")

    assert len(telegram_stub.requests) == 3
    assert "telegram sendMessage: attempt 1/3 failed (HTTP 500" in caplog.text
    for text in (caplog.text, "".join(traceback.format_exception(caught.value)), repr(notifier)):
        assert stubs.TELEGRAM_TOKEN not in text
        assert "SECRET-TOKEN" not in text


def test_missing_settings_are_refused_with_the_fix(fast_policy):
    with pytest.raises(PermanentError, match="TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID"):
        TelegramNotifier(token="", chat_id="1", api_base="http://127.0.0.1:9", policy=fast_policy)
