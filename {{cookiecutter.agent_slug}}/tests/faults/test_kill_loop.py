"""Kill loop: the agent, killed with SIGKILL at random moments and restarted, loses nothing.

DOCUMENTS inputs of every kind (results, reviews, LLM failures, refused files) are processed by the
real command line (`run`), killed KILLS times at random moments (during start-up, recovery, an LLM
call, a write, a move) and started again each time; then it finishes. Every input must end exactly
once in done/, failed/ or review/, where its kind says: a kill is not the item's fault, so no input
fails for being interrupted; a result exists in outbox/ for every input in done/ and for nothing
else; every result must parse and name its input; no item may have more audit entries or cost
records than the attempts and crashes the database counted; `audit verify` must pass. The messages
(to a Telegram stand-in when the agent has Telegram, else to the log) come at least once for each
result and review, and again only rarely: when a kill lands between Telegram accepting a message
and the agent marking it sent.
"""

import json
import random
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass

import corpus
import evidence
import pytest
import rig

import kills
import stubs

pytestmark = pytest.mark.faults

DOCUMENTS = 500
KILLS = 100
SEED = 20260501
# Half the kills come anywhere from start-up (about 0.3 s on an idle machine) to a few items in;
# the other half wait until an item is in processing/, then strike within its fake LLM call, so a
# start-up slowed by a busy machine cannot leave too few kills landing mid-item.
KILL_AFTER_SECONDS = (0.1, 1.0)
LLM_SLEEP_SECONDS = 0.04
WORK_WAIT_SECONDS = 30
STARTED_LINE = re.compile(rb'"msg": "Agent [^"]* started"')
FINISH_RUNS = 6
FINISH_TIMEOUT_SECONDS = 300
# Every message names its item; one may come twice when a kill lands within its one request.
ITEM_MARK = re.compile(r"\[item ([0-9a-f]{16})\]")
NOTIFICATION_LINE = "Notification: "
REPEATS_PER_50_KILLS = 5


@dataclass(frozen=True)
class Document:
    name: str
    data: bytes
    folder: str  # where its kind puts it
    person: int | None = None
    reason: str | None = None  # what its failed/ reason must say


def documents(rng: random.Random) -> list[Document]:
    """Return DOCUMENTS distinct inputs of every kind, in a random order."""
    sleep = f"FAKE-LLM: sleep {LLM_SLEEP_SECONDS}"
    kinds = (
        ["person"] * 60
        + ["person pdf"] * 10
        + ["ambiguous"] * 10
        + ["unknown"] * 5
        + ["malformed"] * 5
        + ["transient"] * 5
        + ["refused"] * 5
    )
    docs = []
    for number in range(DOCUMENTS):
        kind = rng.choice(kinds)
        person = rng.choice(sorted(corpus.PEOPLE))
        reference = f"Reference: kill-loop {number}"
        name = f"doc-{number:03d}"
        if kind == "person":
            text = corpus.document(corpus.PEOPLE[person], reference, sleep)
            docs.append(Document(f"{name}.txt", text.encode(), "done", person))
        elif kind == "person pdf":
            text = corpus.document(corpus.PEOPLE[person], reference, sleep)
            docs.append(Document(f"{name}.pdf", corpus.text_pdf(text), "done", person))
        elif kind in ("ambiguous", "unknown"):
            lines = corpus.AMBIGUOUS if kind == "ambiguous" else corpus.UNKNOWN
            text = corpus.document(lines, reference, sleep)
            docs.append(Document(f"{name}.md", text.encode(), "review"))
        elif kind in ("malformed", "transient"):
            text = corpus.document(corpus.PEOPLE[person], reference, sleep, f"FAKE-LLM: {kind}")
            reason = "not valid JSON" if kind == "malformed" else "gave up after"
            docs.append(Document(f"{name}.txt", text.encode(), "failed", reason=reason))
        else:
            data = f"Patient: Zoë {number}\n".encode("latin-1")
            docs.append(Document(f"{name}.txt", data, "failed", reason="UTF-8"))
    return docs


