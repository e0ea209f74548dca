"""`agentctl failed`: an agent's failed items and why they failed."""

import json
from datetime import UTC, datetime

from ..agents import SIDECAR_SUFFIX, Agent, load_agent_secrets, resolve_agent
from ..clock import iso
from ..errors import EXIT_OK
from ..output import say
from ..redaction import REDACT
from ..snapshot import entry_mtime, placed_time, read_json, visible_files


def failed_items(agent: Agent) -> list[dict]:
    folder = agent.state / "failed"
    items = []
    for entry in visible_files(folder):
        why = read_json(folder / f"{entry.name}{SIDECAR_SUFFIX}") or {}
        placed = placed_time(folder, entry.name, entry_mtime(entry))
        items.append(
            {
                "file": entry.name,
                "item_id": why.get("item_id"),
                "time": why.get("time")
                or (iso(datetime.fromtimestamp(placed, UTC)) if placed else None),
                "attempts": why.get("attempts"),
                "reason": why.get("error") or why.get("reason") or "no reason recorded",
            }
        )
    return sorted(items, key=lambda item: (item["time"] or "", item["file"]))


def command_failed(config: dict, args) -> int:
    agent = resolve_agent(config, args.agent)
    load_agent_secrets([agent])
    items = failed_items(agent)
    if args.json:
        print(REDACT(json.dumps({"agent": agent.slug, "items": items}, indent=2)))
        return EXIT_OK
    if not items:
        say(f"{agent.slug}: nothing in failed/")
        return EXIT_OK
    say(f"{agent.slug}: {len(items)} item(s) in failed/")
    for item in items:
        attempts = f", {item['attempts']} attempt(s)" if item["attempts"] else ""
        say(f"  {item['time'] or '?'}  {item['file']}{attempts}")
        say(f"      {item['reason']}")
    say(f"put one back in the inbox: agentctl retry {agent.slug} FILE")
    return EXIT_OK
