#!/usr/bin/python3
"""pillars-backup: the host's restic backups of its agents' snapshots, and their restore.

    pillars-backup run        back up the snapshots (pillars-backup.service, after the snapshots)
    pillars-backup check      check the repository (pillars-backup-check.service, weekly)
    pillars-backup snapshots  list this host's snapshots in the repository
    pillars-backup restore --target DIR [--snapshot latest|ID|YYYY-MM-DD] [--from-host H]
                           [--agent SLUG]...

Settings come from /etc/pillars/backup.json (written by the backup role, root-only). The units
run as the pillars-backup user and get the settings, the repository password and the backend's
credentials as systemd credentials (LoadCredential=); root running a restore reads the root-only
files of /etc/pillars and /etc/credstore/pillars-backup. They go to restic's process alone, never
into argv or a log. Each run writes the status agentctl reads.
Standard library only: it runs with the system's python3.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

CONFIG_PATH = Path(os.environ.get("PILLARS_BACKUP_CONFIG", "/etc/pillars/backup.json"))
CREDSTORE = Path("/etc/credstore/pillars-backup")
ANCHOR_FILE = "audit-anchor.json"
ANCHOR_FORMAT = "pillars-audit-anchor/1"
STATUS_FORMAT = "pillars-backup-status/1"
SNAPSHOT_SUMMARY = "snapshot.json"
TAG = "pillars"
RESTIC = os.environ.get("PILLARS_BACKUP_RESTIC", "/usr/bin/restic")
PING_TIMEOUT_SECONDS = 10
SFTP_SCHEME = re.compile(r"^sftp://(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+)(?::(?P<port>\d+))?/")
SFTP_SHORT = re.compile(r"^sftp:(?:(?P<user>[^@:/]+)@)?(?P<host>[^:/]+):")
WRONG_PASSWORD = "wrong password or no key found"  # noqa: S105 (restic's message, not a secret)
NO_REPOSITORY = ("Is there a repository at the following location?", "unable to open config file")


class BackupError(Exception):
    """A run cannot go on; the message is the one line the operator reads."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def config_path() -> Path:
    """The settings: the unit's credential 'config' under systemd, else the root-only file."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    handed = Path(directory) / "config" if directory else None
    return handed if handed is not None and handed.is_file() else CONFIG_PATH


def load_config() -> dict:
    path = config_path()
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(
            f"{path} does not exist; set backup_restic_repository and run playbooks/site.yml"
        ) from None
    except (OSError, ValueError) as error:
        raise BackupError(f"cannot read {path}: {error}") from None
    if not config.get("repository"):
        raise BackupError(f"{path} names no repository; set backup_restic_repository")
    return config


def credential(name: str) -> Path | None:
    """Return the file of one credential, from systemd's directory or the root-only store."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    for base in ([Path(directory)] if directory else []) + [CREDSTORE]:
        path = base / name
        if path.is_file():
            # The role writes every credential file; a blank one stands for "not used".
            return path if path.read_bytes().strip() else None
    return None


def sftp_command(repository: str) -> str | None:
    """The ssh command of an sftp repository that has its own key and known host (or None)."""
    key, known = credential("ssh-key"), credential("known-hosts")
    if key is None:
        return None
    match = SFTP_SCHEME.match(repository) or SFTP_SHORT.match(repository)
    if match is None:
        return None
    parts = ["ssh", "-F", "/dev/null", "-i", str(key), "-o", "BatchMode=yes"]
    parts += ["-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=20"]
    if known is not None:
        parts += ["-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes"]
    if match.groupdict().get("port"):
        parts += ["-p", match["port"]]
    target = f"{match['user']}@{match['host']}" if match["user"] else match["host"]
    return " ".join([*parts, target, "-s", "sftp"])


