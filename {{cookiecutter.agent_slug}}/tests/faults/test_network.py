"""Network: LLM and Telegram stand-ins that time out, reset, rate-limit and fail in storms.

Each scenario runs one document through an in-process agent whose waits are recorded instead of
slept. Attempts and waits must stay within HTTP_MAX_ATTEMPTS and HTTP_MAX_TOTAL_SECONDS, a
server's Retry-After is honoured exactly, the document ends where the design puts it (back in
incoming/ for a later try, failed/ after MAX_ATTEMPTS, done/ whatever happens to notifications),
and only billed calls leave a cost record. Then AGENTS real agent processes meet the same 5xx storm
at once: their backoff is jittered, so they do not retry in step.
"""

import json
import time
from dataclasses import dataclass, field

import corpus
import evidence
import pytest
import rig

import stubs
from {{ cookiecutter.package_name }}.contract.telegram import TelegramClient
from {{ cookiecutter.package_name }}.reliability import http

pytestmark = pytest.mark.faults

TIMEOUT_SECONDS = 0.5
MAX_ATTEMPTS_PER_CALL = 4
MAX_TOTAL_SECONDS = 30.0
BASE_DELAY_SECONDS = http.RetryPolicy().base_delay_seconds
MAX_DELAY_SECONDS = http.RetryPolicy().max_delay_seconds
NETWORK_SETTINGS = {
    "HTTP_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
    "HTTP_MAX_ATTEMPTS": str(MAX_ATTEMPTS_PER_CALL),
    "HTTP_MAX_TOTAL_SECONDS": str(MAX_TOTAL_SECONDS),
    "MAX_ATTEMPTS": "3",
}
HANG_SECONDS = 3.0
# What one run may take beyond its attempts' timeouts (the waits are recorded, not slept).
RUN_SLACK_SECONDS = 2.0
AGENTS = 20
STORM_TIMEOUT_SECONDS = 120
IN_STEP_WINDOW_SECONDS = 0.05
JANE = corpus.document(corpus.PEOPLE[1])


def billed_without_text(provider: str) -> stubs.Script:
    """A 200 answer that carries usage but no text: billed, and worth another try."""
    usage = (
        {"input_tokens": 40, "output_tokens": 3}
        if provider == "anthropic"
        else {"prompt_tokens": 40, "completion_tokens": 3}
    )
    body = {"model": rig.MODELS[provider], "usage": usage}
    body |= {"content": []} if provider == "anthropic" else {"choices": []}
    return stubs.answer(body)


@dataclass
class Scenario:
    name: str
    llm: tuple = ()
    telegram: tuple | None = None  # None: no Telegram (alerts recorded in-process)
    runs: int = 1
    folder: str = "done"
    llm_requests: int = 1
    telegram_requests: int | None = None
    billed: int = 1
    server_waits: list[float] | None = None  # the exact waits, when the server sets them
    backoffs: int = 0  # how many jittered waits
    alerts: int = 0


def scenarios(provider: str) -> list[Scenario]:
    storm = [stubs.status(code) for code in (500, 502, 503, 504, 529, 500)] * 2
    return [
        Scenario(
            "LLM times out",
            llm=(stubs.hang(HANG_SECONDS),) * 4,
            folder="incoming",
            llm_requests=4,
            billed=0,
            backoffs=3,
        ),
        Scenario(
            "LLM resets the connection",
            llm=(stubs.reset(),) * 4,
            folder="incoming",
            llm_requests=4,
            billed=0,
            backoffs=3,
        ),
        Scenario(
            "LLM drops or cuts its answers",
            folder="incoming",
            llm=(stubs.drop(), stubs.cut_short(), stubs.drop(), stubs.cut_short()),
            llm_requests=4,
            billed=0,
            backoffs=3,
        ),
        Scenario(
            "LLM 429 with Retry-After",
            llm=(stubs.status(429, retry_after=7), stubs.status(429, retry_after=2)),
            llm_requests=3,
            server_waits=[7.0, 2.0],
        ),
        Scenario(
            "LLM 429 asks to wait too long",
            llm=(stubs.status(429, retry_after=3600),),
            folder="incoming",
            llm_requests=1,
            billed=0,
            server_waits=[],
        ),
        Scenario(
            "LLM 5xx storm",
            llm=tuple(storm),
            runs=3,
            folder="failed",
            llm_requests=12,
            billed=0,
            backoffs=9,
        ),
        Scenario(
            "LLM 5xx storm, then back",
            llm=(stubs.status(503),) * 6,
            runs=2,
            llm_requests=7,
            backoffs=5,
        ),
        Scenario(
            "LLM bills answers without text",
            runs=3,
            llm_requests=3,
            billed=3,
            llm=(billed_without_text(provider),) * 2,
        ),
        Scenario(
            "LLM refuses the key (401)",
            llm=(stubs.status(401),),
            folder="incoming",
            llm_requests=1,
            billed=0,
            alerts=1,
        ),
        Scenario(
            "Telegram flood control",
            telegram=(stubs.telegram_429(5),),
            telegram_requests=2,
            server_waits=[5.0],
        ),
        Scenario(
            "Telegram 5xx storm", telegram=(stubs.status(502),) * 4, telegram_requests=4, backoffs=3
        ),
        Scenario(
            "Telegram times out",
            telegram=(stubs.hang(HANG_SECONDS),) * 4,
            telegram_requests=4,
            backoffs=3,
        ),
        Scenario(
            "Telegram resets the connection",
            telegram=(stubs.reset(),) * 4,
            telegram_requests=4,
            backoffs=3,
        ),
        Scenario(
            "Telegram asks to wait too long",
            telegram=(stubs.telegram_429(3600),),
            telegram_requests=1,
            server_waits=[],
        ),
    ]


