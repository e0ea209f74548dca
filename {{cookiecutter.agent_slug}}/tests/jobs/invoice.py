"""A second job, with no people: an invoice's fields, checked, to outbox/; a human settles a total.

It proves the runtime's Job protocol: the same runtime that runs job.py runs this, untouched. The
LLM extracts the invoice (number, supplier, lines, stated total) as JSON; the lines must add up to
the stated total. When they do not, a human chooses which total is right, and that continues the
item to the same outbox/ a matched document reaches.
"""

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

from {{ cookiecutter.package_name }}.runtime.protocol import (
    Done,
    ItemFailed,
    Job,
    NeedsReview,
    TryLater,
)

SYSTEM_PROMPT = (
    'Extract the invoice as one JSON object: "number", "supplier", "lines" (a list of '
    '{"description", "quantity", "unit_price"}) and "total", amounts as strings.'
)
MARKER = "--- INVOICE ---"
WHICH = {"lines": "the sum of its lines", "stated": "as the invoice states"}


def amount(value) -> Decimal:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise TryLater(f"the LLM answered {value!r} for an amount") from None


def parse_invoice(answer: str) -> dict:
    try:
        fields = json.loads(answer)
        lines = [
            {
                "description": str(line["description"]),
                "quantity": str(amount(line["quantity"])),
                "unit_price": str(amount(line["unit_price"])),
            }
            for line in fields["lines"]
        ]
        return {
            "number": fields.get("number") or "",
            "supplier": fields.get("supplier") or "",
            "lines": lines,
            "total": str(amount(fields["total"])),
        }
    except (ValueError, KeyError, TypeError) as error:
        raise TryLater(f"the LLM answer is not an invoice ({error})") from None


def lines_total(fields: dict) -> Decimal:
    return sum(
        (Decimal(line["quantity"]) * Decimal(line["unit_price"]) for line in fields["lines"]),
        Decimal("0.00"),
    ).quantize(Decimal("0.01"))


class InvoiceJob(Job):
    """Invoices in, checked totals out; no people, no tables of its own."""

    def process(self, path: Path, data: bytes, ctx) -> Done | NeedsReview:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ItemFailed("an invoice must be UTF-8 text") from None
        if not text.strip():
            raise ItemFailed("the invoice is empty")
        answer = ctx.ask(
            SYSTEM_PROMPT, f"{MARKER}\n{text}", purpose="extract_invoice", max_tokens=400
        )
        fields = parse_invoice(answer)
        if not fields["number"]:
            return NeedsReview("the invoice has no number", fields)
        computed, stated = lines_total(fields), Decimal(fields["total"])
        if computed != stated:
            return NeedsReview(
                f"the lines add up to {computed}, the invoice says {stated}",
                fields,
                [{"id": "lines", "total": str(computed)}, {"id": "stated", "total": str(stated)}],
            )
        return self.settled(fields, stated)

    def label(self, choice: dict) -> str:
        return f"total {choice['total']} ({WHICH[choice['id']]})"

    def decide(self, fields: dict, choice: dict) -> Done:
        if choice.get("id") not in WHICH:
            raise LookupError(f"no such total: {choice!r}")
        return self.settled(fields, Decimal(choice["total"]))

    @staticmethod
    def settled(fields: dict, total: Decimal) -> Done:
        return Done(fields, total, audit={"invoice": fields["number"], "total": str(total)})

    def result(self, item_id: str, source: str, done: Done, decided_by: str) -> dict:
        return {
            "item_id": item_id,
            "source": source,
            "invoice": done.fields["number"],
            "supplier": done.fields["supplier"],
            "lines": done.fields["lines"],
            "total": str(done.subject),
            "total_by": decided_by,
        }

    def notification(self, result: dict) -> str:
        return f"Invoice {result['invoice']} from {result['supplier']}: {result['total']}"
