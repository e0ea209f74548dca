"""pillars-backup, the backup role's tool, against a real restic repository in a temporary folder.

Needs restic (Debian's package); skipped where it is not installed.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOL = REPO_ROOT / "roles" / "backup" / "files" / "pillars_backup.py"
RESTIC = os.environ.get("PILLARS_BACKUP_RESTIC") or shutil.which("restic")

spec = importlib.util.spec_from_file_location("pillars_backup", TOOL)
pillars_backup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pillars_backup)


class Site:
    def __init__(self, root: Path):
        self.root = root
        self.snapshots = root / "snapshots"
        self.credentials = root / "credentials"
        self.status = root / "status" / "status.json"
        for folder in (self.snapshots, self.credentials, self.status.parent):
            folder.mkdir(parents=True)
        self.config = root / "backup.json"
        self.write_config(agents=["intake-bot"])
        self.set_password("correct horse battery staple")
        for name in ("environment", "ssh-key", "known-hosts"):
            (self.credentials / name).write_text("\n")
        self.add_snapshot("intake-bot", 17)

    def write_config(self, **changes) -> None:
        config = {
            "repository": str(self.root / "repository"),
            "host": "agents-1",
            "snapshots_dir": str(self.snapshots),
            "agents": [],
            "keep": {"daily": 7, "weekly": 4, "monthly": 12},
            "status_file": str(self.status),
            "cache_dir": str(self.root / "cache"),
        }
        config.update(changes)
        self.config.write_text(json.dumps(config))

    def set_password(self, password: str) -> None:
        (self.credentials / "password").write_text(password)

    def add_snapshot(self, slug: str, sequence: int) -> None:
        summary = {
            "format": "pillars-snapshot/1",
            "taken_at": pillars_backup.stamp(pillars_backup.utc_now()),
            "audit": {"sequence": sequence, "hash": "ab" * 32},
        }
        current = self.snapshots / slug / "current"
        current.mkdir(parents=True, exist_ok=True)
        (current / "agent.db").write_bytes(b"state of " + slug.encode())
        (self.snapshots / slug / "snapshot.json").write_text(json.dumps(summary))

    def run(self, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        env = {
            "PATH": os.environ["PATH"],
            "PILLARS_BACKUP_CONFIG": str(self.config),
            "CREDENTIALS_DIRECTORY": str(self.credentials),
            "PILLARS_BACKUP_RESTIC": RESTIC or "",
        }
        return subprocess.run(
            [*prefix, sys.executable, str(TOOL), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def read_status(self) -> dict:
        return json.loads(self.status.read_text())


@pytest.fixture
def site(tmp_path):
    if RESTIC is None:
        pytest.skip("restic is not installed (apt install restic)")
    return Site(tmp_path)


def test_a_run_backs_up_writes_the_anchor_and_the_status(site):
    result = site.run("run")
    assert result.returncode == 0, result.stderr
    anchor = json.loads((site.snapshots / "audit-anchor.json").read_text())
    assert anchor["format"] == "pillars-audit-anchor/1"
    assert anchor["taken_at"].endswith("Z")
    assert anchor["agents"] == {"intake-bot": {"sequence": 17, "hash": "ab" * 32}}
    status = site.read_status()
    assert status["last_run"]["ok"] and status["last_success"]["total_bytes"] > 0
    assert status["last_success"]["snapshot_id"]
    listed = site.run("snapshots")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 1


def test_a_night_reads_only_what_changed_though_the_snapshot_linked_the_rest_anew(site, tmp_path):
    # A snapshot hard-links the documents (and past days' cost records) from the state: each
    # night's new links change their ctime, not their content, size, mtime or inode.
    live = tmp_path / "state-done"
    live.mkdir()
    names = [f"doc-{number}.txt" for number in range(3)]
    for name in names:
        (live / name).write_text(f"the document {name}")

    def snapshot(sequence: int) -> None:
        tree = site.snapshots / "intake-bot"
        staging = tree / ".next" / "done"
        staging.mkdir(parents=True)
        for name in names:
            os.link(live / name, staging / name)
        shutil.rmtree(tree / "current")
        staging.parent.rename(tree / "current")
        site.add_snapshot("intake-bot", sequence)  # and a new database copy

    # Written anew each night: the database copy, snapshot.json and the audit anchor.
    rewritten = 3
    snapshot(17)
    assert site.run("run").returncode == 0
    assert site.read_status()["last_success"]["files_read"] == rewritten + len(names)
    snapshot(18)
    result = site.run("run")
    assert result.returncode == 0, result.stderr
    assert site.read_status()["last_success"]["files_read"] == rewritten  # not the documents


def test_restore_by_latest_id_and_day_brings_the_snapshot_back(site, tmp_path):
    assert site.run("run").returncode == 0
    short_id = site.run("snapshots").stdout.split()[0]
    day = pillars_backup.utc_now().date().isoformat()
    for wanted in ("latest", short_id, day):
        target = tmp_path / f"restored-{wanted}"
        result = site.run("restore", "--snapshot", wanted, "--target", str(target))
        assert result.returncode == 0, result.stderr
        restored = target / str(site.snapshots).lstrip("/") / "intake-bot" / "current" / "agent.db"
        assert restored.read_bytes() == b"state of intake-bot"
    before = site.run("restore", "--snapshot", "2001-01-01", "--target", str(tmp_path / "x"))
    assert before.returncode == 2 and "no snapshot of host agents-1 on or before" in before.stderr


def test_a_wrong_password_is_one_line_and_deletes_nothing(site):
    assert site.run("run").returncode == 0
    site.set_password("wrong")
    result = site.run("run")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("pillars-backup: restic could not open the repository: wrong password")
    assert "correct horse" not in result.stderr + result.stdout
    assert not site.read_status()["last_run"]["ok"]
    site.set_password("correct horse battery staple")
    assert len(site.run("snapshots").stdout.splitlines()) == 1


def test_an_unreachable_repository_fails_the_run_and_the_next_catches_up(site):
    site.write_config(agents=["intake-bot"], repository=str(site.root / "missing" / "repo"))
    (site.root / "missing").write_text("a file where the repository's parent should be")
    failed = site.run("run")
    assert failed.returncode == 1
    assert "restic failed on" in failed.stderr
    assert not site.read_status()["last_run"]["ok"]
    site.write_config(agents=["intake-bot"])
    assert site.run("run").returncode == 0
    assert site.read_status()["last_run"]["ok"]


def test_an_agent_without_a_fresh_snapshot_fails_the_run_but_the_rest_is_backed_up(site):
    site.write_config(agents=["intake-bot", "invoice-bot"])
    result = site.run("run")
    assert result.returncode == 1
    assert "no fresh snapshot of invoice-bot" in result.stderr
    assert len(site.run("snapshots").stdout.splitlines()) == 1


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root to hand a snapshot to another user, and setpriv (util-linux)",
)
def test_a_run_that_cannot_read_a_snapshot_says_which_capability_is_missing(site):
    # As pillars-backup.service on a host that withholds CAP_DAC_READ_SEARCH (a container): the
    # agent's file is another user's 0600 file, and no capability lets the run read it.
    database = site.snapshots / "intake-bot" / "current" / "agent.db"
    os.chown(database, 65534, 65534)
    database.chmod(0o600)
    without = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--")
    result = site.run("run", prefix=without)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("pillars-backup: restic could not read the agents' snapshots (")
    assert str(database) in line and "CAP_DAC_READ_SEARCH" in line
    assert not site.read_status()["last_run"]["ok"]
    assert site.run("run").returncode == 0  # with the capability, the next run catches up


def test_sftp_repositories_get_their_own_key_and_strict_host_key(tmp_path, monkeypatch):
    (tmp_path / "ssh-key").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (tmp_path / "known-hosts").write_text("nas ssh-ed25519 AAAA\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    short = pillars_backup.sftp_command("sftp:backup@nas:/srv/restic")
    assert short.endswith("backup@nas -s sftp")
    assert f"UserKnownHostsFile={tmp_path / 'known-hosts'}" in short
    assert "StrictHostKeyChecking=yes" in short
    url = pillars_backup.sftp_command("sftp://backup@nas:2222//srv/restic")
    assert "-p 2222" in url
    (tmp_path / "ssh-key").write_text("\n")
    assert pillars_backup.sftp_command("sftp:backup@nas:/srv/restic") is None
