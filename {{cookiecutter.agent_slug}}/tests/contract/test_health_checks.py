"""The health checks over a state directory, with the thresholds the caller gives."""

import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from {{ cookiecutter.package_name }}.contract import health
from {{ cookiecutter.package_name }}.contract.costs import DayFacts
from {{ cookiecutter.package_name }}.contract.layout import cost_file

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def state(tmp_path):
    for folder in ("incoming", "failed", "review", "costs"):
        (tmp_path / folder).mkdir()
    return tmp_path


def beat(state, age: timedelta, **fields) -> None:
    document = {"last_loop": (NOW - age).isoformat(), "status": "idle", **fields}
    (state / "heartbeat.json").write_text(json.dumps(document))


def item(folder, name: str, age: timedelta, placed: timedelta | None = None) -> None:
    path = folder / name
    path.write_text("x")
    stamp = (NOW - age).timestamp()
    os.utime(path, (stamp, stamp))
    if placed is not None:
        sidecar = {"file": name, "time": (NOW - placed).isoformat()}
        (folder / f"{name}.why.json").write_text(json.dumps(sidecar))


def by_name(findings) -> dict:
    return {f.name: f for f in findings}


def test_a_quiet_healthy_agent_passes_every_check(state):
    beat(state, timedelta(seconds=30))

    findings = health.check_state(state, 5.0, now=NOW)

    assert tuple(f.name for f in findings) == health.CHECK_NAMES
    failing = [f for f in findings if not f.ok and f.name != "disk"]
    assert failing == []
    assert by_name(findings)["heartbeat"].detail == "last loop 30s ago (status idle)"


@pytest.mark.parametrize(("max_age", "ok"), [(600, False), (3600, True)])
def test_the_heartbeat_threshold_is_the_callers(state, max_age, ok):
    beat(state, timedelta(minutes=25))

    found = health.heartbeat_finding(health.read_heartbeat(state), NOW, max_age)

    assert found.ok is ok
    if not ok:
        assert found.detail == "no heartbeat for 25m: its loop may be stuck"


def test_no_heartbeat_is_a_problem(state):
    assert health.heartbeat_finding({}, NOW, 600) == health.Finding(
        "heartbeat", False, "never wrote a heartbeat"
    )


def test_the_backlog_counts_waiting_files_by_their_age(state):
    item(state / "incoming", "old.pdf", timedelta(hours=3))
    item(state / "incoming", "new.pdf", timedelta(seconds=5))
    (state / "incoming" / ".upload.tmp1").write_text("x")

    late = health.backlog_finding(state, NOW, max_age=1800)
    patient = health.backlog_finding(state, NOW, max_age=4 * 3600)

    assert not late.ok and patient.ok
    assert late.detail == "2 file(s) waiting in incoming/, the oldest for 3h00m"


def test_failures_count_by_when_they_were_placed_not_by_the_file_date(state):
    item(
        state / "failed", "old-file-new-failure.pdf", timedelta(days=30), placed=timedelta(hours=1)
    )
    item(state / "failed", "long-ago.pdf", timedelta(days=30), placed=timedelta(days=3))

    day = health.failures_finding(state, NOW, window=86400)
    week = health.failures_finding(state, NOW, window=7 * 86400)

    assert (day.ok, day.detail) == (False, "1 failed in the last 24 h")
    assert week.detail == "2 failed in the last 168 h"


def test_review_waits_fail_only_past_a_threshold_when_one_is_given(state):
    item(state / "review", "lab.md", timedelta(days=9), placed=timedelta(hours=30))

    assert health.review_finding(state, NOW).ok
    late = health.review_finding(state, NOW, max_age=24 * 3600)
    assert not late.ok
    assert late.detail == "1 document(s) waiting for a human decision, the oldest for 30h00m"


def test_budget_and_prices_come_from_the_days_records(state):
    records = [
        {"ts": NOW.isoformat(), "gen_ai.request.model": "gpt-4o-mini", "cost_usd": 2.5},
        {"ts": NOW.isoformat(), "gen_ai.request.model": "gpt-4o-mini", "cost_usd": 2.5},
        {"ts": NOW.isoformat(), "gen_ai.request.model": "mystery-7b", "cost_usd": None},
    ]
    cost_file(state, NOW.date()).write_text("".join(json.dumps(r) + "\n" for r in records))
    beat(state, timedelta(seconds=1), unknown_price_models=["other-model"])

    found = by_name(health.check_state(state, Decimal("5.00"), now=NOW))

    assert not found["budget"].ok
    assert found["budget"].detail.startswith("daily LLM budget reached: $5.00 of $5.00")
    assert not found["prices"].ok
    assert "mystery-7b, other-model" in found["prices"].detail


def test_the_llm_check_fails_only_when_documents_wait():
    facts = DayFacts()
    stale = {"last_llm_success": (NOW - timedelta(hours=7)).isoformat()}

    assert health.llm_finding(stale, facts, NOW, waiting=False, max_age=6 * 3600).ok
    found = health.llm_finding(stale, facts, NOW, waiting=True, max_age=6 * 3600)
    assert (found.ok, found.detail) == (False, "last success 7h00m ago")
    assert health.llm_finding({}, facts, NOW, waiting=True, max_age=1).detail == "never succeeded"


def test_disk_thresholds_are_the_callers(state):
    assert health.disk_finding(state, min_free_bytes=0, min_free_ratio=0).ok
    assert not health.disk_finding(state, min_free_bytes=1 << 62, min_free_ratio=0).ok
    assert not health.disk_finding(state, min_free_bytes=0, min_free_ratio=1.01).ok