@dataclass
class Outcome:
    problems: list[str] = field(default_factory=list)
    over_bounds: int = 0
    extra_costs: int = 0
    lost: int = 0


def run_scenario(home, scenario: Scenario, provider: str, monkeypatch) -> Outcome:
    """Run one scenario and compare what happened with what it says must happen."""
    outcome = Outcome()
    waits = stubs.RecordingSleep()
    monkeypatch.setitem(http.request.__kwdefaults__, "sleep", waits)
    monkeypatch.setitem(TelegramClient.__init__.__kwdefaults__, "sleep", waits)
    with stubs.LLMStub(responder=rig.extracting) as llm, stubs.TelegramStub() as telegram:
        use_telegram = scenario.telegram is not None and rig.HAS_TELEGRAM
        rig.configure(home, llm, telegram if use_telegram else None, provider, **NETWORK_SETTINGS)
        llm.push(*scenario.llm)
        telegram.push(*(scenario.telegram or ()))
        home.drop("jane.txt", JANE)
        agent = home.agent()
        alerts = None
        if not use_telegram:
            alerts = agent.notifier = rig.RecordingNotifier()
        slowest = 0.0
        for _ in range(scenario.runs):
            started = time.monotonic()
            agent.run_once()
            slowest = max(slowest, time.monotonic() - started)
        agent.close()
        llm_requests = len(llm.requests)
        telegram_requests = len(telegram.requests)
    problems = outcome.problems
    where = [
        folder
        for folder in ("incoming", *evidence.TERMINAL_FOLDERS)
        if evidence.entries(home.state / folder)
    ]
    if where != [scenario.folder]:
        outcome.lost += 1
        problems.append(f"the document is in {where}, expected {scenario.folder}/")
    if (
        llm_requests > scenario.runs * MAX_ATTEMPTS_PER_CALL
        or llm_requests != scenario.llm_requests
    ):
        outcome.over_bounds += max(0, llm_requests - scenario.llm_requests)
        problems.append(f"{llm_requests} LLM requests, expected {scenario.llm_requests}")
    if use_telegram and telegram_requests != scenario.telegram_requests:
        outcome.over_bounds += max(0, telegram_requests - scenario.telegram_requests)
        problems.append(
            f"{telegram_requests} Telegram requests, expected {scenario.telegram_requests}"
        )
    records = evidence.cost_records(home.state)
    if len(records) != scenario.billed:
        outcome.extra_costs += max(0, len(records) - scenario.billed)
        problems.append(f"{len(records)} cost records for {scenario.billed} billed call(s)")
    if scenario.server_waits is not None and waits.calls != scenario.server_waits:
        problems.append(f"waited {waits.calls}, the server asked {scenario.server_waits}")
    if scenario.server_waits is None:
        if len(waits.calls) != scenario.backoffs:
            problems.append(f"{len(waits.calls)} backoff waits, expected {scenario.backoffs}")
        for number, wait in enumerate(waits.calls):
            cap = min(
                MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (number % (MAX_ATTEMPTS_PER_CALL - 1))
            )
            if not 0 <= wait <= cap:
                outcome.over_bounds += 1
                problems.append(f"backoff {number + 1} was {wait:.2f}s (cap {cap}s)")
    if waits.total > scenario.runs * MAX_TOTAL_SECONDS:
        outcome.over_bounds += 1
        problems.append(f"waited {waits.total:.1f}s in all, over the bound")
    run_bound = (
        MAX_ATTEMPTS_PER_CALL * TIMEOUT_SECONDS * (2 if use_telegram else 1) + RUN_SLACK_SECONDS
    )
    if slowest > run_bound:
        outcome.over_bounds += 1
        problems.append(f"one run took {slowest:.1f}s (bound {run_bound:.1f}s)")
    if (
        alerts is not None
        and sum("LLM_API_KEY" in text for text in alerts.texts) != scenario.alerts
    ):
        problems.append(f"alerts: {alerts.texts}, expected {scenario.alerts} about LLM_API_KEY")
    actions = [entry["action"] for entry in evidence.audit_entries(home.state)]
    if use_telegram and not {"notification.sent", "notification.failed"} & set(actions):
        problems.append("the notification was neither sent nor recorded as failed")
    return outcome


