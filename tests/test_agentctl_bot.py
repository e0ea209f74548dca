"""`agentctl bot` against the Bot API stand-in: tests play the phone.

Each run is the real `agentctl bot --once` (one getUpdates, every waiting update handled, exit):
the allowlist, the commands answered with agentctl's own output, review messages with buttons,
presses handed to the agent's decision spool, forged and second presses, restarts.
"""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from agentctl_stubs import BOT_TOKEN, Host, utc_now
from bot_phone import DOCTOR, GROUP, NURSE, STRANGER, Phone, write_bot_config

REVIEW = {
    "item_id": "0123456789abcdef",
    "reason": "2 people fit; a human must choose",
    "fields": {
        "first_name": "Marie",
        "last_name": "Martin",
        "birth_date": None,
        "document_type": "lab result",
        "summary": "Marie Martin's blood count",
    },
    "choices": [
        {
            "number": 1,
            "label": "#2 Marie Martin born 1975-06-12",
            "choice": {
                "id": 2,
                "first_name": "Marie",
                "last_name": "Martin",
                "birth_date": "1975-06-12",
            },
        },
        {
            "number": 2,
            "label": "#3 Marie Martin born 1988-11-30",
            "choice": {
                "id": 3,
                "first_name": "Marie",
                "last_name": "Martin",
                "birth_date": "1988-11-30",
            },
        },
    ],
    "evidence": [
        {
            "key": "last_name",
            "value": "Martin",
            "found": True,
            "page": 1,
            "line": 1,
            "text": "Patient: Marie Martin",
        },
    ],
}


@pytest.fixture
def phone():
    phone = Phone()
    yield phone
    phone.stop()


@pytest.fixture
def host(tmp_path, phone, monkeypatch):
    host = Host(tmp_path, telegram_api_base=phone.url, telegram_max_wait_seconds=5)
    token_file = tmp_path / "credentials" / "telegram-bot-token"
    token_file.parent.mkdir()
    token_file.write_text(BOT_TOKEN + "\n")
    host.bot_state = tmp_path / "var" / "lib" / "pillars-bot" / "bot.json"
    host.bot_config = write_bot_config(
        host.config_root / "pillars-bot.conf", host.bot_state, token_file
    )
    monkeypatch.setenv("PILLARS_BOT_CONFIG", str(host.bot_config))
    return host


def configure(host, **changes) -> None:
    settings = json.loads(host.bot_config.read_text())
    settings.update(changes)
    host.bot_config.write_text(json.dumps(settings))


def bot_once(host) -> subprocess.CompletedProcess:
    result = host.run("bot", "--once")
    assert "Traceback" not in result.stderr, result.stderr
    assert BOT_TOKEN not in result.stdout + result.stderr
    return result


def park(host, slug: str = "clinic", review: dict = REVIEW):
    agent = host.add_agent(slug)
    (agent.state / "decisions").mkdir(exist_ok=True)
    path = agent.state / "review" / "scan.pdf"
    path.write_text("document")
    sidecar = path.with_name("scan.pdf.why.json")
    sidecar.write_text(json.dumps({"file": "scan.pdf", **review}))
    return agent


def test_a_strangers_status_is_ignored_and_logged_once(host, phone):
    host.add_agent("clinic")
    phone.say("/status", STRANGER)
    phone.say("/status", STRANGER, chat_id=-100999)
    phone.say("/review", STRANGER)

    result = bot_once(host)

    assert result.returncode == 0
    assert phone.messages == []
    logged = [line for line in result.stderr.splitlines() if "stranger" in line]
    assert len(logged) == 1
    assert str(STRANGER) in logged[0]
    # Another run: still ignored, not logged again.
    phone.say("/status", STRANGER)
    assert "stranger" not in bot_once(host).stderr
    assert phone.messages == []


def test_an_unknown_user_in_an_allowed_chat_is_refused(host, phone):
    phone.say("/status", NURSE, chat_id=GROUP)
    bot_once(host)
    (message,) = phone.messages
    assert message["chat_id"] == str(GROUP)
    assert message["text"].startswith("Refused:")
    assert str(NURSE) in message["text"]


def test_status_costs_and_failed_are_agentctls_own_output(host, phone):
    agent = host.add_agent("clinic")
    today = utc_now().date()
    agent.costs(today, [("claude-x", 0.25), ("claude-x", 0.5)])
    agent.costs(today - timedelta(days=1), [("claude-x", 1.0)])
    agent.fail("bad.pdf", "the scan is unreadable")
    for text in ("/status", "/costs", "/costs yesterday", "/costs 7d", "/failed", "/costs 1y"):
        phone.say(text, DOCTOR, chat_id=GROUP)

    bot_once(host)

    status, today_costs, yesterday, week, failed, wrong = [m["text"] for m in phone.messages]
    cli_status = host.run("status").stdout
    assert cli_status.splitlines()[0] in status  # the same table, header first
    assert "clinic" in status and "COST TODAY" in status
    for text, cli in (
        (today_costs, host.run("costs", "--since", "today").stdout),
        (yesterday, host.run("costs", "--since", "yesterday", "--until", "yesterday").stdout),
        (week, host.run("costs", "--since", "7d").stdout),
    ):
        assert cli.strip() and cli.strip().splitlines()[-1] in text
    assert "0.75" in today_costs and "1.00" in yesterday and "1.75" in week
    assert "bad.pdf" in failed and "unreadable" in failed
    assert "/costs takes today, yesterday, 7d" in wrong


