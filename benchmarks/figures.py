"""The figures of the benchmark table that run on this machine, each against its baseline.

Every figure is measured with the baked agent's own interpreter and installed code, and its
baseline runs in the same run, on the same interpreter and file system, interleaved with it.
"""

import grp
import json
import logging
import multiprocessing
import os
import random
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent_setup import REPO_ROOT, BakedAgent
from harness import (
    MIB,
    BenchmarkError,
    NotifySocket,
    Series,
    clean_environment,
    format_number,
    log_tail,
    rss_bytes,
    run_command,
    spawn,
    stop,
)

logger = logging.getLogger(__name__)

BENCHMARKS_DIR = Path(__file__).resolve().parent
# agentctl's package as the health role ships it, and the launcher the role renders for it.
AGENTCTL = REPO_ROOT / "roles" / "health" / "files" / "agentctl"
AGENTCTL_LAUNCHER = REPO_ROOT / "roles" / "health" / "templates" / "agentctl.j2"
# What the agent unit sets (roles/agent: WatchdogSec=120): the agent pings while it idles.
WATCHDOG_USEC = "120000000"
# Longer than one poll interval (5 s by default), so a full idle loop has run before RSS is read.
IDLE_SECONDS = 6.0
# Older than the inbox's settle time, so every document is picked up at once.
SETTLED_AGE_SECONDS = 60
READY_LINE = "ready"
# The goals (docs/benchmarks.md states each with its baseline).
IDLE_RSS_GOAL = 1.20
START_GOAL = 1.3
THROUGHPUT_GOAL = 0.25
COSTS_STARTUP_GOAL = 2.0
START_SAMPLES_PER_REP = 4
DUMMY_API_KEY = "bench-dummy-api-key"
# Nothing listens there; an idle agent never calls its provider anyway.
DUMMY_BASE_URL = "http://127.0.0.1:9"
PROVIDER_SETTINGS = {
    "fake": {"LLM_PROVIDER": "fake", "LLM_MODEL": "fake-extractor-1"},
    "anthropic": {
        "LLM_PROVIDER": "anthropic",
        "LLM_MODEL": "claude-sonnet-4-5",
        "LLM_API_KEY": DUMMY_API_KEY,
        "LLM_BASE_URL": DUMMY_BASE_URL,
    },
    "openai": {
        "LLM_PROVIDER": "openai",
        "LLM_MODEL": "gpt-4o-mini",
        "LLM_API_KEY": DUMMY_API_KEY,
        "LLM_BASE_URL": DUMMY_BASE_URL,
    },
}
DEFAULT_PROVIDER = "fake"

