"""Readers of the records the agent leaves: cost records, the heartbeat, the audit log."""

import json
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from {{ cookiecutter.package_name }}.contract.audit import (
    audit_counts,
    entries_between,
    last_entry,
    lines_backwards,
)
from {{ cookiecutter.package_name }}.contract.costs import (
    DayFacts,
    amount,
    read_cost_records,
    read_records,
)
from {{ cookiecutter.package_name }}.contract.heartbeat import read_heartbeat, unpriced_today
from {{ cookiecutter.package_name }}.contract.layout import cost_file

DAY = date(2026, 3, 10)


def cost(model: str, usd, status: str = "ok", ts: str = "2026-03-10T08:00:00.000+00:00") -> str:
    record = {"ts": ts, "gen_ai.request.model": model, "cost_usd": usd, "status": status}
    return json.dumps(record)


def write_costs(state, day: date, lines: list[str]) -> None:
    path = cost_file(state, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


# cost records -----------------------------------------------------------------------------------


def test_a_day_adds_up_exactly_in_decimal(tmp_path):
    write_costs(tmp_path, DAY, [cost("gpt-4o-mini", 0.1)] * 3 + [cost("mystery-7b", None)])

    facts = DayFacts.of(read_records(tmp_path / "costs", DAY, DAY))

    assert facts.spent_usd == Decimal("0.3")  # three floats 0.1 add up to 0.30000000000000004
    assert facts.calls == 4
    assert facts.unpriced_models == ["mystery-7b"]
    assert facts.last_ok == "2026-03-10T08:00:00.000+00:00"


def test_a_torn_or_damaged_line_is_skipped_and_logged(tmp_path, caplog):
    write_costs(tmp_path, DAY, [cost("a", 0.5), "not json", "[1, 2]", cost("b", 0.25)])
    path = cost_file(tmp_path, DAY)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"ts": "2026-03-10T09:00')  # a crash mid-write

    with caplog.at_level(logging.WARNING):
        records = list(read_cost_records(path))

    assert [r["gen_ai.request.model"] for r in records] == ["a", "b"]
    assert [m for m in caplog.messages if "unreadable cost record" in m] == [
        f"Skipping unreadable cost record {path} line {n}" for n in (2, 3, 5)
    ]


def test_only_the_days_asked_for_are_read(tmp_path):
    for offset in range(5):
        write_costs(tmp_path, DAY - timedelta(days=offset), [cost(f"day-{offset}", 1)])
    cost_file(tmp_path, DAY - timedelta(days=1)).unlink()
    cost_file(tmp_path, DAY - timedelta(days=1)).mkdir()  # opening it would fail

    records = read_records(tmp_path / "costs", DAY - timedelta(days=3), DAY - timedelta(days=2))

    assert [r["gen_ai.request.model"] for r in records] == ["day-3", "day-2"]
    assert list(read_records(tmp_path / "missing", DAY, DAY)) == []


def test_amounts_are_exact_and_unpriced_is_none():
    assert amount({"cost_usd": 0.000123}) == Decimal("0.000123")
    assert amount({"cost_usd": 2}) == Decimal(2)
    assert amount({"cost_usd": None}) is None
    assert amount({"cost_usd": True}) is None
    assert amount({"cost_usd": "0.5"}) is None
    assert amount({}) is None


def test_only_ok_calls_count_as_the_last_success():
    facts = DayFacts.of(
        [
            json.loads(cost("a", 0, ts="2026-03-10T09:00:00.000+00:00")),
            json.loads(cost("a", 0, status="error", ts="2026-03-10T10:00:00.000+00:00")),
        ]
    )

    assert facts.last_ok == "2026-03-10T09:00:00.000+00:00"


# heartbeat --------------------------------------------------------------------------------------


def test_a_missing_or_damaged_heartbeat_reads_as_empty(tmp_path):
    assert read_heartbeat(tmp_path) == {}
    (tmp_path / "heartbeat.json").write_text('{"agent": "x", "last_lo')
    assert read_heartbeat(tmp_path) == {}
    (tmp_path / "heartbeat.json").write_text("[1]")
    assert read_heartbeat(tmp_path) == {}
    (tmp_path / "heartbeat.json").write_text('{"agent": "x"}')
    assert read_heartbeat(tmp_path) == {"agent": "x"}


def test_unpriced_models_of_a_heartbeat_count_only_on_its_own_day():
    beat = {"last_loop": "2026-03-10T23:59:00+00:00", "unknown_price_models": ["m1", "m2"]}

    assert unpriced_today(beat, DAY) == {"m1", "m2"}
    assert unpriced_today(beat, DAY + timedelta(days=1)) == set()
    assert unpriced_today({}, DAY) == set()


# audit log --------------------------------------------------------------------------------------


def moved(seq: int, ts: datetime, to: str) -> dict:
    return {
        "seq": seq,
        "ts": ts.isoformat(timespec="milliseconds"),
        "action": "item.moved",
        "item": f"item-{seq}",
        "detail": {"to": to},
    }


def write_audit(path, entries, tail: str = "") -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries) + tail, encoding="utf-8")


def test_lines_come_last_first_whatever_the_block_size(tmp_path):
    path = tmp_path / "audit.jsonl"
    lines = [f"line {n} " + "x" * n for n in range(60)]
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")

    for block in (1, 7, 64, 1 << 16):
        assert list(lines_backwards(path, block=block)) == lines[::-1]
    assert list(lines_backwards(tmp_path / "missing")) == []


def test_the_chain_head_is_the_last_complete_entry(tmp_path):
    path = tmp_path / "audit.jsonl"
    start = datetime(2026, 3, 10, tzinfo=UTC)
    write_audit(path, [moved(1, start, "done"), moved(2, start, "review")], tail='{"seq": 3, "ts')

    assert last_entry(path)["seq"] == 2
    assert last_entry(tmp_path / "missing") is None


def test_counts_over_a_range_stop_at_the_first_older_entry(tmp_path):
    path = tmp_path / "audit.jsonl"
    day = datetime(2026, 3, 10, tzinfo=UTC)
    entries = [
        moved(1, day - timedelta(hours=1), "done"),  # the day before
        moved(2, day, "done"),
        moved(3, day + timedelta(hours=1), "review"),
        {"seq": 4, "ts": (day + timedelta(hours=2)).isoformat(), "action": "llm.call"},
        moved(5, day + timedelta(hours=3), "failed"),
        moved(6, day + timedelta(hours=4), "incoming"),  # a retry: not an end
        moved(7, day + timedelta(days=1), "done"),  # the day after
    ]
    write_audit(path, entries)

    assert audit_counts(path, day, day + timedelta(days=1)) == {"done": 1, "review": 1, "failed": 1}
    newest_first = [e["seq"] for e in entries_between(path, day, day + timedelta(days=1))]
    assert newest_first == [6, 5, 4, 3, 2]
