"""Fixtures shared by the agent's tests: a private agent home, a Telegram stand-in, fast retries."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import settings

import stubs
from {{ cookiecutter.package_name }}.agent import Agent
from {{ cookiecutter.package_name }}.contract.retry import RetryPolicy
from {{ cookiecutter.package_name }}.security.settings import load_settings

# No per-example deadline: a busy machine makes timings noisy, and speed is measured in benchmarks.
# On CI the property tests are also reproducible (a fixed seed); on a laptop they explore.
settings.register_profile("busy", deadline=None)
settings.register_profile("ci", parent=settings.get_profile("busy"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "busy")

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.package_name }}"
SAMPLES = PROJECT / "samples"
SIDECAR = ".why.json"
SETTLED_AGE_SECONDS = 10


class AgentHome:
    """A folder holding one agent's .env and state directory, as on a laptop."""

    def __init__(self, root: Path):
        self.root = root
        self.state = root / "var"
        self.env_file = root / ".env"
        self.env = {
            "LLM_PROVIDER": "fake",
            "LLM_MODEL": "fake-extractor-1",
            "PEOPLE_CSV": str(SAMPLES / "people.csv"),
            "DAILY_BUDGET_USD": "5",
            "POLL_INTERVAL_SECONDS": "0.2",
            "MAX_ATTEMPTS": "3",
        }
        self.write_env()

    def write_env(self, **changes: str) -> None:
        self.env.update(changes)
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))
        self.env_file.chmod(0o600)

    def settings(self):
        return load_settings(str(self.env_file), str(self.state))

    def agent(self) -> Agent:
        agent = Agent(self.settings())
        agent.start()
        return agent

    def drop(self, name: str, content: bytes | str, age: float = SETTLED_AGE_SECONDS) -> Path:
        """Put a document into incoming/ as if it had finished uploading age seconds ago."""
        incoming = self.state / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        path = incoming / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        past = time.time() - age
        os.utime(path, (past, past), follow_symlinks=False)
        return path

    def drop_samples(self, age: float = SETTLED_AGE_SECONDS) -> None:
        for sample in sorted((SAMPLES / "incoming").iterdir()):
            self.drop(sample.name, sample.read_bytes(), age)

    def files(self, folder: str) -> list[str]:
        """Names in a state folder, without the .why.json sidecars."""
        path = self.state / folder
        if not path.exists():
            return []
        return sorted(p.name for p in path.iterdir() if not p.name.endswith(SIDECAR))

    def command(self, *args: str, state_dir: Path | None = None) -> list[str]:
        return [
            sys.executable,
            "-m",
            PACKAGE,
            "--env-file",
            str(self.env_file),
            "--state-dir",
            str(state_dir or self.state),
            *args,
        ]

    def process_env(self, **extra: str) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "CREDENTIALS_DIRECTORY")
        }
        env["PYTHONPATH"] = str(PROJECT / "src")
        env.update(extra)
        return env

    def cli(
        self, *args: str, timeout: float = 60, state_dir: Path | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(*args, state_dir=state_dir),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.process_env(),
            check=False,
        )

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(*args),
            cwd=self.root,
            env=self.process_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def home(tmp_path) -> AgentHome:
    return AgentHome(tmp_path)


# Short enough that a whole retry sequence against a hanging server stays under a second.
FAST_POLICY = RetryPolicy(
    max_attempts=3,
    max_total_seconds=5.0,
    timeout_seconds=0.2,
    base_delay_seconds=0.01,
    max_delay_seconds=0.05,
)


@pytest.fixture
def fast_policy() -> RetryPolicy:
    return FAST_POLICY


@pytest.fixture
def telegram_stub():
    with stubs.TelegramStub() as stub:
        yield stub


@pytest.fixture
def recording_sleep() -> stubs.RecordingSleep:
    return stubs.RecordingSleep()
