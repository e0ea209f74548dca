"""Time the agent's own audit append and cost record against plain durable appends of the same line.

Runs with the baked agent's interpreter (its venv), not the benchmark's:
    VENV/bin/python agent_probe.py PACKAGE DIRECTORY COUNT
and prints one JSON object of microseconds per append.
"""

import importlib
import json
import os
import sys
import time
from pathlib import Path

MICROSECONDS = 1_000_000
PROBE_MODEL = "claude-sonnet-4-5"


def plain_appends(path: Path, line: bytes, count: int) -> float:
    """Return seconds per append of line with O_APPEND + fsync: the least a durable log can do."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        started = time.perf_counter()
        for _ in range(count):
            os.write(fd, line)
            os.fsync(fd)
        return (time.perf_counter() - started) / count
    finally:
        os.close(fd)


def last_line(path: Path) -> bytes:
    return path.read_bytes().splitlines(keepends=True)[-1]


def time_audit(package: str, directory: Path, count: int) -> tuple[float, float]:
    audit = importlib.import_module(f"{package}.observability.audit")
    log = audit.AuditLog(directory / "audit.jsonl")
    started = time.perf_counter()
    for number in range(count):
        # What the agent appends when it moves an item: the commonest entry.
        log.append("item.moved", f"{number:016x}", to="done", file=f"document-{number}.txt")
    per_append = (time.perf_counter() - started) / count
    plain = plain_appends(directory / "plain-audit.jsonl", last_line(log.path), count)
    return per_append, plain


def time_cost_record(package: str, directory: Path, count: int) -> tuple[float, float]:
    costs = importlib.import_module(f"{package}.observability.costs")
    base = importlib.import_module(f"{package}.integrations.llm.base")
    ledger = costs.CostLedger(directory / "costs", "bench-agent", costs.PriceTable.load())
    usage = base.Usage(input_tokens=1200, output_tokens=150, cache_read_tokens=800)
    started = time.perf_counter()
    for number in range(count):
        ledger.record(
            provider="anthropic",
            model=PROBE_MODEL,
            usage=usage,
            latency_ms=812.5,
            purpose="extract_fields",
            item_id=f"{number:016x}",
            status="ok",
            response_model=PROBE_MODEL,
        )
    per_record = (time.perf_counter() - started) / count
    written = max((directory / "costs").glob("*.jsonl"))  # a run may cross midnight
    plain = plain_appends(directory / "plain-costs.jsonl", last_line(written), count)
    return per_record, plain


def main() -> int:
    package, directory, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    audit, audit_plain = time_audit(package, directory, count)
    cost, cost_plain = time_cost_record(package, directory, count)
    print(
        json.dumps(
            {
                "audit_us": audit * MICROSECONDS,
                "audit_plain_us": audit_plain * MICROSECONDS,
                "cost_us": cost * MICROSECONDS,
                "cost_plain_us": cost_plain * MICROSECONDS,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
