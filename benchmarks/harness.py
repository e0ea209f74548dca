"""What every benchmark shares: repeated measurements, their summary, child processes, systemd's
notify socket and the resident memory of a process."""

import logging
import os
import select
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 15
COMMAND_TIMEOUT_SECONDS = 600
LOG_TAIL_CHARS = 2000
KIB = 1024
MIB = 1024 * 1024


class BenchmarkError(Exception):
    """A measurement could not be made; the message says what failed and where to look."""


@dataclass
class Series:
    """Repeated measurements of one quantity, in one unit."""

    unit: str
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def text(self) -> str:
        """Return "median unit (min..max)", or the single value when there is one."""
        median = format_number(self.median)
        if len(self.values) == 1:
            return f"{median} {self.unit} (1 run)"
        low, high = format_number(min(self.values)), format_number(max(self.values))
        return f"{median} {self.unit} ({low}..{high})"


def format_number(value: float) -> str:
    """Return value with three significant digits (no exponent below a million)."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def repeat(times: int, measure: Callable[[], float], series: Series) -> Series:
    """Fill series with `times` results of measure()."""
    for _ in range(times):
        series.add(measure())
    return series


def clean_environment(**extra: str) -> dict[str, str]:
    """Return a minimal environment: nothing of the caller's Python or systemd settings leaks in."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/"),
        "TZ": "UTC",
    }
    env.update(extra)
    return env


def run_command(
    argv: list[str], *, env: dict[str, str], cwd: Path | None = None, what: str
) -> tuple[float, str]:
    """Run argv to completion; return (wall seconds from spawn to exit, stdout)."""
    started = time.perf_counter()
    result = subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchmarkError(
            f"{what} exited {result.returncode}: {result.stderr.strip()[-LOG_TAIL_CHARS:]}"
        )
    return elapsed, result.stdout


def rss_bytes(pid: int) -> int:
    """Return the resident set size of a process (VmRSS of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * KIB
    raise BenchmarkError(f"no VmRSS in /proc/{pid}/status (a kernel thread or a zombie?)")


def log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    except OSError:
        return ""


class NotifySocket:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET, to see READY=1 arrive."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)

    def wait_ready(self, process: subprocess.Popen, log: Path) -> float:
        """Return perf_counter() at the moment READY=1 arrives; raise if the process dies first."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.sock], [], [], 0.05)
            if readable:
                message = self.sock.recv(4096)
                received = time.perf_counter()
                if b"READY=1" in message.split(b"\n"):
                    return received
                continue
            if process.poll() is not None:
                raise BenchmarkError(
                    f"{process.args[0]} exited {process.returncode} before READY=1; "
                    f"its output ends with:\n{log_tail(log)}"
                )
        raise BenchmarkError(
            f"no READY=1 from {process.args[0]} within {READY_TIMEOUT_SECONDS}s; "
            f"its output ends with:\n{log_tail(log)}"
        )


def spawn(argv: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    """Start a long-running process with its output going to log."""
    with log.open("ab") as output:
        return subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=output, stderr=output
        )


def stop(process: subprocess.Popen, log: Path) -> None:
    """SIGTERM the process as systemd would; it must exit 0 within the stop timeout."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise BenchmarkError(
            f"{process.args[0]} did not stop within {STOP_TIMEOUT_SECONDS}s of SIGTERM; "
            f"its output ends with:\n{log_tail(log)}"
        ) from None
    # A Python child that never installed a SIGTERM handler (the baselines) dies of the signal.
    if process.returncode not in (0, -signal.SIGTERM):
        raise BenchmarkError(
            f"{process.args[0]} exited {process.returncode} on SIGTERM; "
            f"its output ends with:\n{log_tail(log)}"
        )
