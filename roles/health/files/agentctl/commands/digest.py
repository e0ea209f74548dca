"""`agentctl digest`: a day's costs and items per agent, sent once a day.

It ends with each agent's audit chain head (`audit <slug> #N <hash>`, contract/anchor.py): kept in
the owner's chat, off the box, they are what `<agent> audit verify --against` checks a log against.
"""

from datetime import date, datetime
from decimal import Decimal

from ..agents import discover_agents, load_agent_secrets
from ..alerts import deliver, enqueue, load_state, save_state, state_lock
from ..contract.anchor import digest_lines, head_entry
from ..contract.audit import audit_counts
from ..contract.costs import amount, read_cost_records
from ..contract.layout import AUDIT_FILE, END_FOLDERS, REVIEW, cost_file, visible_files
from ..contract.telegram import escape
from ..contract.times import DateError, day_bounds, parse_day, utc_now
from ..errors import EXIT_OK, EXIT_PROBLEM, UsageError
from ..output import say
from ..redaction import REDACT, read_bot_token
from ..systemd import hostname
from ..telegram import html_to_text


def compose_digest(config: dict, day: date, now: datetime | None = None) -> list[str]:
    agents = discover_agents(config)
    now = now or utc_now()
    heads = {}
    start, end = day_bounds(day)
    lines = [f"📊 <b>{escape(hostname())}</b>: digest for {day.isoformat()} (UTC)"]
    total_cost, total_calls, totals = Decimal(0), 0, dict.fromkeys(END_FOLDERS, 0)
    total_unpriced = 0
    pending_total = 0
    for agent in agents:
        cost, calls, unpriced = Decimal(0), 0, 0
        for record in read_cost_records(cost_file(agent.state, day)):
            calls += 1
            value = amount(record)
            if value is None:
                unpriced += 1
            else:
                cost += value
        counts = audit_counts(agent.state / AUDIT_FILE, start, end)
        head = head_entry(agent.state / AUDIT_FILE)
        if head is not None:
            heads[agent.slug] = head
        pending = len(visible_files(agent.state / REVIEW))
        total_cost += cost
        total_calls += calls
        total_unpriced += unpriced
        pending_total += pending
        for key in totals:
            totals[key] += counts[key]
        note = f", {unpriced} call(s) without a price" if unpriced else ""
        lines.append(
            f"<b>{escape(agent.slug)}</b>: ${cost:.2f} ({calls} LLM call(s){note}); "
            f"{sum(counts.values())} processed: {counts['done']} done, "
            f"{counts['review']} to review, {counts['failed']} failed; "
            f"{pending} waiting for review now"
        )
    if not agents:
        lines.append("no agents on this host")
    note = f", {total_unpriced} call(s) without a price" if total_unpriced else ""
    lines.append(
        f"<b>total</b>: ${total_cost:.2f} ({total_calls} LLM call(s){note}); "
        f"{sum(totals.values())} processed: {totals['done']} done, {totals['review']} to review, "
        f"{totals['failed']} failed; {pending_total} waiting for review"
    )
    lines.append("→ <code>agentctl costs --since yesterday --by agent</code>")
    if agents:
        lines += [escape(line) for line in digest_lines(heads, now)]
        lines += [
            f"audit {escape(agent.slug)}: no entries yet"
            for agent in agents
            if agent.slug not in heads
        ]
    return lines


def command_digest(config: dict, args) -> int:
    now = utc_now()
    try:
        day = parse_day(args.day, now.date())
    except DateError as error:
        raise UsageError(str(error)) from None
    agents = discover_agents(config)
    load_agent_secrets(agents)
    REDACT.add(read_bot_token(config))
    message = compose_digest(config, day, now)
    if not args.send:
        for line in message:
            say(html_to_text(line))
        return EXIT_OK
    with state_lock(config):
        state = load_state(config)
        if state.get("digest_sent") == day.isoformat() and not args.force:
            say(f"the digest for {day} was already sent (--force sends it again)")
            return EXIT_OK
        state["digest_sent"] = day.isoformat()
        enqueue(state, message, now)
        save_state(config, state)
        delivered = deliver(config, state)
    return EXIT_OK if delivered else EXIT_PROBLEM
