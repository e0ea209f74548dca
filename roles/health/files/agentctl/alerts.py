"""The alert state (what the owner was already told) and the outbox of messages to deliver."""

import contextlib
import fcntl
import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

from .checks import HOST_KEY, Finding
from .contract.files import atomic_write_json
from .contract.telegram import escape, split_message
from .contract.times import human_duration, iso, parse_time
from .errors import DeliveryError
from .output import logger, say
from .redaction import REDACT, read_bot_token
from .telegram import html_to_text, send, telegram_client

STATE_FILE = "alerts.json"
LOCK_FILE = "lock"
STATE_VERSION = 1


# Messages waiting for Telegram; beyond this the oldest are dropped (and said so in the journal).
OUTBOX_MAX_MESSAGES = 200


def empty_state() -> dict:
    return {
        "version": STATE_VERSION,
        "problems": {},
        "agents": {},
        "outbox": [],
        "last_check": None,
        "digest_sent": None,
    }


def load_state(config: dict) -> dict:
    """Read the alert state; a file that cannot be read is kept aside and the state starts over."""
    path = config["state_dir"] / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError("unknown layout")
    except FileNotFoundError:
        return empty_state()
    except (ValueError, UnicodeDecodeError) as error:
        aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
        with contextlib.suppress(OSError):
            path.rename(aside)
        logger.warning("%s was unreadable (%s); kept as %s, starting over", path, error, aside.name)
        return empty_state()
    return {**empty_state(), **state}


def save_state(config: dict, state: dict) -> None:
    path = config["state_dir"] / STATE_FILE
    atomic_write_json(path, state, mode=0o600)
    give_to_the_directorys_owner(path)


@contextlib.contextmanager
def state_lock(config: dict):
    """Let one agentctl at a time change the alert state (the timer and OnFailure may meet).

    Opened for reading only (flock needs no more): the units' user, which writes no file it does
    not own, still takes a lock file root created.
    """
    config["state_dir"].mkdir(mode=0o700, parents=True, exist_ok=True)
    path = config["state_dir"] / LOCK_FILE
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        give_to_the_directorys_owner(path)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def give_to_the_directorys_owner(path: Path) -> None:
    """Run as root (`sudo agentctl check`), give what it wrote to the state directory's owner.

    The units run as the tools' user, and systemd's StateDirectory= gives them only a directory
    whose top they do not own yet: a file root left inside stays root's.
    """
    if os.geteuid() != 0:
        return
    owner = path.parent.stat()
    if owner.st_uid != 0:
        with contextlib.suppress(FileNotFoundError):  # replaced meanwhile by the units' own write
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)


def advance(state: dict, findings: list[Finding], now: datetime, reminder: timedelta):
    """Apply one run's findings to the state; return (new, reminders, recovered, events) to tell."""
    problems = state["problems"]
    current = {f.key: f for f in findings if not f.event}
    new, reminders, recovered = [], [], []
    for key, finding in current.items():
        known = problems.get(key)
        if known is None:
            problems[key] = {
                "subject": finding.subject,
                "check": finding.check,
                "text": finding.text,
                "command": finding.command,
                "since": iso(now),
                "last_sent": iso(now),
            }
            new.append(finding)
            continue
        known.update(text=finding.text, command=finding.command)
        last_sent = parse_time(known.get("last_sent")) or now
        if now - last_sent >= reminder:
            known["last_sent"] = iso(now)
            reminders.append((finding, parse_time(known.get("since")) or now))
    for key in sorted(set(problems) - set(current)):
        known = problems.pop(key)
        recovered.append((known, parse_time(known.get("since")) or now))
    events = [f for f in findings if f.event]
    return new, reminders, recovered, events


def compose_alert(host: str, new, reminders, recovered, events, now: datetime) -> list[str]:
    """Return one message (HTML lines) grouping everything by agent, each with a command to run."""
    if not (new or reminders or recovered or events):
        return []
    lines_by_subject: dict[str, list[str]] = {}

    def line(subject: str, text: str) -> None:
        lines_by_subject.setdefault(subject, []).append(text)

    for finding in [*new, *events]:
        line(finding.subject, f"🔴 {escape(finding.text)} → <code>{escape(finding.command)}</code>")
    for finding, since in reminders:
        line(
            finding.subject,
            f"⏰ still, for {human_duration((now - since).total_seconds())}: "
            f"{escape(finding.text)} → <code>{escape(finding.command)}</code>",
        )
    for known, since in recovered:
        line(
            known.get("subject", "?"),
            f"✅ recovered after {human_duration((now - since).total_seconds())} "
            f"(was: {escape(known.get('text', known.get('check', '')))})",
        )
    counts = []
    if new or events:
        counts.append(f"{len(new) + len(events)} new problem(s)")
    if reminders:
        counts.append(f"{len(reminders)} still open")
    if recovered:
        counts.append(f"{len(recovered)} recovered")
    message = [f"<b>{escape(host)}</b>: {', '.join(counts)}"]
    for subject in sorted(lines_by_subject, key=lambda s: (s != HOST_KEY, s)):
        message.append("")
        message.append(f"<b>{escape(subject)}</b>")
        message.extend(lines_by_subject[subject])
    return message


def enqueue(state: dict, lines: list[str], now: datetime) -> int:
    """Add a message (split as needed) to the outbox; return how many parts it took."""
    parts = [part.strip("\n") for part in split_message(REDACT("\n".join(lines)))]
    parts = [part for part in parts if part.strip()]
    for part in parts:
        state["outbox"].append({"text": part, "created": iso(now)})
    overflow = len(state["outbox"]) - OUTBOX_MAX_MESSAGES
    if overflow > 0:
        del state["outbox"][:overflow]
        logger.error(
            "Dropped the %d oldest undelivered message(s): Telegram has been unreachable too long",
            overflow,
        )
    return len(parts)


def deliver(config: dict, state: dict) -> bool:
    """Send the outbox in order; keep what could not be sent. Return True when it is empty."""
    outbox = state["outbox"]
    if not outbox:
        return True
    client = telegram_client(config, read_bot_token(config))
    if client is None:
        for message in outbox:
            say(html_to_text(message["text"]))
        logger.warning(
            "Telegram is not configured (telegram_chat_id and the bot token in %s): "
            "%d message(s) only written here",
            config["secret_file"],
            len(outbox),
        )
        outbox.clear()
        save_state(config, state)
        return True
    while outbox:
        try:
            send(client, outbox[0]["text"])
        except DeliveryError as error:
            logger.error("%s", error)
            if error.keep:
                return False
            logger.error(
                "Dropped a message Telegram will never take: %s",
                html_to_text(outbox[0]["text"])[:200],
            )
        outbox.pop(0)
        save_state(config, state)
    return True