def start(home, log_path):
    """Start `run` as the service would, its output going to log_path."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            home.command("run"), cwd=home.root, env=home.process_env(), stdout=log, stderr=log
        )


def wait_until_at_work(home, process, log_path, killer: kills.Killer) -> None:
    """Return once the agent, past its start-up, holds an item in processing/ (or has exited).

    Until its start-up has logged "started", what is in processing/ is a previous run's leftover,
    still to be recovered.
    """
    started = False

    def at_work() -> bool:
        nonlocal started
        started = started or STARTED_LINE.search(log_path.read_bytes()) is not None
        return started and (
            killer.holds_a_fresh_item() or not evidence.entries(home.state / "incoming")
        )

    kills.wait_for(at_work, process, WORK_WAIT_SECONDS)


def messages_by_item(texts: list[str]) -> Counter:
    """Count the messages naming each item (alerts name none)."""
    return Counter(m.group(1) for text in texts for m in [ITEM_MARK.search(text)] if m)


def logged_notifications(outputs: list[str]) -> list[str]:
    """Return the notifications the log notifier wrote (an agent without Telegram)."""
    texts = []
    for output in outputs:
        for line in output.splitlines():
            try:
                message = json.loads(line).get("msg", "")
            except (ValueError, AttributeError):
                continue
            if message.startswith(NOTIFICATION_LINE):
                texts.append(message.removeprefix(NOTIFICATION_LINE))
    return texts


@pytest.fixture
def telegram():
    """A Telegram stand-in when the agent was generated with Telegram, else None."""
    if not rig.HAS_TELEGRAM:
        yield None
        return
    with stubs.TelegramStub() as stand_in:
        yield stand_in


def finish(home) -> list[subprocess.CompletedProcess]:
    """Run `once` until nothing waits (items given back to incoming/ need more passes)."""
    runs = []
    for _ in range(FINISH_RUNS):
        runs.append(home.cli("once", timeout=FINISH_TIMEOUT_SECONDS))
        if not evidence.entries(home.state / "incoming") and not evidence.entries(
            home.state / "processing"
        ):
            break
    return runs


def test_kill_9_at_random_moments_loses_and_repeats_nothing(
    report, report_row, home, tmp_path, telegram
):
    report.test = "kill -9 loop"
    results_row = report_row("results <=> done")
    messages_row = report_row("notifications once")
    if telegram is not None:
        home.write_env(
            TELEGRAM_BOT_TOKEN=telegram.token,
            TELEGRAM_CHAT_ID=telegram.chat_id,
            TELEGRAM_API_BASE=telegram.api_base,
        )
    report.tried = (
        f"{DOCUMENTS} documents (results, reviews, malformed and failing LLM answers, refused "
        f"files, PDFs); `run` killed with SIGKILL {KILLS} times at random moments (half "
        f"{KILL_AFTER_SECONDS[0]}-{KILL_AFTER_SECONDS[1]}s after a start, half while an item is "
        "in processing/), then finished"
    )
    rng = random.Random(SEED)
    docs = documents(rng)
    for number, doc in enumerate(docs):
        home.drop(doc.name, doc.data, age=1000 - number * 0.01)
    logs = tmp_path / "runs"
    logs.mkdir()

    started = time.monotonic()
    killer = kills.Killer(home.state, WORK_WAIT_SECONDS)
    for kill in range(KILLS):
        log_path = logs / f"run-{kill:03d}.log"
        process = start(home, log_path)
        if kill % 2:
            wait_until_at_work(home, process, log_path, killer)
            time.sleep(rng.uniform(0, LLM_SLEEP_SECONDS))
        else:
            time.sleep(rng.uniform(*KILL_AFTER_SECONDS))
        killer.kill(process)
    killing_seconds = time.monotonic() - started
    finishing = finish(home)

    problems = [
        f"`once` exited {run.returncode}: {run.stderr[-300:]}"
        for run in finishing
        if run.returncode
    ]
    outputs = [path.read_text(errors="replace") for path in sorted(logs.iterdir())]
    outputs += [run.stdout + run.stderr for run in finishing]
    crashes = sum("Traceback" in output for output in outputs)
    if crashes:
        problems.append(f"{crashes} run(s) crashed with a traceback (not the kill)")
    state = home.state
    left = [
        p.name for folder in ("incoming", "processing") for p in evidence.entries(state / folder)
    ]
    problems += [f"never finished: {name}" for name in left]

    # Every input exactly once in a final folder, where its kind says.
    fingerprints = [evidence.sha256(doc.data) for doc in docs]
    missing, extra = evidence.losses_and_extras(fingerprints, state)
    placed = evidence.placements(state)
    misplaced, interrupted = [], 0
    results = {}
    for path in (state / "outbox").iterdir():
        try:
            results[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            problems.append(f"outbox/{path.name} is not complete JSON")
    used_results = set()
    reviews = evidence.review_rows(state)
    for doc, key in zip(docs, fingerprints, strict=True):
        where = placed.get(key, [])
        if len(where) != 1:
            continue  # counted by losses_and_extras
        folder, name = where[0]
        why = evidence.sidecar(state / folder / name) or {}
        if folder == "failed" and "died" in why.get("error", ""):
            interrupted += 1  # a kill is never the item's fault here: see kills.Killer
        if folder != doc.folder:
            misplaced.append(f"{doc.name}: in {folder}/ ({why.get('error') or why.get('reason')})")
            continue
        if folder == "failed" and doc.reason not in why.get("error", ""):
            misplaced.append(f"{doc.name}: failed for {why.get('error')!r}")
        if folder == "review":
            row = reviews.get(key[:16])
            if (
                not why.get("reason")
                or not row
                or row["status"] != "pending"
                or row["file"] != name
            ):
                misplaced.append(f"{doc.name}: in review/ without its pending review")
        if folder == "done":
            result = results.get(f"{key[:16]}.json")
            used_results.add(f"{key[:16]}.json")
            if result is None:
                misplaced.append(f"{doc.name}: in done/ without its result")
            elif (result["source"], result["item_id"], result["person"]["id"]) != (
                doc.name,
                key[:16],
                doc.person,
            ):
                misplaced.append(
                    f"{doc.name}: its result says {result['source']}, #{result['person']['id']}"
                )
    problems += misplaced
    orphans = sorted(set(results) - used_results)
    problems += [f"outbox/{name} belongs to no input in done/" for name in orphans]
    without_result = [p for p in misplaced if p.endswith("in done/ without its result")]
    results_row.tried = f"{DOCUMENTS} inputs of the kill loop, {KILLS} kills"
    results_row.cases = DOCUMENTS
    results_row.losses = len(without_result)
    results_row.duplicates = len(orphans)
    results_row.found = (
        f"{len(used_results)} input(s) in done/, each with its one result; "
        f"{len(without_result)} without; {len(orphans)} result(s) for an input elsewhere"
    )

    # Messages: each result and review told at least once, a repeat only within one request.
    rows = evidence.item_rows(state)
    owed = {row["item_id"] for row in rows.values() if row["status"] in ("done", "review")}
    texts = telegram.texts if telegram is not None else logged_notifications(outputs)
    told = messages_by_item(texts)
    tries = evidence.effect_tries(state)
    untold = sorted(owed - set(told))
    repeats = sum(count - 1 for count in told.values())
    unexplained = sum(
        max(0, count - tries[(item, "notification.sent")]) for item, count in told.items()
    )
    allowed_repeats = KILLS * REPEATS_PER_50_KILLS // 50
    problems += [f"item {item} ended in done/ or review/ and was never told" for item in untold]
    if repeats > allowed_repeats:
        problems.append(f"{repeats} repeated messages in {KILLS} kills (at most {allowed_repeats})")
    if unexplained:
        problems.append(f"{unexplained} message(s) beyond the deliveries the database counted")
    messages_row.tried = f"the kill loop's {KILLS} kills, messages to " + (
        "a Telegram stand-in" if telegram is not None else "the log (no Telegram in this agent)"
    )
    messages_row.cases = len(owed)
    messages_row.losses = len(untold)
    messages_row.duplicates = unexplained
    messages_row.found = (
        f"{sum(told.values())} messages for {len(owed)} results and reviews: {len(untold)} never "
        f"told, {repeats} repeated (a kill between Telegram accepting and the agent marking it "
        f"sent; at most {allowed_repeats} allowed), each repeat counted as a delivery"
    )

    excess, excess_problems = evidence.excess_records(state)
    problems += excess_problems
    strays = evidence.stray_state_entries(state)
    problems += [f"left behind: {stray}" for stray in strays]
    verify = home.cli("audit", "verify")
    if verify.returncode != 0:
        problems.append(f"audit verify: {verify.stdout[-500:]}")
    actions = Counter(entry["action"] for entry in evidence.audit_entries(state))
    landed = actions["item.recovered"]
    if landed < KILLS // 4:
        problems.append(f"only {landed} kills landed mid-item: the test proved too little")

    report.cases = DOCUMENTS
    report.losses = missing + len(misplaced) + len(left)
    report.duplicates = extra + excess + len(orphans)
    report.leaks = len(strays)
    ended = {folder: len(evidence.entries(state / folder)) for folder in evidence.TERMINAL_FOLDERS}
    given_back = sum(row["crashes"] for row in rows.values())
    report.found = (
        f"{KILLS} kills in {killing_seconds:.0f}s, {landed} of them mid-item (item recovered "
        f"from processing/, {given_back} attempt(s) given back); {interrupted} input(s) failed for "
        f"being interrupted; ended: {ended}; audit verify "
        f"{'passes' if verify.returncode == 0 else 'FAILS'}"
    )
    assert problems == [], "\n".join(problems) + "\n" + evidence.diagnosis(state, problems)
