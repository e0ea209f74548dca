"""Retries, timeouts and secrecy of reliability.http against a real local HTTP server."""

import dataclasses
import logging
import socket
import time
import traceback
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

import stubs
from {{ cookiecutter.package_name }}.reliability import http
from {{ cookiecutter.package_name }}.reliability.http import (
    PermanentError,
    RetryPolicy,
    TransientError,
    request,
)

# A timeout no answer of the stub comes near, even on a busy machine: only the tests of timeouts
# use a short one, and nothing waits for it to pass otherwise.
# The default backoff (1 s doubling up to 30 s), with a tighter budget.
POLICY = RetryPolicy(max_attempts=4, max_total_seconds=60.0, timeout_seconds=10.0)
SHORT_TIMEOUT_SECONDS = 0.2
HALF = 0.5


@pytest.fixture
def server():
    with stubs.StubServer() as stub:
        yield stub


@pytest.fixture
def sleep():
    return stubs.RecordingSleep()


@pytest.fixture
def session():
    with requests.Session() as session:
        yield session


def call(server, session, sleep, *, policy=POLICY, rng=lambda: HALF, path="/", **kwargs):
    return request(
        session,
        "POST",
        server.url + path,
        policy=policy,
        what="test call",
        sleep=sleep,
        rng=rng,
        **kwargs,
    )


def test_retries_server_errors_then_succeeds(server, session, sleep):
    server.push(stubs.status(500), stubs.status(503))

    response = call(server, session, sleep)

    assert response.status_code == 200
    assert len(server.requests) == 3
    # Full jitter: rng() * base * 2**attempt, with rng() = 0.5.
    assert sleep.calls == [0.5, 1.0]


@pytest.mark.parametrize("code", [408, 429, 502, 504, 529])
def test_retries_every_transient_status(server, session, sleep, code):
    server.push(stubs.status(code))

    assert call(server, session, sleep).status_code == 200
    assert len(server.requests) == 2


def test_honours_retry_after_seconds(server, session, sleep):
    waits = []
    server.push(stubs.status(429, retry_after=7))

    call(server, session, sleep, on_wait=waits.append)

    assert sleep.calls == [7.0]
    assert waits == [7.0]
    assert len(server.requests) == 2


def test_honours_retry_after_http_date(server, session, sleep):
    when = datetime.now(UTC) + timedelta(seconds=20)
    server.push(stubs.status(503, retry_after=format_datetime(when, usegmt=True)))

    call(server, session, sleep)

    assert 17 <= sleep.total <= 20


def test_honours_telegram_retry_after_in_body(server, session, sleep):
    server.push(stubs.telegram_429(4))

    call(server, session, sleep)

    assert sleep.calls == [4.0]


def test_retry_after_beyond_the_budget_gives_up_at_once(server, session, sleep):
    server.push(stubs.status(429, retry_after=300))

    with pytest.raises(TransientError, match="asked to wait 300s") as caught:
        call(server, session, sleep)

    assert caught.value.status_code == 429
    assert sleep.calls == []
    assert len(server.requests) == 1


def test_long_waits_keep_calling_on_wait(server, session, sleep):
    waits = []
    server.push(stubs.status(503, retry_after=25))

    call(server, session, sleep, on_wait=waits.append)

    # The watchdog is pinged at least every WAIT_SLICE_SECONDS during a long wait.
    assert sleep.calls == [10.0, 10.0, 5.0]
    assert waits == [25.0, 15.0, 5.0]


def test_timeouts_are_retried_then_give_up(server, session, sleep):
    hang_seconds = 3
    server.push(*[stubs.hang(hang_seconds)] * 4)
    policy = dataclasses.replace(POLICY, timeout_seconds=SHORT_TIMEOUT_SECONDS)
    started = time.monotonic()

    with pytest.raises(TransientError, match="timeout") as caught:
        call(server, session, sleep, policy=policy)

    assert len(server.requests) == 4
    assert "gave up after 4 attempt(s)" in str(caught.value)
    # Every request carried the timeout: waiting out the hangs would take 4 x 3 s.
    assert time.monotonic() - started < 2 * hang_seconds


@pytest.mark.parametrize(
    "failure", [stubs.reset, stubs.drop, stubs.cut_short], ids=["reset", "no-answer", "cut-short"]
)
def test_broken_connections_are_retried(server, session, sleep, failure):
    server.push(failure(), failure())

    assert call(server, session, sleep).status_code == 200
    assert len(server.requests) == 3