def test_a_private_chat_of_an_allowed_user_is_allowed(host, phone):
    phone.say("/help", DOCTOR)
    bot_once(host)
    (message,) = phone.messages
    assert message["chat_id"] == str(DOCTOR)
    assert "/review" in message["text"]


@pytest.mark.parametrize(
    ("privacy", "shown", "hidden"),
    [
        (
            "initials",
            ["#2 M. M., 1975", "#3 M. M., 1988", "last name: page 1, line 1"],
            ["Marie", "Martin", "1975-06-12", "blood count"],
        ),
        ("record", ["#2", "#3", "lab result"], ["M. M.", "Marie", "1975", "blood count"]),
        (
            "full",
            ["#2 Marie Martin, born 1975-06-12", "«Patient: Marie Martin»", "blood count"],
            [],
        ),
    ],
)
def test_a_review_shows_what_the_privacy_setting_allows(host, phone, privacy, shown, hidden):
    park(host)
    configure(host, privacy=privacy)
    phone.say("/review", DOCTOR, chat_id=GROUP)
    bot_once(host)

    (message,) = phone.messages
    text = message["text"]
    for part in ["0123456789abcdef", "2 people fit", *shown]:
        assert part in text, (part, text)
    for part in hidden:
        assert part not in text, (part, text)
    labels = [label for label, _ in phone.buttons(message)]
    assert len(labels) == 3 and labels[-1] == "Reject"
    assert all(part not in " ".join(labels) for part in hidden)


def test_callback_data_is_an_opaque_token(host, phone):
    park(host)
    phone.say("/review", DOCTOR, chat_id=GROUP)
    phone.say("/review", DOCTOR, chat_id=GROUP)
    bot_once(host)
    tokens = [data for message in phone.messages for _, data in phone.buttons(message)]
    assert len(tokens) == len(set(tokens)) == 6
    for token in tokens:
        assert len(token.encode()) <= 64 and len(token) >= 20
        assert "0123456789abcdef" not in token and "clinic" not in token


def review_message(host, phone) -> dict:
    phone.say("/review", DOCTOR, chat_id=GROUP)
    bot_once(host)
    return phone.messages[-1]


def spooled(agent) -> list[dict]:
    return [
        json.loads(path.read_text()) for path in sorted((agent.state / "decisions").glob("*.json"))
    ]


def test_a_press_hands_the_decision_to_the_agents_spool_once(host, phone):
    agent = park(host)
    message = review_message(host, phone)
    _, (_, second), (_, reject) = phone.buttons(message)
    first_query = phone.press(message["message_id"], second, DOCTOR, username="dr_house")
    umask = os.umask(0o027)  # the unit's: the decision must still be readable by the agent
    try:
        bot_once(host)
    finally:
        os.umask(umask)

    (decision,) = spooled(agent)
    assert decision["item_id"] == "0123456789abcdef"
    assert decision["choose"] == 2
    assert decision["decided_by"] == {"telegram_user_id": DOCTOR, "username": "dr_house"}
    assert decision["by"] == f"telegram:{DOCTOR} (@dr_house)"
    assert decision["token"] == second
    (path,) = (agent.state / "decisions").glob("*.json")
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    answer = phone.answers[-1]
    assert answer["callback_query_id"] == first_query
    assert "Handed to the agent" in answer["text"]

    # A second press, on the same button or another one of the message: refused, nothing new.
    for data in (second, reject):
        phone.press(message["message_id"], data, DOCTOR)
    bot_once(host)
    assert len(spooled(agent)) == 1
    assert [a["text"].startswith("Already decided here") for a in phone.answers[1:]] == [True] * 2


def test_forged_presses_are_refused_and_change_nothing(host, phone):
    agent = park(host)
    message = review_message(host, phone)
    other = review_message(host, phone)
    (_, token) = phone.buttons(message)[0]
    phone.press(message["message_id"], "0123456789abcdef:1", DOCTOR)  # guessed data
    phone.press(message["message_id"], token[:-1] + ("A" if token[-1] != "A" else "B"), DOCTOR)
    phone.press(other["message_id"], token, DOCTOR)  # a real token on another message
    phone.press(message["message_id"], token, NURSE)  # not on the allowlist
    bot_once(host)

    assert spooled(agent) == []
    texts = [a["text"] for a in phone.answers]
    assert texts[:3] == [texts[0]] * 3 and "not known" in texts[0]
    assert texts[3].startswith("Refused")
    assert all(a["show_alert"] for a in phone.answers)