def unreadable_item(line: str) -> str | None:
    """The file a `restic backup --json` error line says it was refused (EACCES, EPERM), or None.

    restic 0.14 (Debian 12) writes {"message_type": "error", "error": {"Op": "open", "Err": 13},
    "item": path}; later releases put the text in error.message.
    """
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("message_type") != "error":
        return None
    error = message.get("error") if isinstance(message.get("error"), dict) else {}
    refused = error.get("Err") in (1, 13) or "permission denied" in str(error.get("message", ""))
    return str(message.get("item") or "?") if refused else None


def owner_of(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


class Restic:
    """restic with the repository, its password file and the backend's variables."""

    def __init__(self, config: dict):
        self.config = config
        password = credential("password")
        if password is None:
            raise BackupError(
                "no repository password (credential 'password'); set backup_restic_password in "
                "the vault and run playbooks/site.yml"
            )
        env = {key: os.environ[key] for key in ("PATH", "LANG", "TZ") if key in os.environ}
        env.update(RESTIC_REPOSITORY=config["repository"], RESTIC_PASSWORD_FILE=str(password))
        env["RESTIC_CACHE_DIR"] = config.get("cache_dir", "/var/cache/pillars-backup")
        env["HOME"] = env["RESTIC_CACHE_DIR"]
        environment = credential("environment")
        if environment is not None:
            for line in environment.read_text(encoding="utf-8").splitlines():
                key, separator, value = line.partition("=")
                if separator and key.strip() and not key.startswith("#"):
                    env[key.strip()] = value
        self.env = env
        command = sftp_command(config["repository"])
        self.options = ["-o", f"sftp.command={command}"] if command else []
        if os.geteuid() == 0 and owner_of(Path(env["RESTIC_CACHE_DIR"])) not in (None, 0):
            # Root restoring by hand leaves the units' cache alone: a root-owned file in it would
            # stop the next nightly run, which is not root, from updating it.
            self.options.append("--no-cache")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = [RESTIC, *self.options, *args]
        # S603: restic by full path, an argument list, no shell.
        result = subprocess.run(  # noqa: S603
            argv, env=self.env, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise BackupError(self.explain(result.stderr))
        return result

    def explain(self, stderr: str) -> str:
        """One line from restic's error output: wrong password, no repository, unreachable."""
        repository = self.config["repository"]
        if WRONG_PASSWORD in stderr:
            return (
                f"restic could not open the repository: wrong password for {repository}; fix "
                "backup_restic_password in the vault (nothing was deleted)"
            )
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        denied = next(filter(None, map(unreadable_item, lines)), None)
        if denied is not None:
            return (
                f"restic could not read the agents' snapshots ({denied[:200]}: permission denied): "
                "the backup unit reads them with CAP_DAC_READ_SEARCH, which this host withholds (a "
                "container started without it?); the snapshot it took is incomplete"
            )
        last = next((line for line in reversed(lines) if line.startswith("Fatal")), None)
        last = last or (lines[-1] if lines else "no output")
        return f"restic failed on {repository}: {last[:300]}"

    def open_or_init(self) -> None:
        """Open the repository; create it on the very first run if nothing is there yet."""
        result = self.run("cat", "config", check=False)
        if result.returncode == 0:
            return
        if WRONG_PASSWORD not in result.stderr and any(
            marker in result.stderr for marker in NO_REPOSITORY
        ):
            created = self.run("init", check=False)
            if created.returncode == 0:
                return
            raise BackupError(self.explain(created.stderr))
        raise BackupError(self.explain(result.stderr))


def read_json(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def write_json(path: Path, document: dict) -> None:
    """Replace path atomically; the file keeps the group of its directory (setgid)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)  # a crash's leftover, perhaps another user's
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    temporary.chmod(0o640)
    temporary.replace(path)


def ping(config: dict, suffix: str) -> None:
    """Tell the dead-man's switch (healthchecks.io style) how the run goes; never fail for it."""
    url = config.get("heartbeat_url") or ""
    if not url:
        return
    if not url.startswith(("https://", "http://")):
        print("pillars-backup: the dead-man's switch URL must be http(s)", file=sys.stderr)
        return
    try:
        # S310: http(s) only, checked above.
        with urllib.request.urlopen(url.rstrip("/") + suffix, timeout=PING_TIMEOUT_SECONDS):  # noqa: S310
            pass
    except OSError as error:
        print(f"pillars-backup: dead-man's switch not reached: {error}", file=sys.stderr)


def write_anchor(config: dict, started: datetime) -> tuple[dict, list[str]]:
    """Write audit-anchor.json from each agent's fresh snapshot; return it and the agents missed."""
    root = Path(config["snapshots_dir"])
    agents, missed = {}, []
    for slug in config.get("agents", []):
        summary = read_json(root / slug / SNAPSHOT_SUMMARY)
        taken = summary.get("taken_at", "")
        fresh = taken >= stamp(started - timedelta(seconds=config.get("snapshot_slack", 3600)))
        audit = summary.get("audit") if isinstance(summary.get("audit"), dict) else {}
        if not fresh or "sequence" not in audit:
            missed.append(slug)
            continue
        agents[slug] = {"sequence": int(audit["sequence"]), "hash": str(audit["hash"])}
    anchor = {"format": ANCHOR_FORMAT, "taken_at": stamp(utc_now()), "agents": agents}
    write_json(root / ANCHOR_FILE, anchor)
    return anchor, missed


def backup_summary(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("message_type") == "summary":
            return message
    return {}


def peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def backup_arguments(root: str, host: str) -> list[str]:
    """The `restic backup` of the agents' snapshots under root, as this host.

    --ignore-ctime: a snapshot hard-links the files that do not change (documents, the cost records
    of past days), and each new link changes the file's ctime; restic still finds a changed file
    by its size, mtime and inode, and so reads only what is new.
    """
    return [
        "backup",
        "--json",
        "--host",
        host,
        "--tag",
        TAG,
        "--ignore-ctime",
        "--exclude",
        f"{root}/*/.next",
        "--exclude",
        f"{root}/*/.previous",
        root,
    ]


def command_run(config: dict) -> int:
    status_path = Path(config["status_file"])
    status = read_json(status_path) or {"format": STATUS_FORMAT}
    started = utc_now()
    clock = time.monotonic()
    ping(config, "/start")
    try:
        anchor, missed = write_anchor(config, started)
        restic = Restic(config)
        restic.open_or_init()
        result = restic.run(*backup_arguments(config["snapshots_dir"], config["host"]))
        summary = backup_summary(result.stdout)
        keep = config["keep"]
        restic.run(
            "forget",
            "--prune",
            "--host",
            config["host"],
            "--tag",
            TAG,
            "--keep-daily",
            str(keep["daily"]),
            "--keep-weekly",
            str(keep["weekly"]),
            "--keep-monthly",
            str(keep["monthly"]),
        )
        if missed:
            raise BackupError(
                f"no fresh snapshot of {', '.join(missed)} (the rest is backed up): see "
                "journalctl -u 'pillars-snapshot@*'"
            )
    except BackupError as error:
        status["last_run"] = {"at": stamp(started), "ok": False, "error": str(error)}
        status["format"] = STATUS_FORMAT
        write_json(status_path, status)
        print(f"pillars-backup: {error}", file=sys.stderr)
        ping(config, "/1")
        return 1
    success = {
        "at": stamp(started),
        "ok": True,
        "snapshot_id": summary.get("snapshot_id", ""),
        "total_bytes": summary.get("total_bytes_processed", 0),
        "added_bytes": summary.get("data_added", 0),
        "files": summary.get("total_files_processed", 0),
        # The files restic read (new or changed); the rest it found unchanged, as they lay.
        "files_read": summary.get("files_new", 0) + summary.get("files_changed", 0),
        "duration_seconds": round(time.monotonic() - clock, 1),
        "restic_peak_rss_bytes": peak_rss_bytes(),
        "agents": sorted(anchor["agents"]),
    }
    status.update(format=STATUS_FORMAT, last_run=success, last_success=success)
    write_json(status_path, status)
    print(
        f"pillars-backup: snapshot {success['snapshot_id'][:8]} of {len(anchor['agents'])} "
        f"agent(s), {success['total_bytes']} bytes ({success['added_bytes']} new) in "
        f"{success['duration_seconds']} s"
    )
    ping(config, "")
    return 0


def command_check(config: dict) -> int:
    status_path = Path(config["status_file"])
    status = read_json(status_path) or {"format": STATUS_FORMAT}
    started = utc_now()
    try:
        Restic(config).run("check", "--read-data-subset", config.get("check_subset", "5%"))
    except BackupError as error:
        status["last_check"] = {"at": stamp(started), "ok": False, "error": str(error)}
        write_json(status_path, status)
        print(f"pillars-backup: {error}", file=sys.stderr)
        return 1
    status["last_check"] = {"at": stamp(started), "ok": True}
    write_json(status_path, status)
    print("pillars-backup: repository checked, no errors")
    return 0


def list_snapshots(restic: Restic, host: str) -> list[dict]:
    result = restic.run("snapshots", "--json", "--host", host, "--tag", TAG)
    snapshots = json.loads(result.stdout or "[]")
    return sorted(snapshots, key=lambda snapshot: snapshot["time"])


def pick_snapshot(snapshots: list[dict], wanted: str, host: str) -> dict:
    """The latest snapshot, the one of an id (or its prefix), or the last one of a UTC day."""
    if not snapshots:
        raise BackupError(f"the repository holds no snapshot of host {host}; check -e from_host=")
    if wanted == "latest":
        return snapshots[-1]
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", wanted):
        day = [s for s in snapshots if s["time"][:10] <= wanted]
        if not day:
            raise BackupError(f"no snapshot of host {host} on or before {wanted}")
        return day[-1]
    matching = [s for s in snapshots if s["id"].startswith(wanted) or s["short_id"] == wanted]
    if len(matching) != 1:
        raise BackupError(
            f"{'no' if not matching else 'more than one'} snapshot of host {host} has the id "
            f"{wanted}; list them with pillars-backup snapshots"
        )
    return matching[0]


def command_snapshots(config: dict, host: str) -> int:
    for snapshot in list_snapshots(Restic(config), host):
        print(f"{snapshot['short_id']}  {snapshot['time'][:19]}Z  {snapshot['hostname']}")
    return 0


def command_restore(config: dict, args) -> int:
    restic = Restic(config)
    host = args.from_host or config["host"]
    snapshot = pick_snapshot(list_snapshots(restic, host), args.snapshot, host)
    root = config["snapshots_dir"].rstrip("/")
    includes = []
    for slug in args.agent or []:
        includes += ["--include", f"{root}/{slug}", "--include", f"{root}/{ANCHOR_FILE}"]
    restic.run("restore", snapshot["id"], "--target", args.target, *includes)
    print(
        json.dumps(
            {"snapshot": snapshot["id"], "time": snapshot["time"], "root": root, "host": host}
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pillars-backup", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="back up this host's snapshots")
    commands.add_parser("check", help="check the repository")
    listing = commands.add_parser("snapshots", help="list a host's snapshots")
    listing.add_argument("--from-host", default="")
    restore = commands.add_parser("restore", help="restore a snapshot into a directory")
    restore.add_argument("--snapshot", default="latest", help="latest, an id, or YYYY-MM-DD")
    restore.add_argument("--from-host", default="", help="the host that made it (default: this)")
    restore.add_argument("--agent", action="append", help="only this agent (repeatable)")
    restore.add_argument("--target", required=True)
    args = parser.parse_args(argv)
    try:
        config = load_config()
        if args.command == "run":
            return command_run(config)
        if args.command == "check":
            return command_check(config)
        if args.command == "snapshots":
            return command_snapshots(config, args.from_host or config["host"])
        return command_restore(config, args)
    except BackupError as error:
        print(f"pillars-backup: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
