"""The `review` commands: the queue of items waiting for a human, and their decisions.

The choices are the job's, shown by number with the job's label; `resolve ID --choose N` hands the
N-th to the job (runtime/review.py) in the process that holds the state directory.
"""

import json
import os
import time

from . import AGENT_SLUG
from .agent import Agent
from .cli import EXIT_OK, UsageError
from .reliability.inbox import AlreadyRunning
from .runtime.review import REFUSED_SUFFIX

# How long `review resolve` waits for the running agent to apply a decision it handed over (the
# agent looks between items and every second while idle).
DECISION_WAIT_SECONDS = 30
DECISION_POLL_SECONDS = 0.1


def command_review(args, settings) -> int:
    """list, show ID or resolve ID: the review queue, with the job's choices numbered."""
    agent = Agent(settings)
    if args.review_command == "list":
        reviews = agent.db.reviews()
        if not reviews:
            print("no document is waiting for a decision")
        for review in reviews:
            print(
                f"{review['item_id']}  {review['created']}  {len(review['choices'])} "
                f"candidate(s)  {review['reason']}  [{review['file']}]"
            )
        return EXIT_OK
    review = agent.db.review(args.item_id)
    if review is None:
        raise UsageError(f"no review {args.item_id!r}; see {AGENT_SLUG} review list")
    if args.review_command == "show":
        print(f"item {review['item_id']} ({review['status']}): {review['reason']}")
        print(f"file: review/{review['file']}")
        for key, value in review["fields"].items():
            print(f"  {key}: {value}")
        if review["evidence"]:
            print("evidence (where the document states the values the match is decided on):")
        for line in evidence_lines(review["evidence"]):
            print(f"  {line}")
        for number, choice in enumerate(review["choices"], start=1):
            print(f"  [{number}] {agent.job.label(choice)}")
        if review["status"] == "pending":
            print(
                f"decide: {AGENT_SLUG} review resolve {review['item_id']} "
                "--choose N | --reject [--note TEXT]"
            )
        return EXIT_OK
    return resolve(agent, args.item_id, None if args.reject else args.choose, args.note)


def evidence_lines(evidence: list[dict]) -> list[str]:
    """Present each checked value: 'last name Martin: page 1, line 3: «Patient : Marie MARTIN»'."""
    lines = []
    for entry in evidence:
        what = f"{str(entry.get('key', '?')).replace('_', ' ')} {entry.get('value')}"
        if entry.get("found"):
            where = f"page {entry.get('page')}, line {entry.get('line')}"
            lines.append(f"{what}: {where}: «{entry.get('text') or ''}»")
        else:
            lines.append(f"{what}: not in the document")
    return lines


def resolve(agent, item_id: str, choose: int | None, note: str) -> int:
    """Decide a review: directly when no agent runs, else through the running agent.

    One writer per state directory: while the service holds the lock, the decision is handed over
    in decisions/ and this command waits for the agent to apply it.
    """
    by = operator_name()
    try:
        agent.inbox.lock()
    except AlreadyRunning:
        pass
    else:
        try:
            outcome = agent.resolve_review(item_id, choose, note, by)
        except (LookupError, ValueError) as error:
            raise UsageError(str(error)) from None
        finally:
            agent.inbox.unlock()
        print(f"{item_id}: {outcome}")
        return EXIT_OK
    try:
        request = agent.hand_over_decision(item_id, choose, note, by)
    except (LookupError, ValueError) as error:
        raise UsageError(str(error)) from None
    except FileExistsError:
        raise UsageError(
            f"a decision for {item_id} already waits for the running agent; see: "
            f"{AGENT_SLUG} review show {item_id}"
        ) from None
    refusal = request.with_name(f"{item_id}{REFUSED_SUFFIX}")
    deadline = time.monotonic() + DECISION_WAIT_SECONDS
    while request.exists() and time.monotonic() < deadline:
        time.sleep(DECISION_POLL_SECONDS)
    if request.exists():
        print(
            f"{item_id}: handed to the running agent, which applies it at its next loop; "
            f"check with: {AGENT_SLUG} review show {item_id}"
        )
        return EXIT_OK
    if refusal.exists():
        error = json.loads(refusal.read_text(encoding="utf-8")).get("error", "?")
        refusal.unlink(missing_ok=True)
        raise UsageError(f"the running agent refused the decision for {item_id}: {error}")
    review = agent.db.review(item_id)
    print(f"{item_id}: {review['status'] if review else 'decided'} (by the running agent)")
    return EXIT_OK


def operator_name() -> str:
    """Who decides: the user behind sudo (agentctl runs this command as the agent's user)."""
    import getpass

    return os.environ.get("PILLARS_OPERATOR") or os.environ.get("SUDO_USER") or getpass.getuser()
