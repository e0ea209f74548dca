"""`agentctl status`: one table of every agent; exit 1 when anything is unhealthy."""

import json
import time

from ..backup import backup_line, read_status
from ..checks import agent_conditions, host_conditions
from ..contract.times import human_duration, iso, parse_time, utc_now
from ..errors import EXIT_OK, EXIT_PROBLEM
from ..output import human_bytes, say
from ..redaction import REDACT
from ..snapshot import inspect_all
from ..systemd import hostname


def command_status(config: dict, args) -> int:
    now, now_monotonic = utc_now(), time.monotonic()
    snapshots, error = inspect_all(config, now)
    findings = host_conditions(config, error)
    for snapshot in snapshots:
        findings += agent_conditions(snapshot, config, now, now_monotonic)
    healthy = not findings
    backup = read_status(config)
    if args.json:
        print(
            json.dumps(
                {
                    "host": hostname(),
                    "time": iso(now),
                    "healthy": healthy,
                    "agents": [s.to_json(now_monotonic) for s in snapshots],
                    "backup": backup,
                    "problems": [
                        {
                            "subject": f.subject,
                            "check": f.check,
                            "text": REDACT(f.text),
                            "command": f.command,
                        }
                        for f in findings
                    ],
                },
                indent=2,
            )
        )
        return EXIT_OK if healthy else EXIT_PROBLEM
    if not snapshots:
        say(
            "no agents on this host yet (nothing under "
            f"{config['agents_dir']} or {config['state_root']})"
        )
    header = (
        "AGENT",
        "UNIT",
        "UPTIME",
        "RESTARTS",
        "LAST SUCCESS",
        "BACKLOG",
        "FAILED",
        "REVIEW",
        "COST TODAY",
        "MEMORY",
    )
    rows = [header]
    for s in snapshots:
        data = s.to_json(now_monotonic)
        last_success = parse_time(data["last_success"])
        backlog = str(s.backlog) + (
            f" ({human_duration(s.backlog_oldest_seconds)})" if s.backlog else ""
        )
        budget = f" / ${s.budget_usd:.2f}" if s.budget_usd is not None else ""
        memory = human_bytes(data["memory_bytes"])
        if data["memory_bytes"] is not None and data["memory_max_bytes"]:
            memory += f" / {human_bytes(data['memory_max_bytes'])}"
        rows.append(
            (
                s.agent.slug,
                f"{data['active_state']}/{data['sub_state']}",
                human_duration(data["uptime_seconds"]),
                "-" if data["restarts"] is None else str(data["restarts"]),
                f"{human_duration((now - last_success).total_seconds())} ago"
                if last_success
                else "never",
                backlog,
                str(s.failed_since_yesterday),
                str(s.review),
                f"${s.cost_today_usd:.2f}{budget}",
                memory,
            )
        )
    if snapshots:
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            say(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
        say("(FAILED: since yesterday 00:00 UTC; BACKLOG: waiting (oldest); COST: today, UTC)")
    if backup is not None:
        say(backup_line(backup, now))
    if findings:
        say()
        say(f"{len(findings)} problem(s):")
        for f in findings:
            say(f"  {f.subject}: {f.text}  -> {f.command}")
    elif snapshots:
        say()
        say("all healthy")
    return EXIT_OK if healthy else EXIT_PROBLEM
