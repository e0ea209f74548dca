"""An offline, deterministic stand-in for an LLM: no HTTP, no key, real token usage.

It answers the default job's extraction prompt by reading `Label: value` lines of the document that
follows the `--- DOCUMENT ---` line, so the whole pipeline, costs included, runs on a laptop.

Fault injection, one line in the document:
    FAKE-LLM: malformed    answer text that is not JSON (billed, like a real model's slip)
    FAKE-LLM: transient    raise a transient LLMError, unbilled (as a dropped connection would)
    FAKE-LLM: permanent    raise a permanent LLMError, unbilled (as a refused request would)
    FAKE-LLM: sleep N      sleep N seconds before answering (to kill the agent mid-call)
    FAKE-LLM: crash        kill the whole process with SIGKILL, as a crashing parser would (a
                           poison pill: it takes the agent down every time it is read)
"""

import json
import math
import os
import re
import signal
import time
from collections.abc import Callable
from datetime import date

from .base import LLMError, Reply, Usage, check_attachments, text_tokens

DOCUMENT_MARKER = "--- DOCUMENT ---"
SUMMARY_MAX_CHARS = 200
MALFORMED_TEXT = "Sure! Here is what I found in the document (sorry, no JSON this time)."

FIELD_LABELS = {
    "full_name": ("name", "patient", "full name", "client", "customer"),
    "last_name": ("last name", "surname", "family name"),
    "first_name": ("first name", "given name"),
    "birth_date": ("date of birth", "dob", "born", "birth date"),
    "document_type": ("document type", "type", "document"),
    "summary": ("summary", "subject"),
}
LABEL_TO_FIELD = {label: field for field, labels in FIELD_LABELS.items() for label in labels}
LABEL_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z .]*?)\s*:\s*(.*?)\s*$")
FAULT_LINE = re.compile(r"^\s*FAKE-LLM\s*:\s*([a-z]+)\s*(\S*)\s*$", re.IGNORECASE)
ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
DAY_FIRST_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


class FakeProvider:
    """Extract fields from `Label: value` lines, deterministically and offline."""

    name = "fake"
    url = "fake://"  # priced from the snapshot's own `fake` entry
    media_types: frozenset[str] = frozenset()  # it reads text only: a scan needs local OCR
    vision_by_default = False
    in_process = True  # answers at once: a batch of items goes on through its calls

    def __init__(self, sleep: Callable[[float], object] = time.sleep):
        self.sleep = sleep

    def __repr__(self) -> str:
        return "FakeProvider()"

    def prepare(self, attachments: tuple) -> tuple:
        """Refuse any attachment: the fake model has no eyes."""
        check_attachments(self, attachments, max_images=0, max_pdf_pages=0, max_request_bytes=0)
        return attachments

    def input_tokens(self, *, system: str, prompt: str, model: str, attachments: tuple) -> int:
        return text_tokens(system + prompt)

    def complete(
        self, *, system: str, prompt: str, model: str, max_tokens: int, attachments: tuple = ()
    ) -> Reply:
        """Answer the extraction prompt with a JSON object, or act out a FAKE-LLM fault line."""
        self.prepare(attachments)
        document = document_part(prompt)
        faults = fault_lines(document)
        if "sleep" in faults:
            self.sleep(faults["sleep"])
        if "crash" in faults:
            os.kill(os.getpid(), signal.SIGKILL)
        if "transient" in faults:
            raise LLMError("fake: simulated transient failure (FAKE-LLM: transient)")
        if "permanent" in faults:
            raise LLMError(
                "fake: simulated permanent failure (FAKE-LLM: permanent)", transient=False
            )
        if "malformed" in faults:
            text = MALFORMED_TEXT
        else:
            text = json.dumps(extract_fields(document), ensure_ascii=False)
        usage = Usage(
            input_tokens=math.ceil(len(system + prompt) / 4),
            output_tokens=math.ceil(len(text) / 4),
        )
        return Reply(text=text, model=model, usage=usage)


def document_part(prompt: str) -> str:
    """Return the text after the `--- DOCUMENT ---` line, or the whole prompt without one."""
    lines = prompt.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == DOCUMENT_MARKER:
            return "\n".join(lines[index + 1 :])
    return prompt


def fault_lines(document: str) -> dict[str, float | None]:
    """Return the FAKE-LLM faults the document asks for, with the sleep length if any."""
    faults: dict[str, float | None] = {}
    for line in document.splitlines():
        match = FAULT_LINE.match(line)
        if not match:
            continue
        kind, argument = match.group(1).lower(), match.group(2)
        if kind == "sleep":
            try:
                faults["sleep"] = max(0.0, float(argument))
            except ValueError:
                continue
        elif kind in ("malformed", "transient", "permanent", "crash"):
            faults[kind] = None
    return faults


def extract_fields(document: str) -> dict[str, str | None]:
    """Read the labelled values of a document into the extraction result."""
    found: dict[str, str] = {}
    summary_line = None
    for line in document.splitlines():
        if not line.strip() or FAULT_LINE.match(line):
            continue
        match = LABEL_LINE.match(line)
        field = LABEL_TO_FIELD.get(_label_key(match.group(1))) if match else None
        if field is None:
            if summary_line is None:
                summary_line = line.strip()
            continue
        value = match.group(2)
        if value and field not in found:
            found[field] = value

    last, first = split_full_name(found.get("full_name", ""))
    if "last_name" in found:
        last = _fix_case(found["last_name"])
    if "first_name" in found:
        first = _fix_case(found["first_name"])
    summary = found.get("summary") or summary_line
    return {
        "last_name": last,
        "first_name": first,
        "birth_date": normalize_date(found["birth_date"]) if "birth_date" in found else None,
        "document_type": found.get("document_type"),
        "summary": summary[:SUMMARY_MAX_CHARS] if summary else None,
    }


def split_full_name(value: str) -> tuple[str | None, str | None]:
    """Return (last, first) from "Jane Doe" or "DOE, Jane"; a single word is a last name."""
    value = " ".join(value.split())
    if not value:
        return None, None
    if "," in value:
        last, _, first = value.partition(",")
        return _fix_case(last) or None, _fix_case(first) or None
    words = value.split(" ")
    if len(words) == 1:
        return _fix_case(words[0]), None
    return _fix_case(words[-1]), _fix_case(" ".join(words[:-1]))


def normalize_date(value: str) -> str:
    """Return YYYY-MM-DD for a YYYY-MM-DD or DD/MM/YYYY date; anything else comes back as given.

    A real model copies what it cannot read, so the job's validation gets to see it.
    """
    value = value.strip()
    iso, day_first = ISO_DATE.match(value), DAY_FIRST_DATE.match(value)
    try:
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3])).isoformat()
        if day_first:
            return date(int(day_first[3]), int(day_first[2]), int(day_first[1])).isoformat()
    except ValueError:
        pass
    return value


def _label_key(label: str) -> str:
    # "D.O.B." and "Date  of birth" are the same labels as "dob" and "date of birth".
    return " ".join(label.lower().replace(".", "").split())


def _fix_case(value: str) -> str:
    value = value.strip()
    return value.title() if value.isupper() else value


def create(*, api_key: str, base_url: str | None, policy, on_wait=None) -> FakeProvider:
    """Build the fake provider; it needs no key, URL or retry policy."""
    return FakeProvider()
