"""agentctl, the operator CLI and 15-minute check of the health role, run as the real script.

Every test runs roles/health/files/agentctl, installed as the health role installs it and started by
its launcher, as a subprocess against a host tree in a temporary folder (tests/agentctl_stubs.py):
agent state written the way agents write it, fake systemctl / journalctl / systemd-run on PATH, and
a Telegram Bot API stand-in on 127.0.0.1.
"""

import html
import json
import os
import pwd
import re
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from agentctl_stubs import (
    BOT_TOKEN,
    CHAT_ID,
    import_agentctl,
    install_agentctl,
    utc_now,
)

SECRET_API_KEY = "sk-live-SECRET-never-shown-0123456789"
# What agentctl runs with on a server; readable by every user, unlike a virtualenv under /root.
SYSTEM_PYTHON = "/usr/bin/python3"


def one_line_error(result) -> str:
    """Assert the run failed as a usage error with one line and no traceback; return the line."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


# status -------------------------------------------------------------------------------------------


def test_status_shows_every_agent_from_one_systemctl_call(host):
    intake = host.add_agent("intake-bot")
    host.add_agent("invoice-bot")
    intake.drop("a.txt", age=timedelta(minutes=3))
    intake.fail("broken.docx", "file type .docx is not accepted")
    intake.park_for_review("lab.md")
    intake.costs(utc_now().date(), [("gpt-4o-mini", 0.25), ("gpt-4o-mini", 0.5)])

    result = host.run("status")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["AGENT", "UNIT", "UPTIME", "RESTARTS"]
    intake_row = next(line for line in lines if line.startswith("intake-bot"))
    assert "active/running" in intake_row
    assert " 2m " in intake_row  # uptime from ActiveEnterTimestampMonotonic
    assert "1 (3m)" in intake_row  # backlog count and age of the oldest
    assert "$0.75 / $5.00" in intake_row
    assert "50M / 256M" in intake_row
    assert any(line.startswith("invoice-bot") for line in lines)
    assert "all healthy" in result.stdout
    show_calls = [c for c in host.calls("systemctl") if c[0] == "show"]
    assert len(show_calls) == 1
    assert {"agent-intake-bot.service", "agent-invoice-bot.service"} <= set(show_calls[0])


def test_status_exits_non_zero_and_names_the_problem(host):
    host.add_agent("intake-bot")
    host.add_agent("invoice-bot")
    host.set_unit("invoice-bot", ActiveState="failed", SubState="failed", Result="exit-code")

    result = host.run("status")

    assert result.returncode == 1
    assert "invoice-bot: agent-invoice-bot.service is failed" in result.stdout
    assert "agentctl logs invoice-bot" in result.stdout


def test_status_json_is_machine_readable(host):
    agent = host.add_agent("intake-bot")
    agent.fail("old.txt", "empty", age=timedelta(days=3))
    agent.fail("new.txt", "empty", age=timedelta(hours=1))
    agent.park_for_review("lab.md")

    result = host.run("status", "--json")

    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["healthy"] is True
    (row,) = report["agents"]
    assert row["agent"] == "intake-bot"
    assert row["active_state"] == "active"
    assert row["restarts"] == 0
    assert row["failed_since_yesterday"] == 1
    assert row["failed_total"] == 2
    assert row["review_pending"] == 1
    assert row["memory_bytes"] == 50 * 1024 * 1024
    assert 119 <= row["uptime_seconds"] <= 200


def test_failed_items_count_by_the_time_their_sidecar_records(host, telegram):
    agent = host.add_agent("intake-bot")
    # Failed now (the sidecar says so), though the file and its sidecar are dated three days back,
    # as after a restore that did not keep mtimes: new. And the other way round: failed long ago.
    failed_now = agent.fail("failed-now.txt", "the file is empty", age=timedelta(days=3))
    sidecar = failed_now.with_name("failed-now.txt.why.json")
    why = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**why, "time": utc_now().isoformat(timespec="seconds")}))
    os.utime(sidecar, (failed_now.stat().st_mtime,) * 2)
    failed_before = agent.fail("failed-before.txt", "the file is empty", age=timedelta(days=3))
    os.utime(failed_before, None)
    os.utime(failed_before.with_name("failed-before.txt.why.json"), None)

    (row,) = json.loads(host.run("status", "--json").stdout)["agents"]
    assert (row["failed_since_yesterday"], row["failed_total"]) == (1, 2)
    assert host.run("check").returncode == 0
    (message,) = telegram.texts()
    assert "1 new item(s) in failed/: failed-now.txt (the file is empty)" in message


def test_status_flags_stale_heartbeat_backlog_review_budget_and_prices(host):
    agent = host.add_agent("intake-bot", budget=1.0)
    host.write_config(heartbeat_max_age_minutes=1)  # the unit is up for 2 minutes
    agent.heartbeat(age=timedelta(minutes=30))
    agent.drop("waiting.pdf", age=timedelta(hours=2))
    agent.park_for_review("lab.md", age=timedelta(days=2))
    agent.costs(utc_now().date(), [("gpt-4o", 1.5), ("mystery-model", None)])

    result = host.run("status", "--json")

    assert result.returncode == 1
    checks = {p["check"] for p in json.loads(result.stdout)["problems"]}
    assert checks == {"heartbeat", "backlog", "review", "budget", "prices"}


def test_status_runs_as_installed_and_imports_only_what_it_needs(host):
    host.add_agent("intake-bot")

    # The health role's launcher runs it with `python3 -IS`: no site-packages, no PYTHON* variables.
    result = host.run("status", python_flags=("-I", "-S", "-X", "importtime"))

    assert result.returncode == 0, result.stderr
    assert any(line.startswith("intake-bot") for line in result.stdout.splitlines())
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert {"argparse", "subprocess", "json"} <= imported
    # Only alerts and Telegram need these, and importing them was most of the start-up; the
    # contract loads the others on first use.
    slow = {"urllib.request", "http.client", "html", "logging", "dataclasses", "shutil", "ctypes"}
    assert not imported & slow
    # One command's module, and nothing of alerts or Telegram.
    assert {name for name in imported if name.startswith("agentctl.commands.")} == {
        "agentctl.commands.status"
    }
    assert not imported & {"agentctl.alerts", "agentctl.telegram", "agentctl.contract.telegram"}


def test_help_imports_no_command(host):
    result = host.run("--help", python_flags=("-I", "-S", "-X", "importtime"))

    assert result.returncode == 0, result.stderr
    assert "on-failure" in result.stdout and "check-config" in result.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "agentctl.cli" in imported
    assert not {name for name in imported if name.startswith("agentctl.commands.")}
    assert not imported & {"subprocess", "datetime", "decimal"}


# the check and its alert state ----------------------------------------------------------------


def test_alert_is_sent_once_reminded_then_recovered(host, telegram):
    host.add_agent("intake-bot")
    host.add_agent("invoice-bot")
    host.write_config(reminder_hours=0.5 / 3600)  # a reminder after half a second
    assert host.run("check").returncode == 0
    assert telegram.texts() == []  # healthy: nothing to say

    host.set_unit("invoice-bot", ActiveState="inactive", SubState="dead")
    first = host.run("check")
    assert first.returncode == 0, first.stderr
    (message,) = telegram.texts()
    assert "invoice-bot" in message and "intake-bot" not in message
    assert "agent-invoice-bot.service is inactive" in message
    assert "<code>agentctl logs invoice-bot</code>" in message
    assert telegram.messages[0]["chat_id"] == CHAT_ID
    assert telegram.messages[0]["parse_mode"] == "HTML"

    host.write_config(reminder_hours=4)
    assert host.run("check").returncode == 0
    assert len(telegram.texts()) == 1  # same problem, same day: silence

    host.write_config(reminder_hours=0.5 / 3600)
    time.sleep(0.6)
    assert host.run("check").returncode == 0
    assert len(telegram.texts()) == 2
    assert "still, for" in telegram.texts()[1] and "invoice-bot" in telegram.texts()[1]

    host.set_unit("invoice-bot", ActiveState="active", SubState="running")
    assert host.run("check").returncode == 0
    assert len(telegram.texts()) == 3
    assert "recovered" in telegram.texts()[2] and "invoice-bot" in telegram.texts()[2]

    assert host.run("check").returncode == 0
    assert len(telegram.texts()) == 3


def test_several_problems_make_one_message_grouped_by_agent(host, telegram):
    intake = host.add_agent("intake-bot", budget=0.1)
    invoice = host.add_agent("invoice-bot")
    intake.costs(utc_now().date(), [("gpt-4o", 0.2)])
    intake.drop("stuck.txt", age=timedelta(hours=1))
    invoice.fail("scan.pdf", "the PDF has no text layer (a scan?); OCR it first")
    host.set_unit("invoice-bot", ActiveState="failed", SubState="failed", Result="exit-code")

    assert host.run("check").returncode == 0

    (message,) = telegram.texts()
    intake_part = message[message.index("<b>intake-bot</b>") : message.index("<b>invoice-bot</b>")]
    invoice_part = message[message.index("<b>invoice-bot</b>") :]
    # The agent alerts on its budget itself (one owner per kind of alert): not a second time here.
    assert "budget" not in message
    assert "waiting in incoming/" in intake_part
    assert "agent-invoice-bot.service is failed" in invoice_part
    assert "scan.pdf (the PDF has no text layer (a scan?); OCR it first)" in invoice_part
    assert "<code>agentctl failed invoice-bot</code>" in invoice_part
    assert message.count("→ <code>") == 3  # every problem says how to look closer
    status = host.run("status")
    assert "daily LLM budget reached" in status.stdout  # shown, though not alerted


def test_new_failed_items_and_restarts_are_news_once(host, telegram):
    agent = host.add_agent("intake-bot")
    assert host.run("check").returncode == 0
    agent.fail("empty.txt", "the file is empty")
    host.set_unit("intake-bot", NRestarts=1)
    host.set_journal(
        "agent-intake-bot.service",
        [
            "agent-intake-bot.service: Watchdog timeout (limit 2min)!",
            "agent-intake-bot.service: Failed with result 'watchdog'.",
        ],
    )

    assert host.run("check").returncode == 0
    (message,) = telegram.texts()
    assert "1 new item(s) in failed/: empty.txt (the file is empty)" in message
    assert "restarted it 1 time(s) since the last check (last failure: watchdog)" in message

    assert host.run("check").returncode == 0
    assert len(telegram.texts()) == 1  # events are told once, and never "recovered"


def test_agent_own_health_adds_only_what_agentctl_cannot_see(host, telegram):
    agent = host.add_agent("intake-bot")
    # What the agent's settings name in HEALTH_SERVICES, as its heartbeat publishes them; a name
    # that is no unit name is never passed to systemctl.
    agent.heartbeat(
        last_llm_success=None, health_services=["ocr-cache.service", "nginx", "x;reboot", 7]
    )
    host.set_service("ocr-cache.service", LoadState="loaded", ActiveState="failed")
    host.set_service("nginx.service", LoadState="loaded", ActiveState="active")
    agent.drop("scan.pdf")  # a document waits, and the LLM never answered

    assert host.run("check").returncode == 0

    (message,) = telegram.texts()
    assert (
        "its own health check fails: llm: never succeeded; service ocr-cache.service: failed"
        in message
    )
    assert "nginx" not in message
    # Nothing runs as the agent: its checks are made here, by the tools' own user.
    assert host.calls("systemd-run") == []
    asked = [call for call in host.calls("systemctl") if "ocr-cache.service" in call]
    assert len(asked) == 1 and asked[0][-2:] == ["nginx", "ocr-cache.service"]
    assert not any("x;reboot" in argument for call in host.calls("systemctl") for argument in call)


def test_health_prints_what_it_would_send_and_sends_nothing(host, telegram):
    host.add_agent("intake-bot")
    host.set_unit("intake-bot", ActiveState="failed", SubState="failed", Result="exit-code")

    result = host.run("health")

    assert result.returncode == 1
    assert "would send:" in result.stdout
    assert "agent-intake-bot.service is failed" in result.stdout
    assert telegram.requests == []
    assert not (host.state_dir / "alerts.json").exists()

    sent = host.run("health", "--send")
    assert sent.returncode == 1  # a problem is open
    assert len(telegram.texts()) == 1


def test_rate_limit_retry_after_is_honoured(host, telegram):
    host.add_agent("intake-bot")
    host.set_unit("intake-bot", ActiveState="failed", SubState="failed")
    telegram.answer_429(retry_after=1)

    result = host.run("check")

    assert result.returncode == 0, result.stderr
    assert len(telegram.texts()) == 1
    (first, _), (second, _) = telegram.requests
    assert second - first >= 1.0
    assert "HTTP 429" in result.stderr and "retrying in 1.00s" in result.stderr


def test_rate_limit_longer_than_allowed_keeps_the_message(host, telegram):
    host.add_agent("intake-bot")
    host.set_unit("intake-bot", ActiveState="failed", SubState="failed")
    telegram.answer_429(retry_after=3600)

    result = host.run("check")

    assert result.returncode == 1
    assert telegram.texts() == []
    assert len(host.alert_state()["outbox"]) == 1
    assert host.run("check").returncode == 0
    assert len(telegram.texts()) == 1


def test_telegram_down_keeps_the_alert_for_the_next_run(host, telegram):
    host.add_agent("intake-bot")
    host.set_unit("intake-bot", ActiveState="failed", SubState="failed")
    telegram.stop()

    down = host.run("check")

    assert down.returncode == 1
    assert "Telegram unreachable" in down.stderr and "kept for the next run" in down.stderr
    assert len(host.alert_state()["outbox"]) == 1

    telegram.start()  # same port
    assert host.run("check").returncode == 0
    (message,) = telegram.texts()
    assert "agent-intake-bot.service is failed" in message
    assert host.alert_state()["outbox"] == []


def test_no_secret_in_any_output(host, telegram):
    agent = host.add_agent(
        "intake-bot",
        env={
            "LLM_PROVIDER": "openai",
            "LLM_API_KEY": SECRET_API_KEY,
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        },
    )
    agent.fail("bad.txt", f"LLM said 401 for key {SECRET_API_KEY}")
    host.set_unit("intake-bot", ActiveState="failed", SubState="failed")
    host.set_journal(
        "agent-intake-bot.service",
        [f"request with Authorization: Bearer {SECRET_API_KEY} failed", f"token {BOT_TOKEN}"],
    )
    telegram.scripted.append((401, {"ok": False, "description": "Unauthorized"}))

    results = [
        host.run("check"),
        host.run("check"),
        host.run("on-failure", "agent-intake-bot.service"),
        host.run("failed", "intake-bot"),
        host.run("failed", "intake-bot", "--json"),
        host.run("health"),
        host.run("status", "--json"),
    ]

    everything = [r.stdout + r.stderr for r in results]
    everything += telegram.texts()
    everything.append((host.state_dir / "alerts.json").read_text())
    for text in everything:
        assert SECRET_API_KEY not in text
        assert BOT_TOKEN not in text
    assert "401" in results[0].stderr and "kept for the next run" in results[0].stderr
    assert any("[REDACTED]" in text for text in telegram.texts())


def test_on_failure_sends_journal_lines_at_once_and_the_check_stays_quiet(host, telegram):
    host.add_agent("intake-bot", env={"LLM_API_KEY": SECRET_API_KEY})
    host.set_journal(
        "agent-intake-bot.service",
        [f"line {n}" for n in range(30)] + [f"settings error, key {SECRET_API_KEY}"],
    )
    host.set_unit("intake-bot", ActiveState="failed", SubState="failed", Result="start-limit-hit")

    result = host.run("on-failure", "agent-intake-bot.service")

    assert result.returncode == 0, result.stderr
    (message,) = telegram.texts()
    assert "agent-intake-bot.service</b> failed" in message
    assert "<code>line 10</code>" not in message  # the last 20 lines only
    assert "<code>line 11</code>" in message
    assert "settings error, key [REDACTED]" in message
    assert host.run("check").returncode == 0
    assert len(telegram.texts()) == 1  # the check knows it was told


def test_long_messages_are_split_and_escaped(host, telegram):
    host.add_agent("intake-bot")
    host.write_config(journal_lines=40)
    host.set_journal("agent-intake-bot.service", [f"<b>{n}</b> & " + "x" * 300 for n in range(40)])

    assert host.run("on-failure", "agent-intake-bot.service").returncode == 0

    parts = telegram.texts()
    assert len(parts) >= 3
    for part in parts:
        # Telegram's limit is on the text once the markup is parsed, in UTF-16 code units.
        text = html.unescape(re.sub(r"<[^>]+>", "", part))
        assert len(text.encode("utf-16-le")) // 2 <= 4096
        assert part.count("<code>") == part.count("</code>")
    joined = "\n".join(parts)
    assert "&lt;b&gt;39&lt;/b&gt; &amp; xxx" in joined


def test_alert_state_survives_an_unreadable_file(host, telegram):
    host.add_agent("intake-bot")
    host.state_dir.mkdir(parents=True)
    (host.state_dir / "alerts.json").write_text('{"version": 1, "problems": {"tor')

    result = host.run("check")

    assert result.returncode == 0, result.stderr
    assert "was unreadable" in result.stderr
    assert host.alert_state()["version"] == 1
    assert list(host.state_dir.glob("alerts.json.unreadable-*"))
    assert not list(host.state_dir.glob(".alerts.json.tmp*"))  # no temp file left behind


def test_dead_mans_switch_is_pinged_with_start_and_result(host, telegram):
    host.add_agent("intake-bot")
    host.write_config(heartbeat_url=f"{telegram.base_url}/ping/abc")

    assert host.run("check").returncode == 0
    telegram.stop()
    host.set_unit("intake-bot", ActiveState="failed", SubState="failed")
    assert host.run("check").returncode == 1  # its pings fail too, quietly

    assert telegram.pings == ["/ping/abc/start", "/ping/abc"]


# costs --------------------------------------------------------------------------------------------


def test_costs_across_agents_by_agent_model_and_day(host):
    today = utc_now().date()
    yesterday = today - timedelta(days=1)
    intake = host.add_agent("intake-bot")
    invoice = host.add_agent("invoice-bot")
    intake.costs(yesterday, [("gpt-4o-mini", 0.25), ("claude-sonnet-4-5", 1.0)])
    intake.costs(today, [("gpt-4o-mini", 0.5)])
    invoice.costs(yesterday, [("gpt-4o-mini", 2.0), ("mystery", None)])
    invoice.costs(today - timedelta(days=5), [("gpt-4o-mini", 100.0)])  # outside the range

    def rows(by):
        result = host.run("costs", "--since", "yesterday", "--by", by, "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["total"]["cost_usd"] == pytest.approx(3.75)
        assert report["total"]["calls"] == 5
        assert report["total"]["unpriced_calls"] == 1
        return {row[by]: (row["calls"], row["cost_usd"]) for row in report["rows"]}

    assert rows("agent") == {"intake-bot": (3, 1.75), "invoice-bot": (2, 2.0)}
    assert rows("model") == {
        "gpt-4o-mini": (3, 2.75),
        "claude-sonnet-4-5": (1, 1.0),
        "mystery": (1, 0.0),
    }
    assert rows("day") == {yesterday.isoformat(): (4, 3.25), today.isoformat(): (1, 0.5)}

    only_yesterday = host.run("costs", "--since", "yesterday", "--until", "yesterday")
    assert only_yesterday.returncode == 0
    assert "intake-bot" in only_yesterday.stdout
    total_line = only_yesterday.stdout.splitlines()[-1]
    assert total_line.split()[:3] == ["total", "4", "400"]
    assert "3.250000" in total_line and "1 call(s) with unknown price" in total_line


def test_costs_read_only_the_days_asked_for(host):
    today = utc_now().date()
    old_day = host.root / "old-day.jsonl"
    old_day.write_text('{"gen_ai.request.model": "m", "cost_usd": 1.0}\n' * 20)
    for number in range(20):
        agent = host.add_agent(f"agent-{number:02d}")
        folder = agent.state / "costs"
        for age in range(2, 366):  # a year of history, as hard links: quick to make
            os.link(old_day, folder / f"{(today - timedelta(days=age)).isoformat()}.jsonl")
        agent.costs(today - timedelta(days=1), [("m", 0.5)])
    # A day outside the range that cannot be read as a file: opening it would fail the command.
    trap = (
        host.state_root / "agent-01" / "costs" / f"{(today - timedelta(days=40)).isoformat()}.jsonl"
    )
    trap.unlink()
    trap.mkdir()

    started = time.monotonic()
    result = host.run("costs", "--since", "yesterday", "--json")
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"] == {
        "calls": 20,
        "input_tokens": 2000,
        "output_tokens": 400,
        "cost_usd": 10.0,
        "unpriced_calls": 0,
    }
    assert elapsed < 1.5, f"a year of history took {elapsed:.2f}s"


# user errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("failed", "no-such-bot"),
        ("retry", "no-such-bot", "x.txt"),
        ("logs", "no-such-bot"),
        ("review", "no-such-bot", "list"),
        ("logs", "../../etc"),
    ],
    ids=["failed", "retry", "logs", "review", "path"],
)
def test_unknown_agent_is_one_line(host, args):
    host.add_agent("intake-bot")
    line = one_line_error(host.run(*args))
    assert line.startswith("agentctl: no agent")
    assert "intake-bot" in line  # says which agents there are


@pytest.mark.parametrize(
    "args",
    [
        ("costs", "--since", "last tuesday"),
        ("costs", "--since", "2025-02-30"),
        ("costs", "--until", "soon"),
        ("costs", "--since", "today", "--until", "yesterday"),
        ("digest", "--day", "someday"),
    ],
    ids=["words", "impossible-date", "until", "reversed", "digest"],
)
def test_bad_date_is_one_line(host, args):
    host.add_agent("intake-bot")
    line = one_line_error(host.run(*args))
    assert "yesterday" in line or "swap them" in line


def test_bad_configuration_is_one_line(host):
    host.write_config(reminder_hours=-1, heartbeat_url="ftp://x")
    line = one_line_error(host.run("status"))
    assert "reminder_hours must be a number above 0" in line
    assert "heartbeat_url must be an http(s) URL" in line
    assert one_line_error(host.run("check-config", str(host.config_file))) == line


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(SYSTEM_PYTHON),
    reason="needs root and the system python3 to run agentctl as another user",
)
def test_only_root_or_the_admin_group_may_use_it(host):
    # As installed: the configuration is readable by root and the admin group only. The code is
    # put where the other user can read it (the test's own folders are root's only).
    lib_dir = Path(tempfile.mkdtemp(prefix="agentctl-lib-"))
    try:
        lib_dir.chmod(0o755)
        host.launcher = install_agentctl(lib_dir)
        result = host.run("status", python=SYSTEM_PYTHON, user=65534, group=65534, extra_groups=[])
    finally:
        shutil.rmtree(lib_dir)
    line = one_line_error(result)
    assert "only root and members of the admin group" in line


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(SYSTEM_PYTHON) or not shutil.which("setpriv"),
    reason="needs root, the system python3 and setpriv to run agentctl as the health units do",
)
def test_the_tools_user_runs_the_unattended_commands_and_nothing_else(host, telegram):
    # As pillars-health.service runs it: the tools' own user (not root, not in the admin group)
    # with CAP_DAC_READ_SEARCH alone, owning agentctl's state directory and nothing else.
    agent = host.add_agent("intake-bot")
    agent.fail("empty.txt", "the file is empty")
    host.write_config(tools_user="nobody")
    host.state_dir.mkdir(mode=0o700, parents=True)  # StateDirectory=, given to the user
    os.chown(host.state_dir, 65534, 65534)
    as_the_units = (
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
        SYSTEM_PYTHON,
    )
    lib_dir = Path(tempfile.mkdtemp(prefix="agentctl-lib-"))
    try:
        lib_dir.chmod(0o755)
        host.launcher = install_agentctl(lib_dir)
        # An admin's `sudo agentctl check` first, right after the deployment: what root writes
        # there goes to the directory's owner (systemd would not give it back: the top is the
        # user's already), and the units' next check takes the lock and updates the state.
        by_root = host.run("check")
        owners = {path.name: path.stat().st_uid for path in host.state_dir.iterdir()}
        (agent.state / "failed" / "late.txt").write_text("")
        check = host.run("check", python=shutil.which("setpriv"), python_flags=as_the_units)
        digest = host.run("digest", python=shutil.which("setpriv"), python_flags=as_the_units)
        status = host.run("status", python=shutil.which("setpriv"), python_flags=as_the_units)
    finally:
        shutil.rmtree(lib_dir)

    assert by_root.returncode == 0, by_root.stderr
    assert owners == {"alerts.json": 65534, "lock": 65534}
    assert check.returncode == 0, check.stderr
    first, second = telegram.texts()
    assert "1 new item(s) in failed/: empty.txt" in first
    assert "1 new item(s) in failed/: late.txt" in second
    assert host.alert_state()["agents"]["intake-bot"]["failed"] == ["empty.txt", "late.txt"]
    assert (host.state_dir / "alerts.json").stat().st_uid == 65534
    assert digest.returncode == 0, digest.stderr
    assert "intake-bot" in digest.stdout
    # An operator's command is still root's or the admin group's only.
    assert "only root and members of the admin group" in one_line_error(status)


def test_secret_file_readable_by_others_is_refused(host):
    host.add_agent("intake-bot")
    host.secret_file.chmod(0o644)
    line = one_line_error(host.run("check"))
    assert "chmod 600" in line


# failed, retry, review, logs ----------------------------------------------------------------------


def test_failed_lists_items_with_their_reasons(host):
    agent = host.add_agent("intake-bot")
    agent.fail("invoice.docx", "file type .docx is not accepted", age=timedelta(hours=2))
    agent.fail("empty.txt", "the file is empty")

    result = host.run("failed", "intake-bot")

    assert result.returncode == 0
    out = result.stdout
    assert "2 item(s) in failed/" in out
    assert out.index("invoice.docx") < out.index("empty.txt")  # oldest first
    assert "file type .docx is not accepted" in out
    assert "agentctl retry intake-bot FILE" in out
    empty = host.run("failed", "intake-bot", "--json")
    assert [i["file"] for i in json.loads(empty.stdout)["items"]] == ["invoice.docx", "empty.txt"]


def test_retry_moves_the_item_back_and_records_who_did_it(host):
    agent = host.add_agent("intake-bot")
    agent.fail("scan.pdf", "the PDF has no text layer", age=timedelta(days=2))
    agent.drop("scan.pdf")  # a newer file of the same name is already waiting

    result = host.run("retry", "intake-bot", "scan.pdf")

    assert result.returncode == 0, result.stderr
    assert "back in incoming/scan-2.pdf" in result.stdout
    moved = agent.state / "incoming" / "scan-2.pdf"
    assert moved.read_text() == "document"
    assert time.time() - moved.stat().st_mtime < 60  # counts as new, not as an old backlog
    assert moved.stat().st_uid == agent.state.stat().st_uid
    assert not list((agent.state / "failed").iterdir())  # the item and its sidecar
    (entry,) = [
        json.loads(line) for line in (host.logs_root / "agentctl.log").read_text().splitlines()
    ]
    assert entry["action"] == "retry"
    assert entry["agent"] == "intake-bot" and entry["file"] == "scan.pdf"
    assert entry["to"] == "incoming/scan-2.pdf" and entry["user"]
    assert not (agent.state / "audit.jsonl").exists()  # the agent's own log is the agent's

    line = one_line_error(host.run("retry", "intake-bot", "scan.pdf"))
    assert "no failed item 'scan.pdf'" in line


@pytest.mark.parametrize("move", ["renameat2", "link"])
def test_retry_never_replaces_a_file_the_agent_wrote_meanwhile(host, monkeypatch, move):
    """The agent claims names in incoming/ without agentctl's knowledge: one appears between
    agentctl's free-name check and its move (arranged by state, not timing), and is kept."""
    agent = host.add_agent("intake-bot")
    agent.fail("scan.pdf", "the PDF has no text layer")
    files = import_agentctl("contract.files")
    real_free_path = files.free_path
    raced = []

    def free_path_then_the_agent_writes_there(folder, name):
        candidate = real_free_path(folder, name)
        if not raced:
            candidate.write_text("written by the agent meanwhile")
            raced.append(candidate.name)
        return candidate

    monkeypatch.setattr(files, "free_path", free_path_then_the_agent_writes_there)
    if move == "link":
        # A C library without renameat2: the contract falls back to a hard link + unlink.
        monkeypatch.setattr(files, "_renameat2", None)
    monkeypatch.setenv("AGENTCTL_CONFIG", str(host.config_file))

    assert import_agentctl("cli").main(["retry", "intake-bot", "scan.pdf"]) == 0

    incoming = agent.state / "incoming"
    assert raced == ["scan.pdf"]
    assert (incoming / "scan.pdf").read_text() == "written by the agent meanwhile"
    assert (incoming / "scan-2.pdf").read_text() == "document"
    assert (incoming / "scan-2.pdf").stat().st_nlink == 1
    assert not list((agent.state / "failed").iterdir())
    (entry,) = [
        json.loads(line) for line in (host.logs_root / "agentctl.log").read_text().splitlines()
    ]
    assert entry["to"] == "incoming/scan-2.pdf"


