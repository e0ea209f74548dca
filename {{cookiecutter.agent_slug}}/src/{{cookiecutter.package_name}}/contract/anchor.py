"""Audit anchors: an audit chain's head (sequence and hash) kept off the box, checked against.

A chain proves that no entry was edited or removed since the last one was written, unless someone
recomputed every hash after theirs. An anchor closes that gap: the head of each agent's log, taken
at a known time and kept where the box cannot reach (a backup, a digest in the owner's chat). The
log then still holds the anchored entry with the very same hash, or its history was rewritten.

An anchor comes in two forms, both read by parse_anchor():

- the anchor file a backup writes, exactly
  {"format": "pillars-audit-anchor/1", "taken_at": "<UTC ISO 8601, Z>",
   "agents": {"<slug>": {"sequence": <int>, "hash": "<64 hex>"}}}
- the text of a digest: one line `audit <slug> #<sequence> <hash>` per agent, and optionally a
  line `audit chain heads at <UTC ISO 8601, Z>` saying when they were taken.

    head_entry(log) -> {"sequence": n, "hash": h} | None   the head of a log, as an anchor keeps it
    anchor_document(heads, taken_at) -> dict               the anchor file's content
    digest_lines(heads, taken_at) -> list[str]             the same heads, as a digest carries them
    parse_anchor(text, slug, source) -> Anchor             one agent's anchor, or AnchorError
    read_anchor(path, slug) -> Anchor                      the same, from a file
    check_against(log, anchor) -> str | None               why the log fails the anchor, or None
"""

import json
import re
from collections import namedtuple
from datetime import UTC, datetime
from pathlib import Path

from .audit import last_entry

FORMAT = "pillars-audit-anchor/1"
HASH = re.compile(r"[0-9a-f]{64}")
DIGEST_LINE = re.compile(r"^\s*audit (?P<slug>\S+) #(?P<sequence>\d+) (?P<hash>[0-9a-f]{64})\s*$")
TAKEN_LINE = re.compile(r"^\s*audit chain heads at (?P<taken_at>\S+)\s*$")
NOT_AN_ANCHOR = (
    "neither an anchor file ({format}) nor a digest's `audit <slug> #N <hash>` lines; give the "
    "anchor a backup wrote or the text of a digest"
)


class AnchorError(Exception):
    """The anchor cannot be used: missing, not an anchor, or without this agent; says which."""


Anchor = namedtuple("Anchor", "slug sequence hash taken_at source")
Anchor.__doc__ = """One agent's anchored head: its entry number, that entry's hash, when it was
taken (None when the anchor does not say) and where it was read from (for messages)."""


def anchor_time(moment: datetime) -> str:
    """Return a time as anchors write it: UTC, whole seconds, ending in Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_anchor_time(text) -> datetime | None:
    """Return the UTC time an anchor names (ISO 8601 ending in Z), or None when it is not one."""
    if not isinstance(text, str) or not text.endswith("Z"):
        return None
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        return None
    return moment


def head_entry(log: Path) -> dict | None:
    """Return the head of the audit log at `log` as an anchor keeps it, or None when it is empty."""
    entry = last_entry(log)
    if entry is None:
        return None
    sequence, digest = entry.get("seq"), entry.get("hash")
    if not (is_sequence(sequence) and isinstance(digest, str) and HASH.fullmatch(digest)):
        return None
    return {"sequence": sequence, "hash": digest}


def anchor_document(heads: dict[str, dict], taken_at: datetime) -> dict:
    """Return the anchor file's content for heads (slug -> head_entry()) taken at taken_at."""
    return {
        "format": FORMAT,
        "taken_at": anchor_time(taken_at),
        "agents": {slug: dict(heads[slug]) for slug in sorted(heads)},
    }


def digest_lines(heads: dict[str, dict], taken_at: datetime) -> list[str]:
    """Return the lines a digest carries for these heads: when, then one line per agent."""
    lines = [f"audit chain heads at {anchor_time(taken_at)}"]
    for slug in sorted(heads):
        lines.append(f"audit {slug} #{heads[slug]['sequence']} {heads[slug]['hash']}")
    return lines


