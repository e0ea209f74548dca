"""The state directory's layout, the names in it, and the slug rule with the names it derives.

    STATE_FOLDERS                      incoming, processing, done, failed, review, outbox, ...
    AUDIT_FILE, HEARTBEAT_FILE, DATABASE_FILE, LOCK_FILE, LOG_FILE, SIDECAR_SUFFIX, ...
    sidecar_path(item) -> Path         item's ".why.json" beside it
    visible_files(folder) -> [DirEntry]  what an operator counts: no hidden files, no sidecars
    cost_file(state, day) -> Path      costs/YYYY-MM-DD.jsonl
    slug_problem(slug) -> str | None   why a slug cannot name an agent, or None
    system_user(slug), unit_name(slug)

The slug rule is written here only: the generator hook and the Ansible role's filter plugin
(roles/agent/filter_plugins/agent_slug.py) load this file by path, so it imports the standard
library alone.
"""

import os
import re
from datetime import date
from pathlib import Path

INCOMING = "incoming"
PROCESSING = "processing"
DONE = "done"
FAILED = "failed"
REVIEW = "review"
OUTBOX = "outbox"
ARCHIVE = "archive"
# What operators decide (review resolve) while the agent runs, for the agent to apply.
DECISIONS = "decisions"
COSTS = "costs"
STATE_FOLDERS = (INCOMING, PROCESSING, DONE, FAILED, REVIEW, OUTBOX, ARCHIVE, DECISIONS)
# Where an item ends: the `to` of an audit `item.moved` entry.
END_FOLDERS = (DONE, REVIEW, FAILED)

AUDIT_FILE = "audit.jsonl"
AUDIT_HEAD_SUFFIX = ".head"
HEARTBEAT_FILE = "heartbeat.json"
# Made with the folders by the agent's first run: a directory without it holds no agent's state.
DATABASE_FILE = "agent.db"
LOCK_FILE = "agent.lock"
# Held by the agent around each item and the work between items; a snapshot takes it to copy the
# state between two items (reliability/snapshot.py).
GATE_FILE = "items.lock"
# Held by a snapshot while it waits for the gate: the agent passes it before taking the gate, so it
# cannot take its next item first, however soon it comes back for it.
TURNSTILE_FILE = "snapshot.lock"
LOG_FILE = "agent.log"
# The OCR start check's verdict, with the identity of the files it found (reading/ocr.py).
OCR_CHECK_FILE = "ocr-check.json"
SIDECAR_SUFFIX = ".why.json"
COST_FILE_SUFFIX = ".jsonl"
# Hidden temp files of the atomic writes: name them so that nothing counts them as items.
TEMP_MARKER = ".tmp"

# The slug becomes the command, the systemd unit agent-<slug>.service and the system user
# agent-<slug>; useradd refuses user names longer than 32 characters.
SYSTEM_USER_PREFIX = "agent-"
UNIT_SUFFIX = ".service"
LINUX_USER_NAME_MAX_LENGTH = 32
SLUG_MAX_LENGTH = LINUX_USER_NAME_MAX_LENGTH - len(SYSTEM_USER_PREFIX)
SLUG_PATTERN = re.compile(r"[a-z][a-z0-9-]*")
# A systemd unit name HEALTH_SERVICES may hold: the agent's settings refuse any other, and agentctl
# ignores any other in a heartbeat.
SERVICE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9@._-]+$")


def slug_problem(slug: str) -> str | None:
    """Say why slug cannot name an agent (command, unit, system user), or None when it can."""
    if not slug:
        return "is empty; it names the command, the systemd unit and the system user"
    if "/" in slug or "\\" in slug or ".." in slug:
        return 'contains a path separator or ".."; it becomes a directory name'
    if not SLUG_PATTERN.fullmatch(slug):
        return 'must start with a lowercase letter and contain only a-z, 0-9 and "-"'
    if slug.endswith("-") or "--" in slug:
        return 'must not end with "-" or contain "--"'
    if len(slug) > SLUG_MAX_LENGTH:
        return (
            f"is {len(slug)} characters, the limit is {SLUG_MAX_LENGTH}: the system user "
            f"{SYSTEM_USER_PREFIX}<slug> must fit Linux's {LINUX_USER_NAME_MAX_LENGTH}-character "
            "user names"
        )
    return None


def is_slug(slug: str) -> bool:
    return slug_problem(slug) is None


def system_user(slug: str) -> str:
    return f"{SYSTEM_USER_PREFIX}{slug}"


def unit_name(slug: str) -> str:
    return f"{SYSTEM_USER_PREFIX}{slug}{UNIT_SUFFIX}"


def sidecar_path(item: Path) -> Path:
    """Return the sidecar that says why item is where it is (failed/, review/)."""
    return item.with_name(item.name + SIDECAR_SUFFIX)


def is_visible(name: str) -> bool:
    """Tell whether a folder entry is an item: not hidden (temp files), not a sidecar."""
    return not name.startswith(".") and not name.endswith(SIDECAR_SUFFIX)


def visible_files(folder: Path) -> list[os.DirEntry]:
    """Return the items of a folder ([] when it does not exist)."""
    try:
        with os.scandir(folder) as scan:
            return [entry for entry in scan if is_visible(entry.name)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def cost_file(state: Path, day: date) -> Path:
    """Return the file that holds the cost records of one UTC day."""
    return state / COSTS / f"{day.isoformat()}{COST_FILE_SUFFIX}"
