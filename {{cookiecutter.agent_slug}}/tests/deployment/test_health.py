"""The agent's own health check: JSON out, exit code 0 only when everything is fine."""

import json
import os
import time
from datetime import UTC, datetime, timedelta

import restart
from {{ cookiecutter.package_name }}.agent import Agent
from {{ cookiecutter.package_name }}.deployment import health
from {{ cookiecutter.package_name }}.deployment.heartbeat import Heartbeat

JANE = "Patient: Jane Doe\nDate of birth: 1980-02-03\n"


def run_health(home) -> tuple[int, dict]:
    result = home.cli("health")
    return result.returncode, json.loads(result.stdout)


def failing(report: dict) -> set[str]:
    return {c["name"] for c in report["checks"] if not c["ok"]}


def test_a_fresh_agent_that_ran_is_healthy(home):
    home.drop("jane.txt", JANE)
    agent = home.agent()
    agent.run_once()
    agent.write_heartbeat("idle")
    agent.close()
    code, report = run_health(home)
    assert (code, report["status"], failing(report)) == (0, "ok", set())


def test_never_started_new_failures_old_backlog_and_budget_are_problems(home):
    # The state is there but no loop ever ran (say the service failed at start): no heartbeat.
    Agent(home.settings()).close()
    code, report = run_health(home)
    assert code == 1 and "heartbeat" in failing(report)

    home.write_env(DAILY_BUDGET_USD="0.00001")
    home.drop("broken.pdf", b"%PDF-1.4 nonsense")
    home.drop("jane.txt", JANE, age=5)
    agent = home.agent()
    agent.run_once()
    agent.write_heartbeat("idle")
    agent.close()
    home.drop("waiting.txt", "Patient: Chidi Okafor\n", age=3600)
    code, report = run_health(home)
    assert code == 1
    assert {"failures", "budget", "backlog"} <= failing(report)


def test_a_stale_heartbeat_is_a_problem(home):
    agent = home.agent()
    agent.write_heartbeat("idle")
    agent.close()
    beat = home.state / "heartbeat.json"
    data = json.loads(beat.read_text())
    data["last_loop"] = "2000-01-01T00:00:00+00:00"
    beat.write_text(json.dumps(data))
    code, report = run_health(home)
    assert code == 1 and failing(report) == {"heartbeat"}


def test_only_allowlisted_services_are_queried(home, tmp_path):
    log = tmp_path / "systemctl.log"
    systemctl = tmp_path / "systemctl"
    systemctl.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        'if [ "$3" = "db.service" ]; then echo active; else echo inactive; exit 3; fi\n'
    )
    systemctl.chmod(0o755)
    home.write_env(HEALTH_SERVICES="db.service, cache.service")
    agent = home.agent()
    agent.write_heartbeat("idle")
    agent.close()
    report = health.check(home.settings(), systemctl=str(systemctl))
    services = {c["name"]: c for c in report["checks"] if c["name"].startswith("service")}
    assert services["service db.service"]["ok"] is True
    assert services["service cache.service"]["ok"] is False
    assert log.read_text().splitlines() == ["is-active -- db.service", "is-active -- cache.service"]
    # agentctl checks the same units from the heartbeat, running nothing as the agent.
    beat = json.loads((home.state / "heartbeat.json").read_text())
    assert beat["health_services"] == ["db.service", "cache.service"]


def test_health_after_restart_remembers_prices_llm_success_and_recent_failures(home):
    checks = restart.health_after_restart(home)
    assert restart.problems(checks) == []


def write_cost_records(home, *records: dict) -> None:
    costs = home.state / "costs"
    costs.mkdir(parents=True, exist_ok=True)
    day = datetime.now(UTC).date().isoformat()
    with (costs / f"{day}.jsonl").open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


def cost_record(model: str, cost, status: str = "ok", ago: timedelta = timedelta(0)) -> dict:
    moment = datetime.now(UTC) - ago
    return {
        "ts": moment.isoformat(timespec="milliseconds"),
        "gen_ai.request.model": model,
        "cost_usd": cost,
        "status": status,
    }


def checks_by_name(home) -> dict:
    return {c["name"]: c for c in health.check(home.settings())["checks"]}


def test_prices_and_last_llm_success_come_from_todays_records_whatever_the_heartbeat_says(home):
    Agent(home.settings()).close()  # a state directory, no heartbeat
    home.drop("waiting.txt", restart.JANE)
    write_cost_records(
        home,
        cost_record("mystery-model-7b", None, ago=timedelta(minutes=3)),
        cost_record("gpt-4o-mini", 0.01, status="error"),
    )
    checks = checks_by_name(home)
    assert checks["prices"]["ok"] is False
    assert "mystery-model-7b" in checks["prices"]["detail"]
    assert "gpt-4o-mini" not in checks["prices"]["detail"]
    # The ok call 3 minutes ago is the last success; the later error is not.
    assert (checks["llm"]["ok"], checks["llm"]["detail"]) == (True, "last success 3m ago")


def fail_at(home, name: str, file_age: float, sidecar: dict | None, sidecar_age: float) -> None:
    """Put name into failed/ with a file of file_age seconds and a sidecar of sidecar_age."""
    failed = home.state / "failed"
    failed.mkdir(parents=True, exist_ok=True)
    paths = [(failed / name, file_age)]
    (failed / name).write_text("x")
    if sidecar is not None:
        (failed / f"{name}.why.json").write_text(json.dumps(sidecar))
        paths.append((failed / f"{name}.why.json", sidecar_age))
    for path, age in paths:
        past = time.time() - age
        os.utime(path, (past, past))


def test_failures_count_by_when_the_item_failed_not_by_the_file_date(home):
    Agent(home.settings()).close()
    day, now = 24 * 3600, datetime.now(UTC)
    recent = (now - timedelta(hours=1)).isoformat(timespec="seconds")
    old = (now - timedelta(days=2)).isoformat(timespec="seconds")
    fail_at(home, "old-file-failed-now.txt", 3 * day, {"time": recent}, 3 * day)
    fail_at(home, "failed-long-ago.txt", 0, {"time": old}, 0)
    fail_at(home, "no-time-recent-sidecar.txt", 3 * day, {"error": "x"}, 60)
    fail_at(home, "no-sidecar-old-file.txt", 3 * day, None, 0)
    assert checks_by_name(home)["failures"]["detail"] == "2 failed in the last 24 h"


def test_a_restart_keeps_the_last_successes_and_starts_its_own_counters(home):
    Agent(home.settings()).close()
    first = Heartbeat(home.state, "a", "1", 5.0)
    first.count("done")
    first.data["last_llm_success"] = "2026-01-02T03:04:05+00:00"
    first.write(status="idle")

    second = Heartbeat(home.state, "a", "1", 5.0)
    assert second.data["last_success"] == first.data["last_success"] is not None
    assert second.data["last_llm_success"] == "2026-01-02T03:04:05+00:00"
    assert second.data["counters"]["done"] == 0  # counters are this process's own