def test_review_runs_the_agent_cli_as_the_agent_in_its_sandbox(host):
    host.add_agent("intake-bot")

    result = host.run("review", "intake-bot", "resolve", "abc123", "--choose", "2", "--note", "ok")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "agent review resolve abc123 --choose 2 --note ok"
    (call,) = host.calls("systemd-run")
    for option in (
        "--pipe",
        "--wait",
        "--collect",
        "--property=User=agent-intake-bot",
        f"--property=LoadCredential=env:{host.config_root}/intake-bot/.env",
        "--property=StateDirectory=agents/intake-bot",
        "--property=ProtectSystem=strict",
        "--property=NoNewPrivileges=yes",
        # The agent's audit log names who decided, not the agent's own user.
        f"--setenv=PILLARS_OPERATOR={pwd.getpwuid(os.getuid()).pw_name}",
    ):
        assert option in call
    assert call[-6:] == ["review", "resolve", "abc123", "--choose", "2", "--note", "ok"][-6:]
    assert host.run("review", "intake-bot", "show", "fail").returncode == 3  # its exit code
    entry = json.loads((host.logs_root / "agentctl.log").read_text().splitlines()[0])
    assert entry["action"] == "review"
    assert entry["arguments"] == ["resolve", "abc123", "--choose", "2", "--note", "ok"]


