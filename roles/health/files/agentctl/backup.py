"""The host's nightly backup, as its status file tells it (written by pillars-backup).

    read_status(config) -> dict | None     None when this host has no backups configured
    backup_problem(status, config, now) -> str | None   why the backup is not fine, or None
    backup_line(status, now) -> str        "last backup 5 h ago, 12.3M" for agentctl status

The status file is absent on a host without a repository: nothing is reported there. It is read by
root or by a member of its group; an unreadable or damaged file is reported, not raised.
"""

import json
from datetime import datetime, timedelta

from .contract.times import human_duration, parse_time
from .output import human_bytes

UNREADABLE = {"unreadable": True}


def read_status(config: dict) -> dict | None:
    path = config["backup_status_file"]
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return UNREADABLE
    return document if isinstance(document, dict) else UNREADABLE


def backup_problem(status: dict, config: dict, now: datetime) -> str | None:
    if status.get("unreadable"):
        return f"backup status {config['backup_status_file']} cannot be read"
    window = timedelta(hours=config["backup_max_age_hours"])
    last_run = status.get("last_run") if isinstance(status.get("last_run"), dict) else {}
    if last_run and not last_run.get("ok"):
        return f"the last backup failed: {last_run.get('error') or 'no reason recorded'}"
    success = status.get("last_success") if isinstance(status.get("last_success"), dict) else {}
    at = parse_time(success.get("at"))
    if at is None:
        installed = parse_time(status.get("installed_at"))
        if installed is not None and now - installed > window:
            since = human_duration((now - installed).total_seconds())
            return f"no backup since backups were set up, {since} ago"
        return None
    if now - at > window:
        return (
            f"the last backup is {human_duration((now - at).total_seconds())} old "
            f"(more than {config['backup_max_age_hours']:g} h)"
        )
    return None


def backup_line(status: dict, now: datetime) -> str:
    success = status.get("last_success") if isinstance(status.get("last_success"), dict) else {}
    at = parse_time(success.get("at"))
    if at is None:
        return "last backup: never"
    total = success.get("total_bytes")
    size = human_bytes(total) if isinstance(total, int) else "-"
    return (
        f"last backup: {success['at']} ({human_duration((now - at).total_seconds())} ago), "
        f"{size}, snapshot {str(success.get('snapshot_id', ''))[:8]}"
    )
