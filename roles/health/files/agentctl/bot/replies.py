"""The bot's commands, answered with agentctl's own command code (no second implementation).

/status is `agentctl status`, /costs [today|yesterday|7d] is `agentctl costs --since P`, /failed is
`agentctl failed` for every agent; their text goes in a <pre> block. /review sends one message
per waiting review with its buttons.
"""

import contextlib
import io
from argparse import Namespace

from ..agents import discover_agents
from ..contract.telegram import MAX_MESSAGE_CHARS, escape
from ..errors import UsageError
from .people import evidence_text, field_text, person_text

PERIODS = ("today", "yesterday", "7d")
HELP = "Commands: /status, /costs [today|yesterday|7d], /failed, /review (decide with the buttons)."
# What the <pre> markup and a "cut" note leave of a message for the command's own text.
PRE_ROOM = MAX_MESSAGE_CHARS - 100


def command_output(run, config: dict, args: Namespace) -> str:
    """Run one of agentctl's commands and return what it printed (a usage error: its line)."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            run(config, args)
    except UsageError as error:
        return f"{buffer.getvalue()}{error}".strip()
    return buffer.getvalue().rstrip()


def pre(text: str) -> str:
    if len(text) > PRE_ROOM:
        text = text[:PRE_ROOM] + "\n... (cut: see agentctl on the host)"
    return f"<pre>{escape(text or '(nothing)')}</pre>"


def status(config: dict) -> str:
    from ..commands.status import command_status

    return pre(command_output(command_status, config, Namespace(json=False)))


def costs(config: dict, period: str) -> str:
    from ..commands.costs import command_costs

    if period not in PERIODS:
        return escape(f"/costs takes {', '.join(PERIODS)} (not {period[:20]!r}); e.g. /costs 7d")
    args = Namespace(
        since=period,
        until="yesterday" if period == "yesterday" else "today",
        by="agent",
        agent=None,
        json=False,
    )
    return f"<b>Costs, {period}</b>\n" + pre(command_output(command_costs, config, args))


def failed(config: dict) -> str:
    from ..commands.failed import command_failed

    parts = []
    for agent in discover_agents(config):
        text = command_output(command_failed, config, Namespace(agent=agent.slug, json=False))
        parts.append(f"{agent.slug}:\n{text}")
    return pre("\n\n".join(parts) or "no agents on this host")


def review_message(slug: str, review: dict, privacy: str, valid_hours: float) -> str:
    """The text of one review: key fields, evidence, the numbered candidates (as privacy allows)."""
    lines = [
        f"<b>{escape(slug)}</b>: a document needs your decision",
        f"review <code>{escape(str(review['item_id']))}</code>: "
        f"{escape(str(review.get('reason') or ''))}",
    ]
    fields = review.get("fields") if isinstance(review.get("fields"), dict) else {}
    shown = [(key, field_text(key, value, privacy)) for key, value in fields.items()]
    shown = [(key, text) for key, text in shown if text is not None]
    if shown:
        lines.append("")
        lines += [f"{escape(key.replace('_', ' '))}: {escape(text)}" for key, text in shown]
    evidence = review.get("evidence") if isinstance(review.get("evidence"), list) else []
    if evidence:
        lines.append("")
        lines.append("evidence:")
        lines += [f"• {escape(evidence_text(e, privacy))}" for e in evidence if isinstance(e, dict)]
    lines.append("")
    for choice in candidates(review):
        lines.append(f"[{choice['number']}] {escape(person_text(choice['choice'], privacy))}")
    lines.append(f"(buttons valid {valid_hours:g} h)")
    return "\n".join(lines)


def candidates(review: dict) -> list[dict]:
    found = []
    for entry in review.get("choices") or []:
        if isinstance(entry, dict) and isinstance(entry.get("number"), int):
            choice = entry.get("choice") if isinstance(entry.get("choice"), dict) else {}
            found.append({"number": entry["number"], "choice": choice})
    return found


def button_label(choice: dict, privacy: str) -> str:
    return f"{choice['number']}: {person_text(choice['choice'], privacy)}"[:60]