def test_logs_reads_the_unit_journal_and_the_log_file(host):
    host.add_agent("intake-bot")
    host.set_journal("agent-intake-bot.service", ["first", "second", "third"])
    (host.logs_root / "intake-bot").mkdir()
    (host.logs_root / "intake-bot" / "agent.log").write_text('{"msg": "a"}\n{"msg": "b"}\n')

    journal = host.run("logs", "intake-bot", "-n", "2")
    log_file = host.run("logs", "intake-bot", "--file", "-n", "1")

    assert journal.returncode == 0
    assert journal.stdout.split() == ["second", "third"]
    assert host.calls("journalctl")[-1][0] == "--unit=agent-intake-bot.service"
    assert log_file.stdout == '{"msg": "b"}\n'


# digest ---------------------------------------------------------------------------------------


def test_digest_tells_yesterday_costs_items_and_reviews(host, telegram):
    yesterday = utc_now().date() - timedelta(days=1)
    noon = utc_now().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    intake = host.add_agent("intake-bot")
    invoice = host.add_agent("invoice-bot")
    intake.costs(yesterday, [("gpt-4o-mini", 0.25), ("gpt-4o-mini", 0.5)])
    invoice.costs(yesterday, [("gpt-4o-mini", 1.0)])
    intake.audit(noon - timedelta(days=1), "item.moved", to="done")  # the day before: not counted
    for destination in ("done", "done", "review", "failed", "incoming"):
        intake.audit(noon, "item.moved", to=destination)
    intake.audit(noon + timedelta(days=1, hours=1), "item.moved", to="done")  # today: not counted
    intake.park_for_review("lab.md")

    printed = host.run("digest")
    assert printed.returncode == 0
    assert f"digest for {yesterday.isoformat()}" in printed.stdout
    assert (
        "intake-bot: $0.75 (2 LLM call(s)); 4 processed: 2 done, 1 to review, 1 failed"
        in printed.stdout
    )
    assert "1 waiting for review now" in printed.stdout
    assert "total: $1.75 (3 LLM call(s))" in printed.stdout
    assert telegram.requests == []

    assert host.run("digest", "--send").returncode == 0
    assert host.run("digest", "--send").returncode == 0  # a second timer run the same day
    assert len(telegram.texts()) == 1


def test_markup_telegram_cannot_parse_is_sent_as_plain_text(host, telegram):
    host.add_agent("intake-bot")
    host.set_unit("intake-bot", ActiveState="failed", SubState="failed")
    refusal = {"ok": False, "description": "Bad Request: can't parse entities: unclosed tag"}
    telegram.scripted.append((400, refusal))

    result = host.run("check")

    assert result.returncode == 0, result.stderr
    (text,) = telegram.texts()
    assert "agent-intake-bot.service is failed" in text
    assert "<b>" not in text and "<code>" not in text
    assert "sending as plain text" in result.stderr


def test_a_chat_that_became_a_supergroup_is_followed_and_named(host, telegram):
    host.add_agent("intake-bot")
    host.set_unit("intake-bot", ActiveState="failed", SubState="failed")
    moved = {
        "ok": False,
        "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": -100999},
    }
    telegram.scripted.append((400, moved))

    result = host.run("check")

    assert result.returncode == 0, result.stderr
    (message,) = telegram.messages
    assert str(message["chat_id"]) == "-100999"
    assert "health_telegram_chat_id" in result.stderr and "-100999" in result.stderr
    assert host.alert_state()["outbox"] == []