def test_connection_refused_is_transient(session, sleep):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    policy = RetryPolicy(max_attempts=2, timeout_seconds=0.2)

    with pytest.raises(TransientError, match="connection failed"):
        request(session, "GET", f"http://127.0.0.1:{port}/", policy=policy, what="x", sleep=sleep)
    assert len(sleep.calls) == 1


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_not_retried(server, session, sleep, code):
    server.push(stubs.status(code, message="you asked for the impossible"))

    with pytest.raises(PermanentError) as caught:
        call(server, session, sleep)

    assert len(server.requests) == 1
    assert sleep.calls == []
    assert caught.value.status_code == code
    assert str(caught.value) == f"test call: HTTP {code} (stub_error: you asked for the impossible)"


def test_bad_url_is_permanent(session, sleep):
    with pytest.raises(PermanentError, match="request not sent"):
        request(session, "GET", "ftp://example.invalid/", policy=POLICY, what="x", sleep=sleep)


def test_attempts_are_bounded(server, session, sleep):
    server.push(*[stubs.status(500)] * 10)

    with pytest.raises(TransientError, match=r"HTTP 500.*gave up after 4 attempt"):
        call(server, session, sleep)

    assert len(server.requests) == 4
    assert len(sleep.calls) == 3


def test_total_time_is_bounded(server, session):
    policy = RetryPolicy(
        max_attempts=100,
        max_total_seconds=0.7,
        timeout_seconds=0.2,
        base_delay_seconds=0.05,
        max_delay_seconds=0.1,
    )
    server.push(*[stubs.hang(3)] * 20)
    started = time.monotonic()

    with pytest.raises(TransientError):
        call(server, session, time.sleep, policy=policy)

    elapsed = time.monotonic() - started
    assert elapsed < 0.7 + 0.25
    assert 2 <= len(server.requests) < 100


def test_backoff_delays_differ_with_jitter_and_stay_under_the_cap():
    policy = RetryPolicy(base_delay_seconds=1.0, max_delay_seconds=30.0)
    values = [0.0, 0.25, 0.5, 0.999]

    for attempt in range(10):
        cap = min(30.0, 2.0**attempt)
        delays = [policy.backoff(attempt, lambda v=v: v) for v in values]
        assert len(set(delays)) == len(values)
        assert all(0 <= delay <= cap for delay in delays)
    assert policy.backoff(20, lambda: 0.999) <= 30.0


def test_request_uses_the_random_source_for_each_wait(server, session, sleep):
    server.push(stubs.status(500), stubs.status(500), stubs.status(500))
    draws = iter([0.1, 0.9, 0.3])

    call(server, session, sleep, rng=lambda: next(draws))

    assert sleep.calls == pytest.approx([0.1 * 1, 0.9 * 2, 0.3 * 4])


def test_messages_and_logs_never_carry_the_url_or_secrets(server, session, sleep, caplog):
    caplog.set_level(logging.DEBUG, logger=http.__name__)
    leaky = f"bad token {stubs.TELEGRAM_TOKEN} with key {stubs.LLM_API_KEY}"
    server.push(stubs.status(500, message=leaky), stubs.reset(), stubs.hang(3))
    failures = []
    path = f"/bot{stubs.TELEGRAM_TOKEN}/sendMessage?key={stubs.LLM_API_KEY}"
    headers = {"Authorization": f"Bearer {stubs.LLM_API_KEY}"}
    policy = RetryPolicy(max_attempts=3, timeout_seconds=0.2)
    with pytest.raises(TransientError) as caught:
        call(server, session, sleep, policy=policy, path=path, headers=headers)
    failures.append(caught.value)

    server.push(stubs.status(401, message=leaky))
    with pytest.raises(PermanentError) as caught:
        call(server, session, sleep, path=path, headers=headers, secrets=[stubs.TELEGRAM_TOKEN])
    failures.append(caught.value)

    assert "test call: attempt 1/3 failed" in caplog.text
    for text in [caplog.text, *("".join(traceback.format_exception(e)) for e in failures)]:
        assert stubs.TELEGRAM_TOKEN not in text
        assert stubs.LLM_API_KEY not in text
        assert server.url not in text
        assert "127.0.0.1" not in text


def test_retry_is_logged_with_attempt_status_and_delay(server, session, sleep, caplog):
    caplog.set_level(logging.WARNING, logger=http.__name__)
    server.push(stubs.status(503))

    call(server, session, sleep)

    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.attempt == 1
    assert record.status == 503
    assert record.delay == 0.5
    assert record.getMessage() == (
        "test call: attempt 1/4 failed (HTTP 503 (stub_error: stub answered 503)); "
        "retrying in 0.50s"
    )
