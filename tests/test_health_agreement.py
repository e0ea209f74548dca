"""The agent's own `health` and agentctl say the same about the same state directory.

Both check the heartbeat, the backlog, reviews, the budget and prices from the same files; an owner
reads both (agentctl's Telegram alerts, the agent's JSON), so a problem must have one threshold and
one wording. A baked agent's deployment/health.py and roles/health/files/agentctl are run on one
state directory, and their thresholds are held to the health role's defaults.
"""

import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from agentctl_stubs import import_agentctl

REPO_ROOT = Path(__file__).resolve().parents[1]
ROLE_DEFAULTS = REPO_ROOT / "roles" / "health" / "defaults" / "main.yml"
# A package name of its own, so no other installed bake of the template is imported instead.
AGENT_NAME = "Health Agreement Agent"
SLUG = "health-agreement-agent"
BUDGET_USD = 1.0
# The checks both sides make; the agent reports review waits but never counts them a problem.
SHARED_PROBLEMS = ("heartbeat", "backlog", "budget", "prices")


@pytest.fixture(scope="module")
def health(baked_package):
    (module,) = baked_package(AGENT_NAME, "deployment.health")
    return module


@pytest.fixture(scope="module")
def agentctl():
    """agentctl's modules that read a state directory and judge it, under one name."""
    return SimpleNamespace(
        DEFAULT_CONFIG=import_agentctl("config").DEFAULT_CONFIG,
        Agent=import_agentctl("agents").Agent,
        inspect_agent=import_agentctl("snapshot").inspect_agent,
        agent_conditions=import_agentctl("checks").agent_conditions,
        agent_own_health=import_agentctl("checks").agent_own_health,
    )


def role_default(name: str) -> float:
    match = re.search(rf"^{name}:\s*([0-9.]+)\s*$", ROLE_DEFAULTS.read_text(), re.MULTILINE)
    assert match, f"{name} is not in {ROLE_DEFAULTS}"
    return float(match.group(1))


def make_state(
    root: Path,
    *,
    heartbeat_age: timedelta,
    backlog_age: float,
    review_age: float,
    costs: list[tuple[str, float | None]],
) -> Path:
    """Write an agent's state directory the way the agent writes it."""
    state = root / SLUG
    for folder in ("incoming", "failed", "review", "costs"):
        (state / folder).mkdir(parents=True)
    now = datetime.now(UTC)
    beat = {
        "agent": SLUG,
        "last_loop": (now - heartbeat_age).isoformat(timespec="seconds"),
        "status": "idle",
        "budget_usd": BUDGET_USD,
        "unknown_price_models": [],
    }
    (state / "heartbeat.json").write_text(json.dumps(beat))
    waiting = state / "incoming" / "waiting.txt"
    waiting.write_text("x")
    os.utime(waiting, (time.time() - backlog_age,) * 2)
    parked = state / "review" / "lab.md"
    parked.write_text("x")
    placed = (now - timedelta(seconds=review_age)).isoformat(timespec="seconds")
    (state / "review" / "lab.md.why.json").write_text(
        json.dumps({"file": "lab.md", "time": placed})
    )
    with (state / "costs" / f"{now.date().isoformat()}.jsonl").open("w") as handle:
        for model, cost in costs:
            record = {
                "ts": now.isoformat(timespec="milliseconds"),
                "gen_ai.request.model": model,
                "cost_usd": cost,
                "status": "ok",
            }
            handle.write(json.dumps(record) + "\n")
    return state


def both_reports(health, agentctl, state: Path) -> tuple[dict, dict]:
    """Return (the agent's checks by name, agentctl's problem texts by check) for state."""
    settings = SimpleNamespace(state_dir=state, daily_budget_usd=BUDGET_USD, health_services=[])
    own = {c["name"]: c for c in health.check(settings)["checks"]}
    config = {**agentctl.DEFAULT_CONFIG, "state_root": state.parent}
    # Up for a day: the heartbeat is judged by its age, not excused by a fresh start.
    unit = {"LoadState": "loaded", "ActiveState": "active", "ActiveEnterTimestampMonotonic": "1"}
    now = datetime.now(UTC)
    snapshot = agentctl.inspect_agent(agentctl.Agent(SLUG, config), unit, now)
    found = agentctl.agent_conditions(snapshot, config, now, time.monotonic() + 86400)
    return own, {f.check: f.text for f in found}


