"""Stand-ins for agentctl's tests: a host tree with agents, fake systemd tools, a Telegram server.

The agent state trees are written the way a real agent writes them (docs/contract.md): heartbeat,
incoming/ failed/ review/ with .why.json sidecars, costs/YYYY-MM-DD.jsonl, audit.jsonl. systemctl,
journalctl and systemd-run are small scripts put first on PATH that answer from files the test
controls and record how they were called.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# agentctl's package, as the health role ships it, and the launcher the role renders.
AGENTCTL = REPO_ROOT / "roles" / "health" / "files" / "agentctl"
LAUNCHER_TEMPLATE = REPO_ROOT / "roles" / "health" / "templates" / "agentctl.j2"
BOT_TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl"
CHAT_ID = "-100777"

FAKE_SYSTEMCTL = """\
import json, sys
from pathlib import Path
fake = Path(__file__).resolve().parent
with (fake / "systemctl.calls").open("a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if not args or args[0] != "show":
    sys.exit("fake systemctl only knows show")
wanted = next(a.split("=", 1)[1].split(",") for a in args if a.startswith("--property="))
units = [a for a in args[1:] if not a.startswith("-")]
known = json.loads((fake / "units.json").read_text())
types = {"service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path",
         "slice", "scope"}
blocks = []
for unit in units:
    # As systemctl does, a name without a unit type is a service's.
    unit = unit if unit.rpartition(".")[2] in types else unit + ".service"
    props = {"Id": unit, "LoadState": "not-found", "ActiveState": "inactive", "SubState": "dead",
             "Result": "success", "NRestarts": "0", "ActiveEnterTimestampMonotonic": "0",
             "MemoryCurrent": "[not set]", "MemoryMax": "infinity", "MainPID": "0"}
    props.update(known.get(unit, {}))
    blocks.append("\\n".join(f"{key}={props[key]}" for key in wanted if key in props))
print("\\n\\n".join(blocks))
"""

FAKE_JOURNALCTL = """\
import json, sys
from pathlib import Path
fake = Path(__file__).resolve().parent
with (fake / "journalctl.calls").open("a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
unit = next(a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--unit="))
lines = int(next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--lines=")), "10"))
path = fake / "journal" / f"{unit}.txt"
if path.exists():
    print("\\n".join(path.read_text().splitlines()[-lines:]))
"""

FAKE_SYSTEMD_RUN = """\
import json, os, sys
from pathlib import Path
fake = Path(__file__).resolve().parent
with (fake / "systemd-run.calls").open("a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
while args and args[0].startswith("--"):
    args.pop(0)
os.execv(args[0], args)
"""

# The agent's own CLI: `review` echoes its arguments; agentctl runs nothing else of the agent.
FAKE_AGENT_CLI = """\
import sys
args = sys.argv[1:]
if args[:1] == ["review"]:
    print("agent review " + " ".join(args[1:]))
    sys.exit(3 if "fail" in args else 0)
sys.exit("fake agent: unknown command")
"""


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def write_script(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)


def install_agentctl(lib_dir: Path) -> Path:
    """Install agentctl the way the health role does; return the launcher's path.

    The package is copied with links followed (as ansible.builtin.copy does), so no bytecode is
    written into the repository, and the launcher is the role's template, rendered.
    """
    shutil.copytree(AGENTCTL, lib_dir / "agentctl", ignore=shutil.ignore_patterns("__pycache__"))
    launcher = lib_dir / "agentctl-launcher"
    text = LAUNCHER_TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("{{ ansible_managed }}", "Rendered for a test")
    text = text.replace("{{ __health_agentctl_lib_dir | to_json }}", json.dumps(str(lib_dir)))
    text = text.replace("{{ __health_agentctl_lib_dir }}", str(lib_dir))
    assert "{{" not in text, "the launcher template uses more than the tests render"
    launcher.write_text(text, encoding="utf-8")
    return launcher


def import_agentctl(module: str = "cli"):
    """Import a module of agentctl's package in this process, writing no bytecode beside it.

    Every module is imported at once: the commands a test runs in-process are imported on first
    use, and must not write bytecode into the repository either.
    """
    if str(AGENTCTL.parent) not in sys.path:
        sys.path.insert(0, str(AGENTCTL.parent))
    write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        # Through the link to the contract too (rglob does not follow it).
        modules = [
            Path(folder, name)
            for folder, _, names in os.walk(AGENTCTL, followlinks=True)
            for name in names
            if name.endswith(".py")
        ]
        for path in sorted(modules):
            parts = path.relative_to(AGENTCTL.parent).with_suffix("").parts
            if parts[-1] == "__main__":
                continue  # it runs agentctl
            importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        return importlib.import_module(f"agentctl.{module}")
    finally:
        sys.dont_write_bytecode = write_bytecode


class Host:
    """A host tree in a temporary folder, with agentctl's configuration pointing into it."""

    def __init__(self, root: Path, **settings):
        self.root = root
        self.fake = root / "fakebin"
        self.agents_dir = root / "srv" / "agents"
        self.state_root = root / "var" / "lib" / "agents"
        self.logs_root = root / "var" / "log" / "agents"
        self.config_root = root / "etc" / "agents"
        self.state_dir = root / "var" / "lib" / "agentctl"
        self.secret_file = self.config_root / "agentctl.secret"
        self.config_file = self.config_root / "agentctl.conf"
        self.backup_status_file = root / "var" / "lib" / "pillars-backup" / "status.json"
        for folder in (self.agents_dir, self.state_root, self.logs_root, self.config_root):
            folder.mkdir(parents=True, exist_ok=True)
        write_script(self.fake / "systemctl", FAKE_SYSTEMCTL)
        write_script(self.fake / "journalctl", FAKE_JOURNALCTL)
        write_script(self.fake / "systemd-run", FAKE_SYSTEMD_RUN)
        (self.fake / "journal").mkdir()
        self.units: dict[str, dict] = {}
        self.save_units()
        self.settings = {
            "sudo": False,
            "agents_dir": str(self.agents_dir),
            "state_root": str(self.state_root),
            "logs_root": str(self.logs_root),
            "config_root": str(self.config_root),
            "state_dir": str(self.state_dir),
            "audit_log": str(self.logs_root / "agentctl.log"),
            "secret_file": str(self.secret_file),
            "backup_status_file": str(self.backup_status_file),
            "telegram_chat_id": CHAT_ID,
            "telegram_timeout_seconds": 5,
            "telegram_max_wait_seconds": 10,
            # The test machine's own disk and memory are not under test.
            "disk_max_percent": 100,
            "memory_max_percent": 100,
            **settings,
        }
        self.write_config()
        self.launcher = install_agentctl(root / "usr" / "local" / "lib" / "agentctl")
        self.secret_file.write_text(BOT_TOKEN + "\n")
        self.secret_file.chmod(0o600)

    def write_config(self, **changes) -> None:
        self.settings.update(changes)
        self.config_file.write_text(json.dumps(self.settings, indent=2))

    def save_units(self) -> None:
        (self.fake / "units.json").write_text(json.dumps(self.units))

    def set_unit(self, slug: str, **properties) -> None:
        self.set_service(f"agent-{slug}.service", **properties)

    def set_service(self, unit: str, **properties) -> None:
        self.units.setdefault(unit, {}).update({key: str(v) for key, v in properties.items()})
        self.save_units()

    def calls(self, tool: str) -> list[list[str]]:
        path = self.fake / f"{tool}.calls"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def set_journal(self, unit: str, lines: list[str]) -> None:
        (self.fake / "journal" / f"{unit}.txt").write_text("\n".join(lines) + "\n")

    def alert_state(self) -> dict:
        return json.loads((self.state_dir / "alerts.json").read_text())

    def run(
        self, *args: str, python: str = sys.executable, python_flags: tuple[str, ...] = (), **kwargs
    ) -> subprocess.CompletedProcess:
        """Run the real agentctl against this host (python_flags go before the launcher)."""
        env = {
            **os.environ,
            "AGENTCTL_CONFIG": str(self.config_file),
            "PATH": f"{self.fake}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        return subprocess.run(
            [python, *python_flags, str(self.launcher), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
            **kwargs,
        )

    def add_agent(self, slug: str, *, env: dict | None = None, **kwargs) -> "FakeAgent":
        agent = FakeAgent(self, slug, **kwargs)
        env_file = self.config_root / slug / ".env"
        env_file.parent.mkdir(parents=True, exist_ok=True)
        values = env or {"LLM_PROVIDER": "fake", "DAILY_BUDGET_USD": "5"}
        env_file.write_text("".join(f"{key}='{value}'\n" for key, value in values.items()))
        env_file.chmod(0o600)
        self.set_unit(
            slug,
            LoadState="loaded",
            ActiveState="active",
            SubState="running",
            NRestarts=0,
            # Up for two minutes, in systemd's monotonic microseconds (since boot).
            ActiveEnterTimestampMonotonic=int((time.monotonic() - 120) * 1_000_000),
            MemoryCurrent=50 * 1024 * 1024,
            MemoryMax=256 * 1024 * 1024,
            MainPID=4242,
        )
        return agent


class FakeAgent:
    """One agent's release and state directory, written as the real agent writes them."""

    def __init__(self, host: Host, slug: str, budget: float = 5.0):
        self.host = host
        self.slug = slug
        self.unit = f"agent-{slug}.service"
        self.state = host.state_root / slug
        for folder in ("incoming", "processing", "done", "failed", "review", "outbox", "archive"):
            (self.state / folder).mkdir(parents=True, exist_ok=True)
        (self.state / "costs").mkdir()
        self.cli_dir = host.agents_dir / slug / "releases" / "0.1.0" / "venv" / "bin"
        write_script(self.cli_dir / slug, FAKE_AGENT_CLI)
        (host.agents_dir / slug / "current").symlink_to(
            host.agents_dir / slug / "releases" / "0.1.0"
        )
        self.budget = budget
        self.heartbeat()

    def heartbeat(self, age: timedelta = timedelta(seconds=3), **changes) -> None:
        beat = utc_now() - age
        data = {
            "agent": self.slug,
            "version": "0.1.0",
            "pid": 4242,
            "started": iso(beat - timedelta(hours=1)),
            "last_loop": iso(beat),
            "last_success": iso(beat - timedelta(minutes=5)),
            "last_llm_success": iso(beat - timedelta(minutes=5)),
            "counters": {"done": 3, "failed": 0, "review": 0, "duplicate": 0},
            "cost_today_usd": 0.0,
            "budget_usd": self.budget,
            "budget_reached": False,
            "unknown_price_models": [],
            "status": "idle",
            **changes,
        }
        (self.state / "heartbeat.json").write_text(json.dumps(data, indent=2))

    def drop(self, name: str, age: timedelta = timedelta(0), content: str = "text") -> Path:
        path = self.state / "incoming" / name
        path.write_text(content)
        stamp = (utc_now() - age).timestamp()
        os.utime(path, (stamp, stamp))
        return path

    def _place(self, folder: str, name: str, why: dict, age: timedelta) -> Path:
        path = self.state / folder / name
        path.write_text("document")
        placed = utc_now() - age
        sidecar = path.with_name(name + ".why.json")
        sidecar.write_text(json.dumps({"file": name, "time": iso(placed), **why}, indent=2))
        for item in (path, sidecar):
            os.utime(item, (placed.timestamp(), placed.timestamp()))
        return path

    def fail(self, name: str, reason: str, age: timedelta = timedelta(minutes=1)) -> Path:
        why = {"item_id": f"id-{name}", "error": reason, "attempts": 3}
        return self._place("failed", name, why, age)

    def park_for_review(self, name: str, age: timedelta = timedelta(minutes=1)) -> Path:
        why = {"item_id": f"id-{name}", "reason": "2 people fit; a human must choose"}
        return self._place("review", name, why, age)

    def costs(self, day: date, records: list[tuple[str, float | None]]) -> None:
        """Append one cost record per (model, cost) to the day's file."""
        lines = []
        for model, cost in records:
            lines.append(
                json.dumps(
                    {
                        "ts": f"{day.isoformat()}T12:00:00.000+00:00",
                        "agent": self.slug,
                        "gen_ai.system": "openai",
                        "gen_ai.request.model": model,
                        "gen_ai.usage.input_tokens": 100,
                        "gen_ai.usage.output_tokens": 20,
                        "cost_usd": cost,
                        "status": "ok",
                    }
                )
            )
        with (self.state / "costs" / f"{day.isoformat()}.jsonl").open("a") as handle:
            handle.write("".join(line + "\n" for line in lines))

    def audit(self, moment: datetime, action: str, **detail) -> None:
        entry = {
            "action": action,
            "detail": detail,
            "item": "x",
            "seq": 1,
            "ts": moment.isoformat(),
        }
        with (self.state / "audit.jsonl").open("a") as handle:
            handle.write(json.dumps(entry) + "\n")


class TelegramStandIn:
    """A Bot API stand-in on 127.0.0.1 that records messages and can answer 429 or be down."""

    def __init__(self):
        self.messages: list[dict] = []
        self.requests: list[tuple[float, str]] = []
        self.pings: list[str] = []
        self.scripted: list[tuple[int, dict]] = []  # answers to give before accepting again
        self.lock = threading.Lock()
        self.server = None
        self.port = 0
        self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                with stand_in.lock:
                    stand_in.pings.append(self.path)
                self._answer(200, {"ok": True})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stand_in.lock:
                    stand_in.requests.append((time.monotonic(), self.path))
                    if stand_in.scripted:
                        status, answer = stand_in.scripted.pop(0)
                        self._answer(status, answer)
                        return
                    if self.path != f"/bot{BOT_TOKEN}/sendMessage":
                        self._answer(404, {"ok": False, "description": "Not Found"})
                        return
                    stand_in.messages.append(body)
                self._answer(200, {"ok": True, "result": {"message_id": len(stand_in.messages)}})

            def _answer(self, status: int, answer: dict) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        # A short poll interval: stop() waits for it, once per test.
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        """Go down: the port refuses connections until start() again."""
        self.server.shutdown()
        self.server.server_close()

    def texts(self) -> list[str]:
        with self.lock:
            return [m["text"] for m in self.messages]

    def answer_429(self, retry_after: int) -> None:
        self.scripted.append(
            (
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests",
                    "parameters": {"retry_after": retry_after},
                },
            )
        )
