"""Operator moves during processing: decisions taken while the agent works never race it.

The agent holds its state directory for as long as it runs; `review resolve` run beside it (as
`agentctl review` does in production) hands its decision over in decisions/ and waits for the agent
to apply it, instead of moving files itself. Here the decisions are taken while the agent is busy
with other documents (arranged by state: an item is in processing/), two operators decide the same
review at once, and one decision no longer fits. Nothing may be lost, decided twice or overwritten,
and each decision must be recorded once, under the operator's name.
"""

import getpass
import json
import signal
import subprocess

import corpus
import evidence
import pytest

import kills

pytestmark = pytest.mark.faults

REVIEWS = 6
BUSY_DOCUMENTS = 30
LLM_SLEEP_SECONDS = 0.2
WAIT_SECONDS = 60


def test_decisions_taken_while_the_agent_works_are_applied_once_by_it(report, home):
    report.test = "operator move during processing"
    for number in range(REVIEWS):
        text = corpus.document(corpus.AMBIGUOUS, f"Reference: decision {number}")
        home.drop(f"ambiguous-{number}.md", text)
    assert home.cli("once").returncode == 0
    pending = [line.split()[0] for line in home.cli("review", "list").stdout.splitlines()]
    assert len(pending) == REVIEWS, pending

    busy = [
        corpus.document(
            corpus.PEOPLE[1], f"Reference: busy {number}", f"FAKE-LLM: sleep {LLM_SLEEP_SECONDS}"
        )
        for number in range(BUSY_DOCUMENTS)
    ]
    for number, text in enumerate(busy):
        home.drop(f"busy-{number:02d}.txt", text)
    agent = home.start("run")
    problems = []
    try:
        lock = home.state / "agent.lock"
        kills.wait_for(lambda: lock.read_text().strip() == str(agent.pid), agent, WAIT_SECONDS)
        lock_owner = lock.read_text().strip()
        outputs = {}
        for item_id in pending[1:]:
            kills.wait_for(lambda: kills.held(home.state), agent, WAIT_SECONDS)
            outputs[item_id] = [home.cli("review", "resolve", item_id, "--choose", "1")]
        # Two operators decide the first review at the same moment; a third rejects it too late.
        first = pending[0]
        racing = [
            subprocess.Popen(
                home.command("review", "resolve", first, *choice),
                cwd=home.root,
                env=home.process_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for choice in (["--choose", "1"], ["--choose", "2"])
        ]
        outputs[first] = [
            subprocess.CompletedProcess(p.args, p.wait(WAIT_SECONDS), *p.communicate())
            for p in racing
        ]
        late = home.cli("review", "resolve", first, "--reject", "--note", "too late")
        kills.wait_for(lambda: not evidence.entries(home.state / "incoming"), agent, WAIT_SECONDS)
        if lock.read_text().strip() != lock_owner or lock_owner != str(agent.pid):
            problems.append("the lock changed hands while the agent ran")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(WAIT_SECONDS)

    for item_id in pending[1:]:
        (run,) = outputs[item_id]
        if run.returncode != 0 or "by the running agent" not in run.stdout:
            problems.append(f"resolve {item_id}: exit {run.returncode}: {run.stdout}{run.stderr}")
    codes = sorted(run.returncode for run in outputs[first])
    if codes != [0, 2]:
        problems.append(f"two decisions at once: exits {codes} (one applied, one refused wanted)")
    refused = next((run for run in outputs[first] if run.returncode == 2), None)
    if refused is not None and len(refused.stderr.strip().splitlines()) != 1:
        problems.append(f"the refused decision did not say why in one line: {refused.stderr!r}")
    if late.returncode != 2 or "no pending review" not in late.stderr:
        problems.append(f"a decision after the fact: exit {late.returncode}: {late.stderr}")

    state = home.state
    inputs = [evidence.sha256(text.encode()) for text in busy] + [
        evidence.sha256((state / "done" / name).read_bytes())
        for name in evidence.entries(state / "done")
        if name.name.startswith("ambiguous-")
    ]
    missing, extra = evidence.losses_and_extras(inputs, state)
    decided = [p.name for p in evidence.entries(state / "done") if p.name.startswith("ambiguous-")]
    if len(decided) != REVIEWS:
        problems.append(f"{len(decided)} of {REVIEWS} reviewed documents in done/: {decided}")
    entries = evidence.audit_entries(state)
    decisions = [e for e in entries if e["action"] == "human.decision"]
    by_item = {e["item"] for e in decisions}
    if len(decisions) != REVIEWS or by_item != set(pending):
        problems.append(f"{len(decisions)} decisions recorded for {REVIEWS} reviews")
    if any(e["detail"].get("by") != getpass.getuser() for e in decisions):
        problems.append("a decision is not recorded under the operator's name")
    results = {p.stem for p in (state / "outbox").iterdir()}
    if not set(pending) <= results:
        problems.append(f"decided without a result: {sorted(set(pending) - results)}")
    leftovers = sorted(p.name for p in (state / "decisions").iterdir())
    problems += [f"left in decisions/: {name}" for name in leftovers]
    excess, excess_problems = evidence.excess_records(state)
    problems += excess_problems
    strays = evidence.stray_state_entries(state)
    problems += [f"left behind: {stray}" for stray in strays]

    report.tried = (
        f"{REVIEWS} reviews decided with `review resolve` while `run` worked through "
        f"{BUSY_DOCUMENTS} documents ({LLM_SLEEP_SECONDS} s each), each decision taken while an "
        "item was in processing/; two operators deciding one review at once; a decision after it"
    )
    report.cases = REVIEWS + BUSY_DOCUMENTS
    report.losses = missing
    report.duplicates = extra + excess + max(0, len(decisions) - REVIEWS)
    report.leaks = len(strays) + len(leftovers)
    report.found = (
        f"{len(decided)} decisions applied by the running agent (the lock never changed hands); "
        f"the same review decided twice at once: exits {codes}; too late: exit {late.returncode}"
    )
    assert problems == [], "\n".join(problems) + "\n" + evidence.diagnosis(state, problems)
    assert json.loads((state / "heartbeat.json").read_text())["status"] == "stopped"