@pytest.mark.parametrize("provider", rig.PROVIDERS)
def test_flaky_networks_stay_within_bounds(report, new_home, monkeypatch, provider):
    report.test = f"network ({provider}, Telegram)"
    cases = scenarios(provider)
    report.tried = "; ".join(case.name for case in cases)
    problems, total = [], Outcome()
    skipped = 0
    for case in cases:
        if case.telegram is not None and not rig.HAS_TELEGRAM:
            skipped += 1
            continue
        with monkeypatch.context() as patch:
            outcome = run_scenario(new_home(), case, provider, patch)
        problems += [f"{case.name}: {problem}" for problem in outcome.problems]
        total.over_bounds += outcome.over_bounds
        total.extra_costs += outcome.extra_costs
        total.lost += outcome.lost
    report.cases = len(cases) - skipped
    report.losses = total.lost
    report.duplicates = total.over_bounds + total.extra_costs
    report.found = (
        f"attempts per call <= {MAX_ATTEMPTS_PER_CALL}, waits within {MAX_TOTAL_SECONDS:g}s, "
        "Retry-After honoured exactly, cost records = billed calls"
        + (
            f"; {skipped} Telegram scenarios skipped (generated without Telegram)"
            if skipped
            else ""
        )
    )
    assert problems == []


def first_retry_delays(output: str) -> list[float]:
    """Return the backoff delays an agent logged (JSON lines with a `delay`)."""
    delays = []
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "delay" in entry and entry.get("call"):
            delays.append(entry["delay"])
    return delays


def test_agents_hit_by_the_same_storm_do_not_retry_in_step(report, new_home):
    report.test = f"network: {AGENTS} agents, one storm"
    report.tried = (
        f"{AGENTS} agent processes, one document each, started together against an LLM "
        f"answering 503 to every request ({MAX_ATTEMPTS_PER_CALL} attempts each)"
    )
    provider = rig.PROVIDERS[0]
    with stubs.LLMStub(responder=rig.extracting) as llm:
        llm.push(*[stubs.status(503)] * (AGENTS * MAX_ATTEMPTS_PER_CALL))
        homes = []
        for _ in range(AGENTS):
            home = new_home()
            rig.configure(home, llm, None, provider, **NETWORK_SETTINGS)
            home.drop("jane.txt", JANE)
            homes.append(home)
        started = time.monotonic()
        processes = [home.start("once") for home in homes]
        outputs = [process.communicate(timeout=STORM_TIMEOUT_SECONDS)[0] for process in processes]
        elapsed = time.monotonic() - started
        requests = len(llm.requests)
    sequences = [first_retry_delays(output) for output in outputs]
    problems = []
    if requests != AGENTS * MAX_ATTEMPTS_PER_CALL:
        problems.append(
            f"{requests} requests for {AGENTS} agents x {MAX_ATTEMPTS_PER_CALL} attempts"
        )
    if any(len(delays) != MAX_ATTEMPTS_PER_CALL - 1 for delays in sequences):
        problems.append(f"backoffs per agent: {[len(d) for d in sequences]}")
    firsts = sorted(delays[0] for delays in sequences if delays)
    if len(set(map(tuple, sequences))) != len(sequences):
        problems.append("two agents waited exactly the same")
    in_step = max(
        (
            sum(1 for other in firsts if first <= other < first + IN_STEP_WINDOW_SECONDS)
            for first in firsts
        ),
        default=0,
    )
    if in_step > AGENTS // 2:
        problems.append(f"{in_step} agents retried within {IN_STEP_WINDOW_SECONDS}s of each other")
    left = [
        home
        for home in homes
        if [p.name for p in evidence.entries(home.state / "incoming")] != ["jane.txt"]
    ]
    problems += [f"{home.root}: the document is not back in incoming/" for home in left]
    report.cases = AGENTS
    report.losses = len(left)
    report.duplicates = max(0, requests - AGENTS * MAX_ATTEMPTS_PER_CALL)
    report.found = (
        f"first retries spread over {firsts[-1] - firsts[0]:.2f}s "
        f"(from {firsts[0]:.2f}s to {firsts[-1]:.2f}s); at most {in_step} agents within "
        f"{IN_STEP_WINDOW_SECONDS * 1000:.0f} ms of each other; storm over in {elapsed:.1f}s"
        if firsts
        else "no backoff logged"
    )
    assert problems == []
