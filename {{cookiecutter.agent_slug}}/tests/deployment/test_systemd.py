"""The systemd notify protocol over a real datagram socket, and a clean stop on SIGTERM."""

import signal
import socket
import time

import pytest

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
