"""The Job protocol: what a job.py provides, and what the runtime gives it in return.

The runtime carries every item the same way (inbox, attempts, time limit, budget, audit, review
queue, outbox, notifications); a job says only what happens to one item's content:

    process(path, data, ctx)  -> Done, or NeedsReview with the choices a human picks from;
                                 raise ItemFailed (never succeeds) or TryLater (may, later)
    decide(fields, choice)    -> Done: the item continued with the choice a human picked
                                 (raise LookupError when that choice no longer holds)
    label(choice)             -> how `review show` presents one choice
    result(item_id, source, done, decided_by) -> the JSON document written to outbox/
    notification(result)      -> the message sent when the result is ready
    open(db), start(settings) -> optional: the job's own tables (every process that opens the
                                 state directory), its data to load (the running agent only)

A choice is a JSON object; its "id", if any, is what the audit log records of it.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..integrations.llm.attachments import Attachment as Attachment  # for ctx.ask(attachments=)
from ..reliability.errors import SetupError as SetupError  # raised by a job: imported from here


class ItemFailed(Exception):
    """This input can never succeed; the message is the reason shown in failed/."""


class TryLater(Exception):
    """This input may succeed on a later attempt (the item goes back to incoming/)."""


@dataclass
class Done:
    """The item is decided: fields for the result, what they were decided about, audit details.

    audit goes into the "match.decided" (or "human.decision") and "outbox.written" entries.
    """

    fields: dict
    subject: Any = None
    audit: dict = field(default_factory=dict)


@dataclass
class NeedsReview:
    """A human must decide: why, the fields so far, the choices offered (may be none), and the
    evidence: what the job checked of the fields, shown by `review show`.

    Each evidence entry is {"key", "value", "found": bool, "page", "line", "text"}: where the
    document states the value (page and line from 1, the line's text), or that it does not.
    """

    reason: str
    fields: dict
    choices: list[dict] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)


class Context(Protocol):
    """What process() gets for one item."""

    item_id: str
    db: Any  # the agent's Database, for a job that keeps tables of its own

    def ask(
        self,
        system: str,
        prompt: str,
        *,
        purpose: str,
        max_tokens: int,
        attachments: tuple[Attachment, ...] = (),
        read_via: str | None = None,
        pages: int | None = None,
    ) -> str:
        """Call the LLM within the daily budget; the cost is recorded, the call audited.

        attachments: images or a PDF the model reads with the prompt (only media types for which
        reads() is true); read_via and pages: how the document was read ("text", "text_layer",
        "ocr", "model", joined by "+") and its page count, noted in the cost record.
        """

    def reads(self, media_type: str) -> bool:
        """Whether the configured LLM reads attachments of this media type."""


class Job(Protocol):
    """One agent's job. Subclass it to inherit the optional methods' defaults."""

    def open(self, db) -> None:
        """Create or open the job's own tables in the agent's database (default: none)."""

    def start(self, settings) -> None:
        """Load the job's data when the agent starts (default: nothing); raise SetupError."""

    def process(self, path: Path, data: bytes, ctx: Context) -> Done | NeedsReview: ...

    def decide(self, fields: dict, choice: dict) -> Done: ...

    def label(self, choice: dict) -> str:
        """Present one choice on one line (default: its JSON)."""
        return json.dumps(choice, ensure_ascii=False, sort_keys=True)

    def result(self, item_id: str, source: str, done: Done, decided_by: str) -> dict: ...

    def notification(self, result: dict) -> str: ...
