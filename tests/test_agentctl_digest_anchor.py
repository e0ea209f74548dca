"""The daily digest carries each agent's audit chain head, as lines an agent's
`audit verify --against` reads (the shared contract/anchor.py)."""

import hashlib
import json
import re
from datetime import UTC, datetime

from agentctl_stubs import import_agentctl

HEAD_LINE = re.compile(r"^audit (\S+) #(\d+) ([0-9a-f]{64})$")
TAKEN_LINE = re.compile(r"^audit chain heads at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def write_chain(log, entries: list[dict]) -> None:
    """Write these entries as an audit log, each hash computed as the agent computes it."""
    previous = "0" * 64
    for entry in entries:
        entry["prev"] = previous
        body = {key: value for key, value in entry.items() if key != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        entry["hash"] = previous = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    log.write_text(
        "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in entries), encoding="utf-8"
    )


def chain(agent, count: int) -> list[dict]:
    """Write an audit log of count hash-chained entries into the agent's state."""
    entries = [
        {
            "seq": seq,
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "action": "item.received",
            "item": f"item-{seq}",
            "detail": {"name": f"doc-{seq}.pdf"},
        }
        for seq in range(1, count + 1)
    ]
    write_chain(agent.state / "audit.jsonl", entries)
    return entries


def test_the_digest_ends_with_each_agents_chain_head(host, telegram):
    intake = host.add_agent("intake-bot")
    invoice = host.add_agent("invoice-bot")
    host.add_agent("quiet-bot")  # no audit log yet
    intake_entries = chain(intake, 12)
    invoice_entries = chain(invoice, 3)

    printed = host.run("digest")

    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    heads = [HEAD_LINE.match(line).groups() for line in lines if HEAD_LINE.match(line)]
    assert heads == [
        ("intake-bot", "12", intake_entries[-1]["hash"]),
        ("invoice-bot", "3", invoice_entries[-1]["hash"]),
    ]
    assert sum(bool(TAKEN_LINE.match(line)) for line in lines) == 1
    assert "audit quiet-bot: no entries yet" in lines

    assert host.run("digest", "--send").returncode == 0
    (sent,) = telegram.texts()
    assert f"audit intake-bot #12 {intake_entries[-1]['hash']}" in sent.splitlines()


def test_the_digests_text_is_an_anchor_the_shared_contract_checks(host):
    anchor = import_agentctl("contract.anchor")
    intake = host.add_agent("intake-bot")
    host.add_agent("invoice-bot")
    entries = chain(intake, 5)
    digest = host.run("digest").stdout

    found = anchor.parse_anchor(digest, "intake-bot", "the digest")
    log = intake.state / "audit.jsonl"

    assert (found.sequence, found.hash) == (5, entries[-1]["hash"])
    assert found.taken_at is not None
    assert anchor.check_against(log, found) is None
    # The same history re-chained from an edited second entry: every later hash changes.
    entries[1]["detail"]["name"] = "someone-else.pdf"
    write_chain(log, entries)

    assert anchor.check_against(log, found) == (
        f"entry 5 differs from the anchor taken at {found.taken_at}: the history was rewritten"
    )
    write_chain(log, entries[:4])
    assert anchor.check_against(log, found).startswith(
        "the log is shorter than the anchor: entries were removed"
    )