def test_an_expired_message_or_a_review_decided_elsewhere_changes_nothing(host, phone):
    agent = park(host)
    configure(host, button_valid_hours=0.0001)  # 0.36 s
    message = review_message(host, phone)
    time.sleep(0.5)
    phone.press(message["message_id"], phone.buttons(message)[0][1], DOCTOR)
    bot_once(host)
    assert "expired" in phone.answers[-1]["text"]
    assert "expired" in phone.messages[0]["text"]
    assert phone.messages[0]["reply_markup"] == {"inline_keyboard": []}

    configure(host, button_valid_hours=24)
    message = review_message(host, phone)
    # Decided with `agentctl review ... resolve` meanwhile: the item left review/.
    for path in (agent.state / "review").iterdir():
        path.unlink()
    phone.press(message["message_id"], phone.buttons(message)[0][1], DOCTOR)
    bot_once(host)
    assert "decided elsewhere" in phone.answers[-1]["text"]
    assert spooled(agent) == []


def test_a_restarted_bot_handles_no_update_twice(host, phone):
    park(host)
    phone.say("/status", DOCTOR, chat_id=GROUP)
    phone.say("/review", DOCTOR, chat_id=GROUP)
    bot_once(host)  # exits without confirming the updates to Telegram
    assert len(phone.messages) == 2
    assert phone.api.log()["waiting"] == [1, 2]  # Telegram would hand them out again

    phone.say("/failed", DOCTOR, chat_id=GROUP)
    bot_once(host)  # restarted: asks from its saved offset
    assert [m["text"][:5] for m in phone.messages].count("<pre>") == 2  # status, failed
    assert len(phone.messages) == 3
    assert json.loads(host.bot_state.read_text())["offset"] == 4
    assert oct(host.bot_state.stat().st_mode & 0o777) == "0o600"


def test_a_killed_service_resumes_where_it_stopped(host, phone):
    """The long-running service, killed with SIGKILL between two commands."""
    park(host)
    env = {**os.environ, "AGENTCTL_CONFIG": str(host.config_file)}
    command = [sys.executable, str(host.launcher), "bot"]

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 30
        while len(phone.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(phone.messages) >= count

    service = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        phone.say("/status", DOCTOR, chat_id=GROUP)
        wait_for(1)
        service.send_signal(signal.SIGKILL)
        service.wait(10)
        phone.say("/review", DOCTOR, chat_id=GROUP)
        service = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        wait_for(2)
        time.sleep(1.5)  # a poll or two more: nothing else may come
    finally:
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=30)
    assert len(phone.messages) == 2
    assert service.returncode == 0, stderr
    assert BOT_TOKEN not in stderr


def test_sigterm_during_a_long_poll_ends_the_service_and_loses_nothing(host, phone):
    """systemctl restart sends SIGTERM while the bot waits in a 50 s poll: it ends then."""
    configure(host, poll_timeout_seconds=50)
    env = {**os.environ, "AGENTCTL_CONFIG": str(host.config_file)}
    command = [sys.executable, str(host.launcher), "bot"]
    service = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        phone.say("/status", DOCTOR, chat_id=GROUP)
        deadline = time.monotonic() + 30
        while not phone.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(phone.messages) == 1
        time.sleep(0.5)  # back in the long poll
    finally:
        service.send_signal(signal.SIGTERM)
        # Well under the poll's 50 s: the signal ended the wait.
        _, stderr = service.communicate(timeout=25)
    assert service.returncode == 0, stderr
    phone.say("/failed", DOCTOR, chat_id=GROUP)
    bot_once(host)
    assert len(phone.messages) == 2  # the first /status was not handled again
    assert "Traceback" not in stderr


def test_conflicts_floods_and_a_blocked_chat_get_one_line(host, phone):
    phone.fail(409, "Conflict: terminated by other getUpdates request")
    result = bot_once(host)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "409" in line and "deleteWebhook" in line

    phone.say("/status", DOCTOR, chat_id=GROUP)
    phone.fail(429, "Too Many Requests: retry after 1", retry_after=1)
    assert bot_once(host).returncode == 0
    assert len(phone.messages) == 1

    phone.say("/status", DOCTOR)
    phone.say("/failed", DOCTOR, chat_id=GROUP)
    phone.fail(403, "Forbidden: bot was blocked by the user", method="sendMessage")
    result = bot_once(host)
    # The private chat's answer is refused (blocked); the group's still gets its answer.
    assert result.returncode == 0
    assert [m["chat_id"] for m in phone.messages] == [str(GROUP), str(GROUP)]
    assert "blocked" in result.stderr


def test_a_bad_bot_setting_is_one_line(host, tmp_path):
    configure(host, allowed_users=["doc"])
    result = host.run("bot", "--once")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "allowed_users must be a list of Telegram ids" in line
