"""Who may use agentctl, and the record of what operators did (retry, review)."""

import grp
import json
import os
import pwd
import syslog

from .contract.times import iso, utc_now
from .errors import UsageError
from .systemd import find_command

SELF_PATH = "/usr/local/sbin/agentctl"


def require_operator(config: dict, argv: list[str], unattended: bool = False) -> None:
    """Let root through; re-run an admin group member through sudo; refuse everyone else.

    An unattended command (the health role's units: check, digest, on-failure) also runs as the
    tools' own user (tools_user), which reads what it needs and cannot sudo.
    """
    if os.geteuid() == 0:
        return
    if unattended and user_name(os.geteuid()) == config["tools_user"]:
        return
    group = config["admin_group"]
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        gid = None
    if gid is None or gid not in os.getgroups():
        raise UsageError(
            f"only root and members of the admin group ({group}) may use agentctl; run it with sudo"
        )
    if config["sudo"]:
        sudo = find_command("sudo")
        # The health role lets the admin group run exactly this file as root without a password.
        # S606: sudo by full path, an argument list, no shell.
        os.execv(sudo, [sudo, "-n", "--", SELF_PATH, *argv])  # noqa: S606


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def operator_name() -> str:
    return os.environ.get("SUDO_USER") or user_name(os.getuid())


def record_action(config: dict, action: str, **details) -> None:
    """Append an operator action to agentctl's own append-only log and to the journal."""
    entry = {"ts": iso(utc_now()), "user": operator_name(), "action": action, **details}
    line = json.dumps(entry, sort_keys=True, ensure_ascii=False)
    path = config["audit_log"]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    syslog.openlog("agentctl", 0, syslog.LOG_AUTHPRIV)
    syslog.syslog(syslog.LOG_NOTICE, line)
