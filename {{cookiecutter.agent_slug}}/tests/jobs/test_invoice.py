"""The runtime runs a job that is not job.py: invoices, with no people, end to end.

The same Agent, handed InvoiceJob instead of the default job, takes invoices from the real inbox,
asks the LLM (an HTTP stand-in) within the budget, writes outbox/, parks an invoice whose lines do
not add up for a human, and continues it with the human's choice, all in the hash-chained audit.
"""

import importlib.util
import json
from pathlib import Path

import pytest
from invoice import MARKER, InvoiceJob

import stubs
from {{ cookiecutter.package_name }}.agent import Agent
from {{ cookiecutter.package_name }}.observability import audit

PACKAGE = "{{ cookiecutter.package_name }}"
PROVIDER = next(
    (
        (name, model)
        for name, module, model in (
            ("anthropic", "anthropic", "claude-sonnet-4-5-20250929"),
            ("openai", "openai_compat", "gpt-4o-mini"),
        )
        if importlib.util.find_spec(f"{PACKAGE}.integrations.llm.{module}")
    ),
    None,
)
RUNTIME = Path(__file__).resolve().parents[2] / "src" / PACKAGE


def invoice(number: str, *lines: tuple[str, str, str], total: str) -> str:
    items = "".join(f"Item: {d} | {q} | {p}\n" for d, q, p in lines)
    return f"Invoice: {number}\nSupplier: ACME Tools\n{items}Total: {total}\n"


def reading_invoices(system: str, prompt: str) -> str:
    """Answer like a good LLM: the invoice's fields, as JSON."""
    fields = {"number": None, "supplier": None, "lines": [], "total": None}
    for line in prompt.split(MARKER, 1)[1].splitlines():
        label, _, value = line.partition(": ")
        if label == "Item":
            description, quantity, price = (part.strip() for part in value.split("|"))
            fields["lines"].append(
                {"description": description, "quantity": quantity, "unit_price": price}
            )
        elif label in ("Invoice", "Supplier", "Total"):
            fields[{"Invoice": "number"}.get(label, label.lower())] = value.strip()
    return json.dumps(fields)


class Recorder:
    """A notifier keeping what it was asked to send."""

    name = "log"

    def __init__(self):
        self.texts: list[str] = []

    def send(self, text: str) -> None:
        self.texts.append(text)


def entries(home) -> list[dict]:
    return [json.loads(line) for line in (home.state / "audit.jsonl").read_text().splitlines()]


def outbox(home, item_id: str) -> dict:
    return json.loads((home.state / "outbox" / f"{item_id}.json").read_text())


@pytest.fixture
def agent(home):
    if PROVIDER is None:
        pytest.skip("this agent was generated without an HTTP LLM provider")
    with stubs.LLMStub(responder=reading_invoices) as llm:
        provider, model = PROVIDER
        base = llm.anthropic_base if provider == "anthropic" else llm.openai_base
        home.write_env(
            LLM_PROVIDER=provider,
            LLM_MODEL=model,
            LLM_BASE_URL=base,
            LLM_API_KEY=llm.api_key,
            HTTP_MAX_TOTAL_SECONDS="30",
        )
        agent = Agent(home.settings(), job=InvoiceJob())
        agent.notifier = Recorder()
        agent.start()
        yield agent
        agent.close()


def test_invoices_go_through_the_runtime_to_outbox_review_and_a_human_decision(home, agent):
    home.drop(
        "good.txt", invoice("INV-1", ("Saw", "2", "10.00"), ("Nails", "3", "2.50"), total="27.50")
    )
    home.drop("off.txt", invoice("INV-2", ("Drill", "1", "99.90"), total="109.90"), age=9)
    home.drop("wrong.txt", invoice("INV-3", ("Glue", "4", "1.25"), total="6.00"), age=8)
    home.drop("empty.txt", "   \n", age=7)

    assert agent.run_once() == 4
    assert home.files("done") == ["good.txt"]
    assert home.files("review") == ["off.txt", "wrong.txt"]
    assert home.files("failed") == ["empty.txt"]
    good = next(e["item"] for e in entries(home) if e["action"] == "match.decided")
    assert outbox(home, good) == {
        "item_id": good,
        "source": "good.txt",
        "invoice": "INV-1",
        "supplier": "ACME Tools",
        "lines": [
            {"description": "Saw", "quantity": "2.00", "unit_price": "10.00"},
            {"description": "Nails", "quantity": "3.00", "unit_price": "2.50"},
        ],
        "total": "27.50",
        "total_by": "rules",
    }

    # The review offers the job's choices, by number; the human's choice continues the item.
    reviews = {r["file"]: r for r in agent.db.reviews()}
    off = reviews["off.txt"]
    assert off["reason"] == "the lines add up to 99.90, the invoice says 109.90"
    assert [agent.job.label(c) for c in off["choices"]] == [
        "total 99.90 (the sum of its lines)",
        "total 109.90 (as the invoice states)",
    ]
    with pytest.raises(ValueError, match="between 1 and 2"):
        agent.resolve_review(off["item_id"], 3)
    assert agent.resolve_review(off["item_id"], 2, note="delivery fee", by="ana") == "resolved"
    assert outbox(home, off["item_id"])["total"] == "109.90"
    assert outbox(home, off["item_id"])["total_by"] == "human"

    # A decision handed over (as `review resolve` does while the agent runs) is applied between
    # items; a rejection sends the invoice to failed/.
    agent.hand_over_decision(reviews["wrong.txt"]["item_id"], None, "not ours", "ana")
    agent.run_once()
    assert home.files("done") == ["good.txt", "off.txt"]
    assert home.files("review") == []
    assert home.files("failed") == ["empty.txt", "wrong.txt"]
    assert agent.db.reviews() == []

    log = entries(home)
    actions = [e["action"] for e in log]
    assert actions.count("llm.call") == 3  # the empty file is refused before the LLM
    assert actions.count("outbox.written") == 2
    decided = [e["detail"] for e in log if e["action"] == "human.decision"]
    assert decided == [
        {
            "decision": "choose",
            "invoice": "INV-2",
            "total": "109.90",
            "note": "delivery fee",
            "by": "ana",
        },
        {"decision": "reject", "note": "not ours", "by": "ana"},
    ]
    written = [e["detail"] for e in log if e["action"] == "outbox.written"]
    assert [w["invoice"] for w in written] == ["INV-1", "INV-2"]
    assert not any("person" in e.get("detail", {}) for e in log)
    assert audit.verify(home.state / "audit.jsonl") == []
    assert len(list((home.state / "costs").glob("*.jsonl"))) == 1

    texts = agent.notifier.texts
    assert f"Invoice INV-1 from ACME Tools: 27.50 [item {good}]" in texts
    assert f"Invoice INV-2 from ACME Tools: 109.90 [item {off['item_id']}]" in texts
    assert sum("needs a human decision" in text for text in texts) == 2


def test_the_runtime_knows_nothing_of_people():
    """The domain is the job's: no runtime module names a person or the people table."""
    modules = [*sorted((RUNTIME / "runtime").glob("*.py")), RUNTIME / "agent.py"]
    modules += [RUNTIME / "reliability" / "effects.py", RUNTIME / "security" / "db.py"]
    for module in modules:
        code = module.read_text(encoding="utf-8").lower()
        for word in ("person", "people"):
            assert word not in code, f"{module.name} mentions {word!r}"
