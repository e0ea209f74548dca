"""The systemd notify protocol (READY, WATCHDOG, STATUS, STOPPING) without a new dependency.

Outside systemd ($NOTIFY_SOCKET unset) every call does nothing, so the agent runs the same on a
laptop.
"""

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager

logger = logging.getLogger(__name__)

MAX_STATUS_CHARS = 200
# While one item runs, a keep-alive thread pings this many times per watchdog period.
KEEPALIVE_PINGS_PER_PERIOD = 4
# Past the item's limit, the time the item clock gets to unwind the item before the pings stop.
KEEPALIVE_GRACE_SECONDS = 10.0


class Notifier:
    """Send state changes to systemd, and watchdog pings at most twice per watchdog period."""

    def __init__(self):
        self.address = os.environ.get("NOTIFY_SOCKET", "")
        if self.address.startswith("@"):
            self.address = "\0" + self.address[1:]
        self.watchdog_seconds = watchdog_seconds()
        self.watchdog_interval = self.watchdog_seconds / 2 if self.watchdog_seconds else None
        self._last_ping = 0.0
        self._starved = threading.Event()  # set while a block runs past its keep-alive limit

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> None:
        if not self.address:
            return
        message = "\n".join(lines).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(message)
        except OSError as error:
            logger.warning("Cannot notify systemd: %s", error.strerror or error)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status[:MAX_STATUS_CHARS]}", f"MAINPID={os.getpid()}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status[:MAX_STATUS_CHARS]}")

    def watchdog(self, _seconds: float | None = None) -> None:
        """Tell systemd the agent is alive; cheap enough to call from any wait."""
        if self.watchdog_interval is None or self._starved.is_set():
            return
        now = time.monotonic()
        if now - self._last_ping >= min(self.watchdog_interval, 1.0):
            self._last_ping = now
            self.send("WATCHDOG=1")

    @contextmanager
    def keepalive(self, limit_seconds: float, grace_seconds: float = KEEPALIVE_GRACE_SECONDS):
        """Keep the watchdog fed while the block runs, for limit_seconds + grace_seconds at most.

        One slow step (a big PDF, a slow LLM answer) sends no ping of its own: a daemon thread
        pings every WATCHDOG_USEC/4 instead. Past the limit and the grace, the block is stuck
        where the item clock cannot reach (C code): the pings stop, every ping, the loop's too,
        and systemd kills and restarts the agent within WatchdogSec. Without a watchdog, nothing
        is started.
        """
        if self.watchdog_seconds is None or not self.address:
            yield
            return
        period = self.watchdog_seconds / KEEPALIVE_PINGS_PER_PERIOD
        deadline = time.monotonic() + limit_seconds + grace_seconds
        stop = threading.Event()

        def ping_until_stopped_or_past_the_deadline() -> None:
            while not stop.wait(min(period, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    self._starved.set()
                    logger.error(
                        "An item runs past its time limit (%gs + %gs grace) and cannot be "
                        "interrupted: watchdog pings stop, systemd will restart the agent",
                        limit_seconds,
                        grace_seconds,
                    )
                    return
                self._last_ping = time.monotonic()
                self.send("WATCHDOG=1")

        self._last_ping = time.monotonic()
        self.send("WATCHDOG=1")  # the block starts fed, however long ago the loop pinged
        thread = threading.Thread(
            target=ping_until_stopped_or_past_the_deadline, name="watchdog-keepalive", daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self._starved.clear()

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")


def watchdog_seconds() -> float | None:
    """The watchdog period systemd expects pings within, as sd_watchdog_enabled(3) reads it.

    None when there is no watchdog, or when it is meant for another process (WATCHDOG_PID).
    """
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", "") or 0)
        pid = int(os.environ.get("WATCHDOG_PID", "") or os.getpid())
    except ValueError:
        return None
    if usec <= 0 or pid != os.getpid():
        return None
    return usec / 1_000_000