FLOOR_CODE = (
    "import requests, sys, time; sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(3600)"
)
BARE_CODE = "import sys, time; sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(3600)"
IMPORT_REQUESTS_CODE = "import requests"
# The least a crash-safe pipeline does per file: claim it (rename into processing/) and finish it
# (rename into done/), each rename made durable by fsyncing both directories.
RENAME_LOOP_CODE = """
import os, sys
root = sys.argv[1]
def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
incoming, processing, done = (os.path.join(root, d) for d in ("incoming", "processing", "done"))
for name in sorted(os.listdir(incoming)):
    os.rename(os.path.join(incoming, name), os.path.join(processing, name))
    fsync_dir(processing); fsync_dir(incoming)
    os.rename(os.path.join(processing, name), os.path.join(done, name))
    fsync_dir(done); fsync_dir(processing)
"""
# The syncs done items make (docs/reliability.md, "What a power cut may lose"), with nothing else:
# a batch of up to 32 items (agent.py's BATCH_ITEMS) decided back to back shares 3 sync points, each
# item adding its archived original's and its result's fsyncs; the syncs of a point are issued
# together from 4 threads as the agent's sync_together does. What this code reaches against the
# loop is the most that any code keeping that durability could reach on the machine.
SYNC_FLOOR_CODE = """
import os, sys
from concurrent.futures import ThreadPoolExecutor
BATCH = 32
root = sys.argv[1]
folder = {d: os.path.join(root, d) for d in ("incoming", "processing", "done", "archive", "outbox")}
flags = os.O_RDWR | os.O_CREAT | os.O_APPEND
logs = [os.open(os.path.join(root, name), flags) for name in ("audit", "costs", "wal")]
pool = ThreadPoolExecutor(4)
def fsync(path):
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
def together(*syncs):
    others = [pool.submit(sync) for sync in syncs[1:]]
    syncs[0]()
    for other in others:
        other.result()
def created(folder_name, name, size):
    path = os.path.join(folder[folder_name], "." + name)
    with open(path, "wb") as handle:
        handle.write(b"x" * size)
    return path
names = sorted(os.listdir(folder["incoming"]))
for start in range(0, len(names), BATCH):
    batch, archived = names[start : start + BATCH], []
    for name in batch:
        claimed = os.path.join(folder["processing"], name)
        os.rename(os.path.join(folder["incoming"], name), claimed)
        for log in logs:
            os.write(log, b"y" * 300)
        archived.append(created("archive", name, os.path.getsize(claimed)))
    together(
        *(lambda log=log: os.fdatasync(log) for log in logs),
        *(lambda path=path: fsync(path) for path in archived),
    )
    results = []
    for name, path in zip(batch, archived):
        os.rename(path, os.path.join(folder["archive"], name))
        os.rename(os.path.join(folder["processing"], name), os.path.join(folder["done"], name))
        os.write(logs[0], b"y" * 600)
        results.append(created("outbox", name, 1000))
    together(
        lambda: os.fdatasync(logs[0]),
        *(lambda path=path: fsync(path) for path in results),
        *(lambda d=d: fsync(folder[d]) for d in ("done", "processing", "incoming", "archive")),
    )
    for name, path in zip(batch, results):
        os.rename(path, os.path.join(folder["outbox"], name))
        os.write(logs[0], b"y" * 300)
    together(lambda: os.fdatasync(logs[0]), lambda: fsync(folder["outbox"]))
"""
# A cost report without per-day files: read every record ever written and keep the wanted days.
FULL_SCAN_CODE = """
import json, sys
since, calls, total = sys.argv[2], 0, 0.0
with open(sys.argv[1], encoding="utf-8") as handle:
    for line in handle:
        record = json.loads(line)
        if record["ts"][:10] >= since:
            calls += 1
            total += record["cost_usd"] or 0.0
print(json.dumps({"calls": calls, "cost_usd": round(total, 6)}))
"""

COST_MODELS = (("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o-mini"))
# Their prices in USD per million tokens, as the agent's genai-prices snapshot lists them (the
# records only need to look like the agent's: the reports are timed, not priced).
COST_PRICES = {
    "claude-sonnet-4-5": {"input": 3.0, "output": 15.0, "cache_read": 0.3},
    "gpt-4o-mini": {"input": 0.15, "output": 0.6, "cache_read": 0.075},
}
COST_ERROR_RATE = 0.02
SECONDS_PER_DAY = 86_400
IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")
IMPORT_TOP = 10
# What the agent must load only when needed (a PDF arrives, that provider or Telegram is chosen).
LAZY_MODULES = (
    "integrations.llm.anthropic",
    "integrations.llm.openai_compat",
    "integrations.telegram",
)
OVERHEAD_APPENDS = 200


@dataclass
class Row:
    """One line of the result table: a figure, its baseline, the ratio and the verdict."""

    figure: str
    baseline_name: str
    goal: str
    measured: Series | None = None
    baseline: Series | None = None
    ratio: float | None = None
    ratio_text: str = ""
    passed: bool | None = None
    note: str = ""

    @classmethod
    def not_measured(cls, figure: str, baseline_name: str, goal: str, why: str) -> "Row":
        return cls(figure, baseline_name, goal, note=f"not measured: {why}")


@dataclass
class Bench:
    """The baked agent, a scratch directory on the file system being measured, and the reps."""

    agent: BakedAgent
    work: Path
    reps: int
    _serial: int = 0
    extras: dict = field(default_factory=dict)

    def scratch(self, prefix: str) -> Path:
        """Return a new empty directory under work."""
        self._serial += 1
        path = self.work / f"{prefix}-{self._serial}"
        path.mkdir(parents=True)
        return path

    def env_file(self, **settings: str) -> Path:
        return self.agent.env_file(self.scratch("env") / ".env", **settings)

    def agent_argv(self, env_file: Path, state_dir: Path, *command: str) -> list[str]:
        return [
            str(self.agent.command),
            "--env-file",
            str(env_file),
            "--state-dir",
            str(state_dir),
            *command,
        ]


