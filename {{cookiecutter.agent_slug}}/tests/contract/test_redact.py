"""Redaction: one marker and one set of patterns for every text the agent or agentctl shows."""

import pytest

from {{ cookiecutter.package_name }}.contract.redact import (
    REDACTED,
    Redactor,
    env_secrets,
    redact,
)

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"token {BOT_TOKEN} leaked", f"token {REDACTED} leaked"),
        (
            f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage",
            f"https://api.telegram.org/bot{REDACTED}/sendMessage",
        ),
        ("Authorization: Bearer abcdefgh12345678", f"Authorization: Bearer {REDACTED}"),
        ('{"x-api-key": "sk-ant-0123456789abcdef"}', '{"x-api-key": "' + REDACTED + '"}'),
        ("GET /v1?key=AIzaSyA1234567890&alt=json", f"GET /v1?key={REDACTED}&alt=json"),
        ("key sk-proj-0123456789abcdefXYZ here", f"key {REDACTED} here"),
        ("curl -H 'basic dXNlcjpwYXNzd29yZA=='", f"curl -H 'basic {REDACTED}'"),
        ("password: hunter2222", f"password: {REDACTED}"),
        ("api_key=0123456789", f"api_key={REDACTED}"),
    ],
)
def test_credential_shapes_are_hidden_and_their_names_kept(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "3 documents in review, the oldest for 2h05m",
        "input_tokens=1200 output_tokens=80",
        "cost $0.0123 of $5.00 today",
        "gpt-4o-mini answered in 812 ms",
    ],
)
def test_ordinary_lines_are_left_alone(text):
    assert redact(text) == text


def test_known_values_are_hidden_longest_first():
    redactor = Redactor(["secret-value", "secret-value-longer", ""])

    assert redactor("a secret-value-longer and a secret-value") == (
        f"a {REDACTED} and a {REDACTED}"
    )


def test_values_added_later_are_hidden_too():
    redactor = Redactor()
    redactor.add("late-secret")
    redactor.add("")

    assert redactor("the late-secret") == f"the {REDACTED}"


def test_env_values_worth_hiding():
    values = {
        "LLM_API_KEY": "abcd",  # short, but named a secret
        "PIN_SECRET": "abc",  # too short to hide anything
        "POLL_INTERVAL_SECONDS": "5",
        "LLM_PROVIDER": "fake",
        "TELEGRAM_CHAT_ID": "-1001234567890",
    }

    assert env_secrets(values) == {"abcd", "-1001234567890"}
    redactor = Redactor()
    redactor.add_env_values(values)
    assert redactor("key abcd, chat -1001234567890, poll 5, fake") == (
        f"key {REDACTED}, chat {REDACTED}, poll 5, fake"
    )
