"""`agentctl failed`: an agent's failed items and why they failed."""

import json
from datetime import UTC, datetime

from ..agents import Agent, load_agent_secrets, resolve_agent
from ..contract.files import read_json
from ..contract.health import placed_time
from ..contract.layout import FAILED, sidecar_path, visible_files
from ..contract.times import iso
from ..errors import EXIT_OK
from ..output import say
from ..redaction import REDACT


def failed_items(agent: Agent) -> list[dict]:
    folder = agent.state / FAILED
    items = []
    for entry in visible_files(folder):
        why = read_json(sidecar_path(folder / entry.name))
        why = why if isinstance(why, dict) else {}
        placed = placed_time(folder / entry.name)
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
