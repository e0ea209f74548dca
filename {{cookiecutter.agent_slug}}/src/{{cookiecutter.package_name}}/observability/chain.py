"""The audit log's format: how an entry is sealed into the chain, and how the chain is verified.

One JSON object per line, in canonical form (sorted keys, no spaces), its hash the SHA-256 of that
form without the hash, its "prev" the hash of the entry before it (GENESIS_HASH for the first).
audit.head checkpoints the head's seq and hash. Writing is observability/audit.py's; reading back
and checking needs nothing else (`audit verify`, the backup's and agentctl's checks).
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64


def canonical_json(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict) -> str:
    """Hash an entry (without its own hash field) canonically."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def sealed_line(body: dict) -> tuple[str, bytes]:
    """Return the hash of an entry's body and the log line holding both, encoded once.

    The line is the canonical form the hash is taken over, with the hash added as its last key.
    """
    canonical = canonical_json(body)
    digest = hashlib.sha256(canonical).hexdigest()
    return digest, canonical[:-1] + b',"hash":"' + digest.encode() + b'"}\n'


# Values JSON reads back as they were written: a flat detail of these is hashed as it is.
PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def as_read_back(detail: dict) -> dict:
    """Return detail as verify() will read it from the log, so that its hash is the same.

    A flat detail of plain values is that already; anything else (lists, paths, keys that are
    not text) takes a JSON round trip.
    """
    if all(type(key) is str and type(value) in PLAIN_TYPES for key, value in detail.items()):
        return dict(detail)
    return json.loads(json.dumps(detail, default=str))


@dataclass
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def head_path_for(path: Path) -> Path:
    """Return where the chain head of the audit log at path is kept."""
    return path.with_suffix(".head")


def read_head(head_path: Path) -> tuple[int, str]:
    """Return (seq, hash) of the last committed entry."""
    try:
        head = json.loads(head_path.read_text(encoding="utf-8"))
        return int(head["seq"]), str(head["hash"])
    except FileNotFoundError:
        return 0, GENESIS_HASH
    except (ValueError, KeyError, TypeError):
        logger.error("Audit head %s is unreadable; audit verify will report it", head_path)
        return 0, GENESIS_HASH


def is_torn_fragment(raw: bytes) -> bool:
    """Tell whether a line that is no entry is the start of one that a crash cut short.

    Every entry is one JSON object, so a cut one starts with "{". Passing over it is safe: it
    takes no seq, so an entry edited into one still leaves its seq missing, which verify reports.
    """
    return raw.startswith(b"{")


def verify(path: Path) -> list[Problem]:
    """Check the whole chain and the head; return every problem found (empty: intact)."""
    head_seq, head_hash = read_head(head_path_for(path))
    problems: list[Problem] = []
    previous_hash, expected_seq, line_number = GENESIS_HASH, 1, 0
    hash_at_head = GENESIS_HASH if head_seq == 0 else None
    if path.exists():
        with path.open("rb") as handle:
            for line_number, raw in enumerate(handle, start=1):
                try:
                    entry = json.loads(raw)
                    seq = entry["seq"]
                except (ValueError, KeyError, TypeError):
                    if raw.endswith(b"\n") and is_torn_fragment(raw):
                        # A write a crash tore, closed by the recovery: it took no seq, so the
                        # entry after it (if any) must carry on the chain as if it were absent.
                        continue
                    problems.append(
                        Problem(line_number, "not a valid audit entry (edited or torn)")
                    )
                    previous_hash, expected_seq = None, expected_seq + 1
                    continue
                if seq != expected_seq:
                    problems.append(
                        Problem(
                            line_number,
                            f"seq {seq} where {expected_seq} was expected "
                            f"(entries removed or reordered)",
                        )
                    )
                if previous_hash is not None and entry.get("prev") != previous_hash:
                    problems.append(
                        Problem(
                            line_number,
                            f"seq {seq}: previous-hash link broken "
                            "(an entry before it was edited or removed)",
                        )
                    )
                if entry.get("hash") != entry_hash(entry):
                    problems.append(
                        Problem(
                            line_number,
                            f"seq {seq} ({entry.get('action')}): content does not "
                            "match its hash (entry edited)",
                        )
                    )
                if seq == head_seq:
                    hash_at_head = entry.get("hash")
                previous_hash, expected_seq = entry.get("hash"), seq + 1
    last_seq = expected_seq - 1
    if head_seq > last_seq:
        problems.append(
            Problem(
                line_number,
                f"log ends at seq {last_seq} but the head says {head_seq} "
                "(entries cut off the end)",
            )
        )
    elif hash_at_head != head_hash:
        problems.append(
            Problem(
                line_number,
                f"entry seq {head_seq} does not match the head checkpoint "
                "(entries rewritten since the checkpoint)",
            )
        )
    return problems
