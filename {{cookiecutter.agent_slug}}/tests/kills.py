"""SIGKILL an agent process by state: what it holds decides when, never a sleep that hopes.

An item in hand at MAX_CRASHES deaths of the process is set aside as one that takes the process
down (a poison pill): kill tests about other things never strike while the agent holds an item
already interrupted MAX_CRASHES - 1 times.
"""

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from {{ cookiecutter.package_name }}.runtime.recovery import MAX_CRASHES

POLL_SECONDS = 0.005
SIDECAR = ".why.json"


def held(state: Path) -> list[str]:
    """Return the names in processing/ (hidden temp files left out)."""
    folder = state / "processing"
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def wait_for(condition, process: subprocess.Popen, seconds: float) -> bool:
    """Wait until condition() holds or the process exits; return whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return True
        time.sleep(POLL_SECONDS)
    return condition()


class Killer:
    """Kill an agent's processes, counting how often each item was in hand at a kill."""

    def __init__(self, state: Path, wait_seconds: float = 30):
        self.state = state
        self.wait_seconds = wait_seconds
        self.hits: Counter = Counter()

    def fresh(self, name: str) -> bool:
        return self.hits[name] < MAX_CRASHES - 1

    def holds_a_fresh_item(self) -> bool:
        names = held(self.state)
        return bool(names) and all(self.fresh(name) for name in names)

    def safe(self) -> bool:
        return all(self.fresh(name) for name in held(self.state))

    def kill(self, process: subprocess.Popen) -> list[str]:
        """SIGKILL process once it holds no worn item; return what it held when it died."""
        wait_for(self.safe, process, self.wait_seconds)
        process.send_signal(signal.SIGKILL)
        process.wait()
        names = held(self.state)
        self.hits.update(names)
        return names
