"""The systemd notify protocol (READY, WATCHDOG, STATUS, STOPPING) without a new dependency.

Outside systemd ($NOTIFY_SOCKET unset) every call does nothing, so the agent runs the same on a
laptop.
"""

import logging
import os
import socket
import time

logger = logging.getLogger(__name__)

MAX_STATUS_CHARS = 200


class Notifier:
    """Send state changes to systemd, and watchdog pings at most twice per watchdog period."""

    def __init__(self):
        self.address = os.environ.get("NOTIFY_SOCKET", "")
        if self.address.startswith("@"):
            self.address = "\0" + self.address[1:]
        watchdog_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        self.watchdog_interval = watchdog_usec / 1_000_000 / 2 if watchdog_usec else None
        self._last_ping = 0.0

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
        if self.watchdog_interval is None:
            return
        now = time.monotonic()
        if now - self._last_ping >= min(self.watchdog_interval, 1.0):
            self._last_ping = now
            self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")
