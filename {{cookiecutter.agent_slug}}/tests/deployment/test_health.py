"""The agent's own health check: JSON out, exit code 0 only when everything is fine."""

import json

from {{ cookiecutter.package_name }}.agent import Agent
from {{ cookiecutter.package_name }}.deployment import health

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
