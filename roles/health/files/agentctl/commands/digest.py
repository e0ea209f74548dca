"""`agentctl digest`: a day's costs and items per agent, sent once a day."""

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ..agents import discover_agents, load_agent_secrets
from ..alerts import deliver, enqueue, load_state, save_state, state_lock
from ..clock import parse_day, parse_time, utc_now
from ..config import is_number
from ..errors import EXIT_OK, EXIT_PROBLEM
from ..output import say
from ..redaction import REDACT, read_bot_token
from ..snapshot import cost_file, read_cost_records, visible_files
from ..systemd import hostname
from ..telegram import Telegram, esc, html_to_text


def audit_counts(path: Path, start: datetime, end: datetime) -> dict[str, int]:
    """Count the items an agent moved to done/, review/ and failed/ between start and end."""
    counts = {"done": 0, "review": 0, "failed": 0}
    for line in lines_backwards(path):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        moment = parse_time(entry.get("ts"))
        if moment is None:
            continue
        if moment < start:
            break  # the log is in time order: everything before is older still
        if moment >= end or entry.get("action") != "item.moved":
            continue
        destination = (entry.get("detail") or {}).get("to")
        if destination in counts:
            counts[destination] += 1
    return counts


def lines_backwards(path: Path, block: int = 64 * 1024):
    """Yield the lines of a file from the last to the first, reading only what is needed."""
    try:
        handle = path.open("rb")
    except (FileNotFoundError, NotADirectoryError):
        return
    with handle:
        position = handle.seek(0, os.SEEK_END)
        rest = b""
        while position > 0:
            step = min(block, position)
            position -= step
            handle.seek(position)
            chunk = handle.read(step) + rest
            lines = chunk.split(b"\n")
            rest = lines.pop(0)
            for line in reversed(lines):
                if line.strip():
                    yield line.decode("utf-8", errors="replace")
        if rest.strip():
            yield rest.decode("utf-8", errors="replace")


def compose_digest(config: dict, day: date) -> list[str]:
    agents = discover_agents(config)
    start = datetime.combine(day, datetime.min.time(), UTC)
    end = start + timedelta(days=1)
    lines = [f"📊 <b>{esc(hostname())}</b>: digest for {day.isoformat()} (UTC)"]
    total_cost, total_calls, totals = 0.0, 0, {"done": 0, "review": 0, "failed": 0}
    total_unpriced = 0
    pending_total = 0
    for agent in agents:
        cost, calls, unpriced = 0.0, 0, 0
        for record in read_cost_records(cost_file(agent, day)):
            calls += 1
            value = record.get("cost_usd")
            if is_number(value):
                cost += value
            else:
                unpriced += 1
        counts = audit_counts(agent.state / "audit.jsonl", start, end)
        pending = len(visible_files(agent.state / "review"))
        total_cost += cost
        total_calls += calls
        total_unpriced += unpriced
        pending_total += pending
        for key in totals:
            totals[key] += counts[key]
        note = f", {unpriced} call(s) without a price" if unpriced else ""
        lines.append(
            f"<b>{esc(agent.slug)}</b>: ${cost:.2f} ({calls} LLM call(s){note}); "
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
    return lines


def command_digest(config: dict, args) -> int:
    now = utc_now()
    day = parse_day(args.day, now.date())
    agents = discover_agents(config)
    load_agent_secrets(agents)
    REDACT.add(read_bot_token(config))
    message = compose_digest(config, day)
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
        delivered = deliver(config, state, Telegram(config, read_bot_token(config)))
    return EXIT_OK if delivered else EXIT_PROBLEM
