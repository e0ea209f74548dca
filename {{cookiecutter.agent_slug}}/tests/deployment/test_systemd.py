"""The systemd notify protocol over a real datagram socket, a clean stop on SIGTERM, and the
watchdog kept fed during one slow item, up to the item's limit."""

import os
import signal
import socket
import threading
import time

import pytest

import notify_stub
from {{ cookiecutter.package_name }}.deployment.systemd import Notifier

JANE = "Patient: Jane Doe\nDate of birth: 1980-02-03\n"
WAIT_SECONDS = 20


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.5)
    yield path, sock
    sock.close()


def messages_until(sock, wanted: str, seconds: float = WAIT_SECONDS) -> list[str]:
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            seen += sock.recv(4096).decode().splitlines()
        except TimeoutError:
            continue
        if wanted in seen:
            return seen
    raise AssertionError(f"{wanted} not received; got {seen}")


def test_ready_watchdog_status_and_stopping_reach_systemd(home, notify_socket):
    path, sock = notify_socket
    process = home.start("run", NOTIFY_SOCKET=str(path), WATCHDOG_USEC="2000000")
    try:
        seen = messages_until(sock, "READY=1")
        assert any(line.startswith("STATUS=") for line in seen)
        messages_until(sock, "WATCHDOG=1")
        messages_until(sock, "WATCHDOG=1")
        process.send_signal(signal.SIGTERM)
        messages_until(sock, "STOPPING=1")
        assert process.wait(timeout=WAIT_SECONDS) == 0
    finally:
        process.kill()
        process.wait()


def test_sigterm_during_an_item_finishes_it_then_exits_zero(home, notify_socket):
    path, sock = notify_socket
    home.drop("slow.txt", JANE + "FAKE-LLM: sleep 2\n")
    process = home.start("run", NOTIFY_SOCKET=str(path))
    try:
        messages_until(sock, "READY=1")
        deadline = time.monotonic() + WAIT_SECONDS
        while not home.files("processing") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert home.files("processing") == ["slow.txt"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_SECONDS) == 0
    finally:
        process.kill()
        process.wait()
    assert home.files("done") == ["slow.txt"]
    assert home.files("processing") == []


# The watchdog keep-alive during one item ------------------------------------------------------

SLOW_ITEM_SECONDS = 6
WATCHDOG_USEC = 4_000_000  # pings wanted within 2 s; the keep-alive sends one every second


@pytest.fixture
def notify(tmp_path):
    stand_in = notify_stub.NotifySocket(tmp_path / "watchdog.sock")
    yield stand_in
    stand_in.close()


@pytest.fixture
def watchdog_env(monkeypatch, notify):
    """Set the environment systemd gives a unit with WatchdogSec; return a setter of the period."""

    def set_period(usec: int) -> None:
        monkeypatch.setenv("NOTIFY_SOCKET", str(notify.path))
        monkeypatch.setenv("WATCHDOG_USEC", str(usec))
        monkeypatch.delenv("WATCHDOG_PID", raising=False)

    return set_period


def keepalive_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "watchdog-keepalive"]


def test_watchdog_is_fed_during_a_slow_item(home, notify):
    """One item holds the LLM for 6 s, much longer than the 2 s the watchdog wants pings within."""
    run = notify_stub.watch_a_slow_item(home, notify, SLOW_ITEM_SECONDS, WATCHDOG_USEC)

    assert run.finished - run.started >= SLOW_ITEM_SECONDS
    assert run.largest_gap < WATCHDOG_USEC / 1e6 / 2, run.gaps
    assert len(run.pings) >= SLOW_ITEM_SECONDS - 1


def test_keepalive_stops_pinging_once_the_block_runs_past_its_limit(watchdog_env, notify):
    """A block stuck past its limit (+ grace) starves the watchdog, so systemd restarts the agent;
    the loop's own pings are held back too until the block ends."""
    watchdog_env(400_000)  # a ping every 0.1 s while within the limit
    notifier = Notifier()
    limit = 0.3
    with notifier.keepalive(limit, grace_seconds=0):
        entered = time.time()
        while notify.receive(1.0):  # until one second passes without a ping, the block still open
            pass
        notifier.watchdog()  # what the loop or an HTTP wait would send
        assert notify.receive(0.5) == []
        assert keepalive_threads() == []  # it ended itself at the deadline
    pings = notify.times("WATCHDOG=1")
    assert len(pings) >= 2  # on entry, then every 0.1 s
    assert max(pings) <= entered + limit + 0.2  # none past the deadline (bar scheduling)

    notifier.watchdog()  # the block is over: the loop's pings flow again
    assert notify.receive(5.0) == ["WATCHDOG=1"]


def test_the_keepalive_thread_ends_with_its_block(watchdog_env, notify):
    watchdog_env(60_000_000)  # a ping every 15 s: the thread is waiting when the block ends
    notifier = Notifier()

    with pytest.raises(ZeroDivisionError), notifier.keepalive(300):
        assert len(keepalive_threads()) == 1
        exiting = time.monotonic()
        1 / 0  # noqa: B018 (the block fails: the thread must end all the same)

    assert time.monotonic() - exiting < 2.0
    assert keepalive_threads() == []
    assert notify.receive(0.1) == ["WATCHDOG=1"]  # the one sent on entry


@pytest.mark.parametrize(
    "env",
    [{}, {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, {"WATCHDOG_USEC": "0"}],
    ids=["no-watchdog", "watchdog-of-another-process", "zero"],
)
def test_keepalive_costs_nothing_without_a_watchdog_for_this_process(monkeypatch, notify, env):
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify.path))
    for key in ("WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    notifier = Notifier()

    with notifier.keepalive(300):
        assert keepalive_threads() == []
    notifier.watchdog()

    assert notify.receive(0.2) == []


def test_a_stop_signal_during_the_loops_wait_ends_it(home):
    # SIGTERM lands while the loop waits: the handler must not take a lock the wait holds (a
    # threading.Event would deadlock when the signal strikes between two of its steps).
    agent = home.agent()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    agent.install_signal_handlers()
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    try:
        timer.start()
        assert agent.stop_requested.wait(WAIT_SECONDS) is True
    finally:
        timer.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        agent.close()