# 1. Idle memory ---------------------------------------------------------------------------------


class IdleAgent:
    """`<slug> run` with nothing to do, started under a stand-in notify socket."""

    def __init__(self, bench: Bench, provider: str):
        directory = bench.scratch(f"idle-{provider}")
        self.log = directory / "output.log"
        self.notify = NotifySocket(directory / "notify.sock")
        env_file = bench.env_file(**PROVIDER_SETTINGS[provider])
        self.process = spawn(
            bench.agent_argv(env_file, directory / "state", "run"),
            env=clean_environment(NOTIFY_SOCKET=str(self.notify.path), WATCHDOG_USEC=WATCHDOG_USEC),
            cwd=bench.agent.project,
            log=self.log,
        )

    def wait_ready(self) -> None:
        self.notify.wait_ready(self.process, self.log)

    def stop(self) -> None:
        try:
            stop(self.process, self.log)
        finally:
            self.notify.close()


class SleepingPython:
    """A baseline process: runs code that prints "ready" once set up, then sleeps."""

    def __init__(self, bench: Bench, code: str):
        self.process = subprocess.Popen(
            [str(bench.agent.python), "-c", code],
            env=clean_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self) -> None:
        line = self.process.stdout.readline().strip()
        if line != READY_LINE:
            self.process.kill()
            raise BenchmarkError(f"baseline process printed {line!r} instead of {READY_LINE!r}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()
        self.process.stdout.close()


def idle_memory(bench: Bench) -> Row:
    """Figure 1: resident memory of an idle agent, per provider, vs the requests floor and bare
    Python. All five processes of a repetition idle side by side for the same time."""
    agents = {name: Series("MiB") for name in PROVIDER_SETTINGS}
    floor, bare = Series("MiB"), Series("MiB")
    for rep in range(bench.reps):
        logger.info("Idle memory, repetition %d of %d", rep + 1, bench.reps)
        started = {name: IdleAgent(bench, name) for name in PROVIDER_SETTINGS}
        baselines = {
            "floor": SleepingPython(bench, FLOOR_CODE),
            "bare": SleepingPython(bench, BARE_CODE),
        }
        processes = [*started.values(), *baselines.values()]
        try:
            for process in processes:
                process.wait_ready()
            time.sleep(IDLE_SECONDS)
            for name, agent in started.items():
                if agent.process.poll() is not None:
                    raise BenchmarkError(
                        f"the idle {name} agent exited {agent.process.returncode}:\n"
                        f"{log_tail(agent.log)}"
                    )
                agents[name].add(rss_bytes(agent.process.pid) / MIB)
            floor.add(rss_bytes(baselines["floor"].process.pid) / MIB)
            bare.add(rss_bytes(baselines["bare"].process.pid) / MIB)
        finally:
            for process in processes:
                process.stop()
    bench.extras["providers"] = agents
    bench.extras["bare_rss"] = bare
    bench.extras["floor_rss"] = floor
    measured = agents[DEFAULT_PROVIDER]
    ratio = measured.median / floor.median
    return Row(
        figure="Idle RSS of a running agent (`run`, nothing to do)",
        baseline_name="a process that imports requests and sleeps",
        goal=f"≤ {IDLE_RSS_GOAL:.2f}× the floor",
        measured=measured,
        baseline=floor,
        ratio=ratio,
        ratio_text=f"{ratio:.2f}× the floor; {measured.median / bare.median:.2f}× bare Python "
        f"({bare.text()})",
        passed=ratio <= IDLE_RSS_GOAL,
    )


# 2. Start-up ------------------------------------------------------------------------------------


def start_to_ready(bench: Bench) -> Row:
    """Figure 2: spawn to READY=1 on the notify socket vs `python -c 'import requests'`."""
    directory = bench.scratch("start")
    env_file = bench.env_file(**PROVIDER_SETTINGS[DEFAULT_PROVIDER])
    # One state directory for every start, as on a server: a restart opens the existing database.
    argv = bench.agent_argv(env_file, directory / "state", "run")
    baseline_argv = [str(bench.agent.python), "-c", IMPORT_REQUESTS_CODE]
    log = directory / "output.log"

    def one_start() -> float:
        notify = NotifySocket(directory / "notify.sock")
        try:
            started = time.perf_counter()
            process = spawn(
                argv,
                env=clean_environment(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC=WATCHDOG_USEC),
                cwd=bench.agent.project,
                log=log,
            )
            try:
                ready = notify.wait_ready(process, log)
            finally:
                stop(process, log)
            return ready - started
        finally:
            notify.close()

    def one_import() -> float:
        elapsed, _ = run_command(baseline_argv, env=clean_environment(), what="import requests")
        return elapsed

    one_start(), one_import()  # warm the page cache and create the state directory
    measured, baseline = Series("ms"), Series("ms")
    # A start takes a tenth of a second and a busy machine makes single ones noisy: take more.
    starts = bench.reps * START_SAMPLES_PER_REP
    for rep in range(starts):
        logger.info("Start to READY=1, sample %d of %d", rep + 1, starts)
        measured.add(one_start() * 1000)
        baseline.add(one_import() * 1000)
    ratio = measured.median / baseline.median
    return Row(
        figure="Start to READY=1 (import + config + db open)",
        baseline_name="a process that only does `import requests`",
        goal=f"≤ {START_GOAL}× the baseline",
        measured=measured,
        baseline=baseline,
        ratio=ratio,
        ratio_text=f"{ratio:.2f}× the baseline",
        passed=ratio <= START_GOAL,
    )


# 3. Throughput ----------------------------------------------------------------------------------

SYLLABLES = ("ba", "ce", "di", "fo", "gu", "ha", "ke", "li", "mo", "nu", "pa", "ri", "so", "tu")


def person_name(number: int) -> tuple[str, str]:
    """Return a unique (last, first) name made of letters only, as name matching expects."""
    parts = []
    for _ in range(3):
        number, index = divmod(number, len(SYLLABLES))
        parts.append(SYLLABLES[index])
    last = "".join(parts).capitalize()
    return last, f"Firstname{last.lower()}"


def write_people(path: Path, count: int) -> None:
    lines = ["id,last_name,first_name,birth_date"]
    for number in range(count):
        last, first = person_name(number)
        lines.append(
            f"{number + 1},{last},{first},19{50 + number % 50}-0{1 + number % 9}-1{number % 10}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_documents(directory: Path, count: int) -> None:
    """Write count small text documents, each naming one person of write_people exactly."""
    settled = time.time() - SETTLED_AGE_SECONDS
    for number in range(count):
        last, first = person_name(number)
        path = directory / f"letter-{number:05d}.txt"
        path.write_text(
            f"Dr. A. Smith, General Practice\n\nPatient: {first} {last}\n"
            f"Date of birth: 1{number % 10}/0{1 + number % 9}/19{50 + number % 50}\n"
            "Document type: referral\n"
            f"Summary: Referral number {number} for a routine check.\n\n"
            "Dear colleague, I would be grateful if you could see this patient.\n",
            encoding="utf-8",
        )
        os.utime(path, (settled, settled))


def visible(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if not p.name.startswith(".")]


def _timed_once(bench: Bench, env_file: Path, documents: int) -> tuple[float, Path]:
    """Run `once` over a fresh state directory holding `documents` settled documents."""
    state = bench.scratch("pipeline") / "state"
    (state / "incoming").mkdir(parents=True)
    write_documents(state / "incoming", documents)
    elapsed, _ = run_command(
        bench.agent_argv(env_file, state, "once"),
        env=clean_environment(),
        cwd=bench.agent.project,
        what=f"{bench.agent.slug} once",
    )
    done = [p for p in visible(state / "done") if not p.name.endswith(".json")]
    if len(done) != documents or len(visible(state / "outbox")) != documents:
        raise BenchmarkError(
            f"{bench.agent.slug} once finished {len(done)} of {documents} documents "
            f"(review: {len(visible(state / 'review'))}, "
            f"failed: {len(visible(state / 'failed'))}); "
            f"see {state}"
        )
    return elapsed, state


def _timed_loop(
    bench: Bench, documents: int, code: str = RENAME_LOOP_CODE, what: str = "the rename+fsync loop"
) -> float:
    loop = bench.scratch("loop")
    for folder in ("incoming", "processing", "done", "archive", "outbox"):
        (loop / folder).mkdir()
    write_documents(loop / "incoming", documents)
    elapsed, _ = run_command(
        [str(bench.agent.python), "-c", code, str(loop)],
        env=clean_environment(),
        what=what,
    )
    return elapsed


def processed_state(bench: Bench, documents: int) -> Path:
    """Return a state directory where `once` took `documents` documents to done/ and outbox/."""
    people = bench.scratch("people") / "people.csv"
    write_people(people, documents)
    env_file = bench.env_file(**PROVIDER_SETTINGS[DEFAULT_PROVIDER], PEOPLE_CSV=str(people))
    return _timed_once(bench, env_file, documents)[1]


def throughput(bench: Bench, documents: int) -> Row:
    """Figure 3: `once` over N documents with the fake provider vs a rename+fsync loop.

    Both sides are timed from spawn to exit over N documents and over none, in the same
    repetition; the difference is the time the N documents took. Start-up is figure 2's.
    """
    people = bench.scratch("people") / "people.csv"
    write_people(people, documents)
    env_file = bench.env_file(**PROVIDER_SETTINGS[DEFAULT_PROVIDER], PEOPLE_CSV=str(people))
    measured, baseline, floor = Series("items/s"), Series("items/s"), Series("items/s")
    for rep in range(bench.reps):
        logger.info(
            "Throughput over %d documents, repetition %d of %d", documents, rep + 1, bench.reps
        )
        empty, _ = _timed_once(bench, env_file, 0)
        elapsed, state = _timed_once(bench, env_file, documents)
        measured.add(documents / max(elapsed - empty, 1e-6))
        bench.extras["pipeline_state"] = state
        empty = _timed_loop(bench, 0)
        elapsed = _timed_loop(bench, documents)
        baseline.add(documents / max(elapsed - empty, 1e-6))
        alone = (SYNC_FLOOR_CODE, "the agent's syncs alone")
        empty = _timed_loop(bench, 0, *alone)
        elapsed = _timed_loop(bench, documents, *alone)
        floor.add(documents / max(elapsed - empty, 1e-6))
    state = bench.extras["pipeline_state"]
    bench.extras["audit_entries_per_item"] = (
        len((state / "audit.jsonl").read_bytes().splitlines()) / documents
    )
    ratio = measured.median / baseline.median
    return Row(
        figure=f"Pipeline throughput, {documents} documents, fake provider at zero latency, "
        "fsync on (`once`, start-up subtracted)",
        baseline_name="a loop that only renames+fsyncs the same files (start-up subtracted)",
        goal=f"≥ {THROUGHPUT_GOAL}× the loop",
        measured=measured,
        baseline=baseline,
        ratio=ratio,
        ratio_text=f"{ratio:.2f}× the loop; the agent's syncs alone (3 points per batch of up to "
        f"32, 2 fsyncs per item), without its code: {floor.text()}, "
        f"{floor.median / baseline.median:.2f}× the loop",
        passed=ratio >= THROUGHPUT_GOAL,
    )


# 4. Cost reports --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostHistory:
    """The shape of the generated cost history."""

    agents: int
    days: int
    calls_per_day: int

    @property
    def records(self) -> int:
        return self.agents * self.days * self.calls_per_day


def generate_agent_costs(job: tuple) -> None:
    """Write one agent's cost history: one file per UTC day, records shaped like the agent's."""
    costs_dir, slug, number, template, days, calls, today = job
    rng = random.Random(number)
    system, model = COST_MODELS[number % len(COST_MODELS)]
    price = COST_PRICES[model]
    costs_dir.mkdir(parents=True)
    for offset in range(days):
        day = today - timedelta(days=offset)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        lines = []
        for call in range(calls):
            moment = midnight + timedelta(
                seconds=SECONDS_PER_DAY * call / calls + rng.random() * 60
            )
            input_tokens = rng.randint(300, 4000)
            output_tokens = rng.randint(40, 700)
            cache_read = rng.choice((0, 0, 1024, 2048))
            failed = rng.random() < COST_ERROR_RATE
            cost = round(
                (
                    input_tokens * price["input"]
                    + output_tokens * price["output"]
                    + cache_read * price.get("cache_read", price["input"])
                )
                / 1_000_000,
                8,
            )
            record = dict(template)
            record.update(
                {
                    "ts": moment.isoformat(timespec="milliseconds"),
                    "agent": slug,
                    "gen_ai.system": system,
                    "gen_ai.request.model": model,
                    "gen_ai.response.model": model,
                    "gen_ai.usage.input_tokens": input_tokens,
                    "gen_ai.usage.output_tokens": output_tokens,
                    "gen_ai.usage.cache_read.input_tokens": cache_read,
                    "gen_ai.usage.cache_creation.input_tokens": 0,
                    "cost_usd": cost,
                    "price_match": "exact",
                    "price_model": model,
                    "latency_ms": round(rng.uniform(300, 9000), 1),
                    "item_id": f"{rng.getrandbits(64):016x}",
                    "status": "error" if failed else "ok",
                }
            )
            lines.append(json.dumps(record, ensure_ascii=False))
        (costs_dir / f"{day.isoformat()}.jsonl").write_text(
            "\n".join(lines) + "\n", encoding="utf-8"
        )


def generate_costs(bench: Bench, history: CostHistory, state_root: Path) -> Path:
    """Write the cost history of every agent; return one file holding all of it."""
    state = bench.extras["pipeline_state"]
    template = json.loads(
        min((state / "costs").glob("*.jsonl")).read_text(encoding="utf-8").splitlines()[0]
    )
    today = datetime.now(UTC).date()
    slugs = [f"bench-agent-{n:02d}" for n in range(1, history.agents + 1)]
    jobs = [
        (
            state_root / slug / "costs",
            slug,
            n,
            template,
            history.days,
            history.calls_per_day,
            today,
        )
        for n, slug in enumerate(slugs)
    ]
    logger.info(
        "Writing %s cost records (%d agents x %d days x %d calls)",
        f"{history.records:,}",
        history.agents,
        history.days,
        history.calls_per_day,
    )
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        pool.map(generate_agent_costs, jobs)
    for slug in slugs:  # a state directory the agent made: read-only commands refuse any other
        shutil.copyfile(state / "agent.db", state_root / slug / "agent.db")
    everything = state_root.parent / "all-costs.jsonl"
    with everything.open("wb") as output:
        for slug in slugs:
            for path in sorted((state_root / slug / "costs").glob("*.jsonl")):
                with path.open("rb") as part:
                    shutil.copyfileobj(part, output)
    return everything


def copy_agentctl(lib_dir: Path, installed_lib_dir: str) -> Path:
    """Lay agentctl out in lib_dir as the health role installs it in installed_lib_dir.

    Links are followed (the role's copy does the same) and no bytecode is taken along. Return the
    launcher, rendered from the role's template.
    """
    shutil.copytree(AGENTCTL, lib_dir / "agentctl", ignore=shutil.ignore_patterns("__pycache__"))
    text = AGENTCTL_LAUNCHER.read_text(encoding="utf-8")
    for expression, value in (
        ("{{ ansible_managed }}", "Installed by the benchmarks"),
        ("{{ __health_agentctl_lib_dir | to_json }}", json.dumps(installed_lib_dir)),
        ("{{ __health_agentctl_lib_dir }}", installed_lib_dir),
    ):
        text = text.replace(expression, value)
    if "{{" in text:
        raise BenchmarkError(f"{AGENTCTL_LAUNCHER} uses more than the benchmarks render")
    launcher = lib_dir / "agentctl-launcher"
    launcher.write_text(text, encoding="utf-8")
    return launcher


def agentctl_config(root: Path, state_root: Path) -> Path:
    """Point agentctl at the generated state root; the caller's own group counts as admins."""
    config = {
        "admin_group": grp.getgrgid(os.getgid()).gr_name,
        "sudo": False,
        "agents_dir": str(root / "srv-agents"),
        "state_root": str(state_root),
        "logs_root": str(root / "log-agents"),
        "config_root": str(root / "etc-agents"),
        "state_dir": str(root / "agentctl-state"),
        "audit_log": str(root / "agentctl.log"),
        "secret_file": str(root / "agentctl.secret"),
    }
    path = root / "agentctl.conf"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def cost_queries(bench: Bench, history: CostHistory) -> list[Row]:
    """Figure 4: `costs --since yesterday` of the agent and of agentctl vs a full scan."""
    root = bench.scratch("costs")
    state_root = root / "state"
    everything = generate_costs(bench, history, state_root)
    bench.extras["cost_state_root"] = state_root  # the backup figure backs it up
    since = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    wanted_days = min(2, history.days)  # yesterday and today
    env_file = bench.env_file(**PROVIDER_SETTINGS[DEFAULT_PROVIDER])
    python = str(bench.agent.python)
    agent_state = state_root / "bench-agent-01"
    agent_argv = bench.agent_argv(env_file, agent_state, "costs", "--since", "yesterday")
    scan_argv = [python, "-c", FULL_SCAN_CODE, str(everything), since]
    agentctl_env = clean_environment(AGENTCTL_CONFIG=str(agentctl_config(root, state_root)))
    agentctl_ready = (AGENTCTL / "cli.py").is_file()
    lib_dir = root / "agentctl-lib"
    launcher = copy_agentctl(lib_dir, str(lib_dir)) if agentctl_ready else AGENTCTL_LAUNCHER
    # As the shebang of the role's launcher runs it, from the bytecode the first (untimed) run
    # writes.
    agentctl_argv = [python, "-IS", str(launcher), "costs", "--since", "yesterday"]

    def timed(argv, env, what) -> tuple[float, str]:
        return run_command(argv, env=env, cwd=bench.agent.project, what=what)

    # Same answers first: a fast wrong answer is no result.
    _, out = timed([*agent_argv, "--json"], clean_environment(), "the agent's costs")
    agent_calls = json.loads(out)["total"]["calls"]
    _, out = timed(scan_argv, clean_environment(), "the full scan")
    scan_calls = json.loads(out)["calls"]
    expected_all = history.agents * history.calls_per_day * wanted_days
    if agent_calls != history.calls_per_day * wanted_days or scan_calls != expected_all:
        raise BenchmarkError(
            f"cost answers disagree: agent {agent_calls} calls, full scan {scan_calls} "
            f"(expected {history.calls_per_day * wanted_days} and {expected_all})"
        )
    if agentctl_ready:
        _, out = timed([*agentctl_argv, "--json"], agentctl_env, "agentctl costs")
        agentctl_calls = json.loads(out)["total"]["calls"]
        if agentctl_calls != expected_all:
            raise BenchmarkError(
                f"agentctl costs counted {agentctl_calls} calls where the full scan counted "
                f"{expected_all}"
            )

    agent_times, agentctl_times, scan_times = Series("s"), Series("s"), Series("s")
    json_times = Series("s")
    json_argv = [python, "-c", "import json"]
    for rep in range(bench.reps):
        logger.info("Cost queries, repetition %d of %d", rep + 1, bench.reps)
        for _ in range(START_SAMPLES_PER_REP):
            agent_times.add(timed(agent_argv, clean_environment(), "the agent's costs")[0])
            json_times.add(timed(json_argv, clean_environment(), "python -c 'import json'")[0])
        if agentctl_ready:
            agentctl_times.add(timed(agentctl_argv, agentctl_env, "agentctl costs")[0])
        scan_times.add(timed(scan_argv, clean_environment(), "the full scan")[0])

    shape = (
        f"{history.agents} agents × {history.days} days × {history.calls_per_day} calls/day "
        f"({history.records:,} records, {everything.stat().st_size / MIB:,.0f} MiB)"
    )
    baseline_name = "a full scan of the same records in one file (json-parse every line, sum)"
    rows = []
    if agentctl_ready:
        speedup = scan_times.median / agentctl_times.median
        rows.append(
            Row(
                figure=f"`agentctl costs --since yesterday` over {shape}",
                baseline_name=baseline_name,
                goal="≥ 10× faster than the scan",
                measured=agentctl_times,
                baseline=scan_times,
                ratio=speedup,
                ratio_text=f"{format_number(speedup)}× faster",
                passed=speedup >= 10,
            )
        )
    else:
        rows.append(
            Row.not_measured(
                f"`agentctl costs --since yesterday` over {shape}",
                baseline_name,
                "≥ 10× faster than the scan",
                f"{AGENTCTL.relative_to(REPO_ROOT)} is missing",
            )
        )
    speedup = scan_times.median / agent_times.median
    rows.append(
        Row(
            figure=f"`{bench.agent.slug} costs --since yesterday`, one agent of the same history",
            baseline_name=baseline_name,
            goal="≥ 10× faster than the scan",
            measured=agent_times,
            baseline=scan_times,
            ratio=speedup,
            ratio_text=f"{format_number(speedup)}× faster",
            passed=speedup >= 10,
        )
    )
    ratio = agent_times.median / json_times.median
    rows.append(
        Row(
            figure=f"`{bench.agent.slug} costs --since yesterday`, one agent: the files of "
            f"yesterday and today ({history.calls_per_day * wanted_days} records)",
            baseline_name="`python3 -c 'import json'` (the interpreter and one import)",
            goal=f"≤ {COSTS_STARTUP_GOAL}× the baseline",
            measured=agent_times,
            baseline=json_times,
            ratio=ratio,
            ratio_text=f"{ratio:.2f}× the baseline",
            passed=ratio <= COSTS_STARTUP_GOAL,
        )
    )
    return rows


# Also reported ------------------------------------------------------------------------------------


@dataclass
class ImportEntry:
    module: str
    depth: int
    cumulative_ms: float
    self_ms: float


def import_times(bench: Bench) -> tuple[list[ImportEntry], Series]:
    """Return the top imports by cumulative time (median of the reps) and the total."""
    package = bench.agent.package
    modules = [
        f"{package}.cli",
        f"{package}.agent",
        f"{package}.security.settings",
        f"{package}.observability.logs",
        f"{package}.integrations.llm.fake",
    ]
    code = "import " + ", ".join(modules)
    argv = [str(bench.agent.python), "-X", "importtime", "-c", code]
    samples: dict[str, list[tuple[int, float, float]]] = {}
    total = Series("ms")
    run_command(argv, env=clean_environment(), what="python -X importtime")  # warm-up
    for _ in range(bench.reps):
        result = subprocess.run(
            argv, env=clean_environment(), capture_output=True, text=True, check=True
        )
        top_level = 0.0
        for line in result.stderr.splitlines():
            match = IMPORT_LINE.match(line)
            if not match:
                continue
            self_us, cumulative_us, indent, module = match.groups()
            depth = (len(indent) - 1) // 2
            if depth == 0:
                top_level += int(cumulative_us)
            samples.setdefault(module, []).append(
                (depth, int(cumulative_us) / 1000, int(self_us) / 1000)
            )
        total.add(top_level / 1000)
    lazy = ("pypdf", *(f"{package}.{name}" for name in LAZY_MODULES))
    bench.extras["not_loaded_at_start"] = [module for module in lazy if module not in samples]
    bench.extras["loaded_at_start"] = [module for module in lazy if module in samples]
    entries = [
        ImportEntry(
            module=module,
            depth=values[0][0],
            cumulative_ms=statistics.median(v[1] for v in values),
            self_ms=statistics.median(v[2] for v in values),
        )
        for module, values in samples.items()
    ]
    entries.sort(key=lambda e: e.cumulative_ms, reverse=True)
    return entries[:IMPORT_TOP], total


def append_overhead(bench: Bench) -> dict[str, Series]:
    """Return µs per audit append and per cost record, and per plain append+fsync of that line."""
    results = {
        key: Series("µs") for key in ("audit_us", "audit_plain_us", "cost_us", "cost_plain_us")
    }
    for _ in range(bench.reps):
        directory = bench.scratch("overhead")
        _, out = run_command(
            [
                str(bench.agent.python),
                str(BENCHMARKS_DIR / "agent_probe.py"),
                bench.agent.package,
                str(directory),
                str(OVERHEAD_APPENDS),
            ],
            env=clean_environment(),
            what="the audit and cost probe",
        )
        for key, value in json.loads(out).items():
            results.setdefault(key, Series("µs")).add(value)
    return results