def is_sequence(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def read_anchor(path: Path, slug: str) -> Anchor:
    """Read the anchor at path (an anchor file or a digest) and return slug's entry."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise AnchorError(f"{path}: no such file; give the anchor file or saved digest") from None
    except IsADirectoryError:
        raise AnchorError(f"{path} is a folder; give the anchor file or saved digest") from None
    except OSError as error:
        raise AnchorError(f"cannot read {path} ({error.strerror or error})") from None
    return parse_anchor(text, slug, str(path))


def parse_anchor(text: str, slug: str, source: str = "the anchor") -> Anchor:
    """Return slug's anchor from an anchor file's text or a digest's text.

    The entry named by slug is taken; when the anchor holds a single agent, that one.
    """
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if document is not None:
        heads, taken_at = from_document(document, source)
    else:
        heads, taken_at = from_digest(text, source)
    if slug in heads:
        chosen = slug
    elif len(heads) == 1:
        (chosen,) = heads
    else:
        raise AnchorError(
            f"{source} has no entry for {slug} (it anchors {', '.join(sorted(heads))}); give "
            "the anchor of this agent's host"
        )
    sequence, digest = heads[chosen]
    return Anchor(chosen, sequence, digest, taken_at, source)


def from_document(document, source: str) -> tuple[dict, str]:
    not_one = AnchorError(f"{source} is not an audit anchor: {NOT_AN_ANCHOR.format(format=FORMAT)}")
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise not_one
    taken_at, agents = document.get("taken_at"), document.get("agents")
    if parse_anchor_time(taken_at) is None or not isinstance(agents, dict) or not agents:
        raise AnchorError(
            f"{source} is not a valid {FORMAT} anchor: it needs taken_at (UTC, ending in Z) and "
            "agents with at least one entry"
        )
    heads = {}
    for name, head in agents.items():
        sequence = head.get("sequence") if isinstance(head, dict) else None
        digest = head.get("hash") if isinstance(head, dict) else None
        if not (is_sequence(sequence) and isinstance(digest, str) and HASH.fullmatch(digest)):
            raise AnchorError(
                f"{source}: the entry of {name} is not a sequence (a whole number from 1) and a "
                "hash (64 lowercase hex digits)"
            )
        heads[name] = (sequence, digest)
    return heads, taken_at


def from_digest(text: str, source: str) -> tuple[dict, str | None]:
    heads, taken_at = {}, None
    for line in text.splitlines():
        taken = TAKEN_LINE.match(line)
        if taken and parse_anchor_time(taken["taken_at"]) is not None:
            taken_at = taken["taken_at"]
            continue
        match = DIGEST_LINE.match(line)
        if match:
            heads[match["slug"]] = (int(match["sequence"]), match["hash"])
    if not heads:
        raise AnchorError(f"{source} is not an audit anchor: {NOT_AN_ANCHOR.format(format=FORMAT)}")
    return heads, taken_at


def check_against(log: Path, anchor: Anchor) -> str | None:
    """Return why the audit log at `log` fails the anchor, or None when its entry matches.

    Only the anchored entry is compared; that the chain from the first entry to the last is intact
    is the plain verify's part. Both together prove the history up to the anchor unchanged.
    """
    when = f"the anchor taken at {anchor.taken_at}" if anchor.taken_at else "the anchor"
    last = 0
    try:
        handle = log.open("rb")
    except FileNotFoundError:
        handle = None
    if handle is not None:
        with handle:
            for raw in handle:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue  # the plain verify names it
                sequence = entry.get("seq") if isinstance(entry, dict) else None
                if not is_sequence(sequence):
                    continue
                last = max(last, sequence)
                if sequence == anchor.sequence:
                    if entry.get("hash") == anchor.hash:
                        return None
                    return f"entry {anchor.sequence} differs from {when}: the history was rewritten"
    return (
        f"the log is shorter than the anchor: entries were removed (it ends at entry {last}, "
        f"{when} is at entry {anchor.sequence})"
    )
