"""Health after a restart: `health`, run as its own process, remembers what happened before.

The real command line runs once with a model that has no price and fails a document whose file is
dated three days back; the agent is started again (a new heartbeat); then `health` must still name
the unpriced model, know the last successful LLM call and count the failure in the last 24 h.
"""

import pytest

import restart

pytestmark = pytest.mark.faults


def test_health_after_restart(report, home):
    report.test = "health after restart"
    report.tried = (
        f"`once` with LLM_MODEL={restart.UNPRICED_MODEL} (no price) and a file dated 3 days back "
        "that fails; `once` again (the restart); then `health` in a new process, a document waiting"
    )
    checks = restart.health_after_restart(home)
    report.cases = 3  # prices, llm, failures
    shown = ("prices", "llm", "failures")
    report.found = "; ".join(f"{name}: {checks[name]['detail']}" for name in shown)
    problems = restart.problems(checks)
    assert problems == [], problems