def test_thresholds_are_the_health_roles_defaults(health, agentctl):
    for key, constant in (
        ("heartbeat_max_age_minutes", health.HEARTBEAT_MAX_AGE),
        ("backlog_max_age_minutes", health.BACKLOG_MAX_AGE),
    ):
        minutes = role_default(f"health_{key}")
        assert agentctl.DEFAULT_CONFIG[key] == minutes, key
        assert constant == timedelta(minutes=minutes), key


def test_the_same_problems_in_the_same_words(health, agentctl, tmp_path):
    state = make_state(
        tmp_path,
        heartbeat_age=timedelta(minutes=25),
        backlog_age=3 * 3600,
        review_age=2 * 86400,
        costs=[("gpt-4o-mini", 2.5), ("mystery-model-7b", None)],
    )
    own, theirs = both_reports(health, agentctl, state)
    assert set(theirs) == {*SHARED_PROBLEMS, "review"}
    for name in SHARED_PROBLEMS:
        assert (own[name]["ok"], own[name]["detail"]) == (False, theirs[name]), name
    assert own["review"]["detail"] == theirs["review"]


def test_no_problem_on_either_side_just_under_the_thresholds(health, agentctl, tmp_path):
    state = make_state(
        tmp_path,
        heartbeat_age=timedelta(minutes=9),
        backlog_age=29 * 60,
        review_age=60,
        costs=[("gpt-4o-mini", 0.5)],
    )
    own, theirs = both_reports(health, agentctl, state)
    assert theirs == {}
    assert [name for name in SHARED_PROBLEMS if not own[name]["ok"]] == []


def test_what_only_the_agent_checks_agentctl_says_in_the_agents_words(health, agentctl, tmp_path):
    # Documents wait, the LLM never answered, and one of HEALTH_SERVICES is down: the agent's own
    # `health` says so, and agentctl, which runs nothing as the agent, says the same from its files.
    state = make_state(
        tmp_path, heartbeat_age=timedelta(0), backlog_age=60, review_age=60, costs=[]
    )
    beat = json.loads((state / "heartbeat.json").read_text())
    beat["health_services"] = ["db.service"]
    (state / "heartbeat.json").write_text(json.dumps(beat))
    systemctl = tmp_path / "systemctl"
    systemctl.write_text("#!/bin/sh\necho failed\nexit 3\n")
    systemctl.chmod(0o755)
    settings = SimpleNamespace(
        state_dir=state, daily_budget_usd=BUDGET_USD, health_services=beat["health_services"]
    )
    own = {c["name"]: c for c in health.check(settings, systemctl=str(systemctl))["checks"]}
    config = {**agentctl.DEFAULT_CONFIG, "state_root": state.parent}
    unit = {"LoadState": "loaded", "ActiveState": "active", "ActiveEnterTimestampMonotonic": "1"}
    now = datetime.now(UTC)
    snapshot = agentctl.inspect_agent(agentctl.Agent(SLUG, config), unit, now)
    finding = agentctl.agent_own_health(snapshot, {"db.service": {"ActiveState": "failed"}}, now)

    failing = [
        f"{name}: {c['detail']}" for name, c in own.items() if name in ("llm", "service db.service")
    ]
    assert [own["llm"]["ok"], own["service db.service"]["ok"]] == [False, False]
    assert finding.text == f"its own health check fails: {'; '.join(failing)}"


def test_the_role_lets_the_agent_set_a_poison_pill_aside_before_the_start_limit():
    # The agent fails a document in hand at MAX_CRASHES deaths of its process; the unit's start
    # limit must allow more starts than that, or systemd gives up on the agent first. The role
    # keeps the figure in vars/main.yml for its assert: it must be the agent's.
    recovery_py = (REPO_ROOT / "{{cookiecutter.agent_slug}}" / "src").glob("*/runtime/recovery.py")
    (source,) = list(recovery_py)
    agent_value = re.search(r"^MAX_CRASHES = (\d+)$", source.read_text(), re.MULTILINE)
    role_vars = (REPO_ROOT / "roles" / "agent" / "vars" / "main.yml").read_text()
    role_value = re.search(r"^__agent_max_crashes: (\d+)$", role_vars, re.MULTILINE)
    defaults = (REPO_ROOT / "roles" / "agent" / "defaults" / "main.yml").read_text()
    burst = re.search(r"^agent_start_limit_burst: (\d+)$", defaults, re.MULTILINE)
    assert agent_value and role_value and burst
    assert role_value.group(1) == agent_value.group(1)
    assert int(burst.group(1)) > int(agent_value.group(1))
