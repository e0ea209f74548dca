"""agentctl watches the host's nightly backup through the status file pillars-backup writes."""

import json
import time
from datetime import timedelta

import pytest
from agentctl_stubs import Host, utc_now


@pytest.fixture
def host(host):
    """The host of every agentctl test, with one agent and the backup's status folder."""
    host.add_agent("intake-bot")
    host.backup_status_file.parent.mkdir(parents=True)
    return host


def stamp(delta: timedelta = timedelta(0)) -> str:
    return (utc_now() - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def success(age: timedelta) -> dict:
    return {
        "at": stamp(age),
        "ok": True,
        "snapshot_id": "5e887ffd",
        "total_bytes": 12_900_000,
        "added_bytes": 2020,
    }


def write_status(host: Host, **fields) -> None:
    document = {"format": "pillars-backup-status/1", "installed_at": stamp(timedelta(days=3))}
    document.update(fields)
    host.backup_status_file.write_text(json.dumps(document))


def test_a_host_without_backups_says_nothing_about_them(host, telegram):
    host.backup_status_file.parent.rmdir()
    status = host.run("status")
    assert status.returncode == 0, status.stdout
    assert "backup" not in status.stdout
    assert host.run("check").returncode == 0
    assert telegram.texts() == []


def test_status_shows_the_last_backup_time_and_size(host):
    write_status(
        host, last_run=success(timedelta(hours=5)), last_success=success(timedelta(hours=5))
    )
    status = host.run("status")
    assert status.returncode == 0, status.stdout
    assert "last backup:" in status.stdout and "12.3M" in status.stdout
    assert "5e887ffd" in status.stdout
    document = json.loads(host.run("status", "--json").stdout)
    assert document["backup"]["last_success"]["total_bytes"] == 12_900_000


def test_a_failed_run_is_told_once_reminded_and_then_recovered(host, telegram):
    write_status(host, last_success=success(timedelta(hours=25)))
    assert host.run("check").returncode == 0
    assert telegram.texts() == []
    error = "restic failed on sftp:backup@offsite:/srv/restic: Fatal: unable to open repository"
    write_status(
        host,
        last_success=success(timedelta(hours=25)),
        last_run={"at": stamp(), "ok": False, "error": error},
    )
    assert host.run("check").returncode == 0
    (message,) = telegram.texts()
    assert "the last backup failed" in message and "unable to open repository" in message
    assert "journalctl -u pillars-backup" in message
    assert host.run("check").returncode == 0
    assert len(telegram.texts()) == 1  # the next check, same problem: silence

    host.write_config(reminder_hours=0.5 / 3600)
    time.sleep(0.6)
    assert host.run("check").returncode == 0
    assert len(telegram.texts()) == 2 and "still" in telegram.texts()[1]

    write_status(host, last_run=success(timedelta(0)), last_success=success(timedelta(0)))
    assert host.run("check").returncode == 0
    assert len(telegram.texts()) == 3 and "recovered" in telegram.texts()[2]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"last_success": timedelta(hours=30)}, "the last backup is 30h00m old"),
        ({}, "no backup since backups were set up"),
    ],
    ids=["too old", "never"],
)
def test_a_backup_older_than_its_window_is_a_problem(host, fields, expected):
    # Ages become times when the test runs, not when it is collected.
    write_status(host, **{name: success(age) for name, age in fields.items()})
    status = host.run("status")
    assert status.returncode == 1
    assert expected in status.stdout


def test_the_window_is_a_setting_and_a_new_host_has_a_day_of_grace(host):
    write_status(host, installed_at=stamp(timedelta(hours=2)))
    assert host.run("status").returncode == 0
    write_status(host, last_success=success(timedelta(hours=30)))
    host.write_config(backup_max_age_hours=48)
    assert host.run("status").returncode == 0


def test_a_damaged_status_is_reported_not_raised(host):
    host.backup_status_file.write_text("{not json")
    status = host.run("status")
    assert status.returncode == 1
    assert "cannot be read" in status.stdout and "Traceback" not in status.stderr
