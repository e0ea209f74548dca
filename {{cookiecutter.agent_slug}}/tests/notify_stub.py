"""A stand-in for systemd's notify socket, and a watchdog measurement during one slow item.

The socket is a real AF_UNIX datagram socket, as systemd's is. Each message is recorded with the
time the kernel queued it (SO_TIMESTAMPNS), so gaps between watchdog pings are measured as the
agent sent them, even when the test process reads late on a busy machine.
"""

import itertools
import signal
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux
TIMESPEC = struct.Struct("qq")
SLOW_DOCUMENT = "Patient: Jane Doe\nDate of birth: 1980-02-03\nFAKE-LLM: sleep {seconds:g}\n"


class NotifySocket:
    """The socket NOTIFY_SOCKET names; `messages` holds (kernel arrival time, line) pairs."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.messages: list[tuple[float, str]] = []

    def receive(self, timeout: float) -> list[str]:
        """Wait up to timeout for one datagram; return its lines ([] when none came)."""
        self.sock.settimeout(timeout)
        try:
            data, ancillary, _flags, _address = self.sock.recvmsg(4096, socket.CMSG_SPACE(16))
        except (TimeoutError, BlockingIOError):
            return []
        arrived = time.time()
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = TIMESPEC.unpack(payload[: TIMESPEC.size])
                arrived = seconds + nanoseconds / 1e9
        lines = data.decode().splitlines()
        self.messages += [(arrived, line) for line in lines]
        return lines

    def drain(self) -> None:
        """Record every datagram already queued."""
        while self.receive(0.0):
            pass

    def times(self, line: str) -> list[float]:
        return [moment for moment, text in self.messages if text == line]

    def close(self) -> None:
        self.sock.close()


@dataclass
class SlowItemRun:
    """What the watchdog saw while one slow item ran (times in seconds since the epoch)."""

    started: float  # first seen in processing/
    finished: float  # first seen in done/ (or the folder it ends in)
    pings: list[float] = field(default_factory=list)  # WATCHDOG=1 arrivals in between

    @property
    def gaps(self) -> list[float]:
        moments = [self.started, *self.pings, self.finished]
        return [later - earlier for earlier, later in itertools.pairwise(moments)]

    @property
    def largest_gap(self) -> float:
        return max(self.gaps)


def watch_a_slow_item(
    home,
    notify: NotifySocket,
    sleep_seconds: float,
    watchdog_usec: int,
    ends_in: str = "done",
    wait_seconds: float = 60,
) -> SlowItemRun:
    """Run the real `run` command on one document that holds the fake LLM for sleep_seconds.

    Arranged by state: the item's start and end are when it is seen in processing/ and in the
    folder it ends in.
    """
    home.drop("slow.txt", SLOW_DOCUMENT.format(seconds=sleep_seconds))
    process = home.start("run", NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC=str(watchdog_usec))
    started = finished = None
    deadline = time.monotonic() + wait_seconds
    try:
        while finished is None and time.monotonic() < deadline:
            notify.receive(0.05)
            if started is None and home.files("processing") == ["slow.txt"]:
                started = time.time()
            if started is not None and home.files(ends_in) == ["slow.txt"]:
                finished = time.time()
        notify.drain()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=wait_seconds) == 0, process.stderr.read()
    finally:
        process.kill()
        process.wait()
    assert started is not None and finished is not None, home.files("incoming")
    pings = [t for t in notify.times("WATCHDOG=1") if started <= t <= finished]
    return SlowItemRun(started, finished, pings)
