"""A user's machine and fresh VPSes for the day-one walk (test_day_one.py).

The controller is a copy of the pillars checkout with its own home directory, the servers are
containers of the project's systemd Debian 12 image that look like what a provider hands out: root
with the user's key in authorized_keys, sshd on port 22, reached only through ports published on
127.0.0.1. Everything the walk does goes through SSH, as a user's run would.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE = "local/debian12-systemd:2"
CONTAINER_PREFIX = "pillars-dayone-"
# The port sshd moves to (server_ssh_port in the walk's inventory): first run on 22, this after.
SERVER_SSH_PORT = 2222
BOOT_TIMEOUT_SECONDS = 180
COMMAND_TIMEOUT_SECONDS = 1800
# The systemd settings that boot the image here (molecule/default/molecule.yml has the same).
CONTAINER_OPTIONS = (
    "--cgroupns=host",
    "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--cap-add=SYS_ADMIN",
    "--cap-add=NET_ADMIN",
    "--tmpfs=/run",
    "--tmpfs=/run/lock",
    "--tmpfs=/tmp",
    "--stop-signal=SIGRTMIN+3",
    "--publish=127.0.0.1::22",
    f"--publish=127.0.0.1::{SERVER_SSH_PORT}",
)
# Variables of the outer shell that would change what Ansible or the tools do.
OUTER_PREFIXES = ("ANSIBLE_", "MOLECULE_", "PYTEST_", "VIRTUAL_ENV")


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command of the test's own (docker, ssh-keygen), failing with its output."""
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
        **kwargs,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


@dataclass
class Server:
    """A fresh VPS: a systemd container with sshd, reached on loopback ports only."""

    name: str
    first_port: int  # published port of sshd's 22
    admin_port: int  # published port of SERVER_SSH_PORT, where sshd listens once provisioned

    def exec(
        self, *argv: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run a command inside the server as root, for the test's checks (not the user's path)."""
        command = [
            "docker",
            "exec",
            *(["-i"] if stdin is not None else []),
            self.name,
            *argv,
        ]
        if check:
            return run(command, input=stdin)
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            input=stdin,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )


@dataclass
class Controller:
    """The user's machine: a home directory, a pillars checkout, the environment of their shell."""

    home: Path
    checkout: Path
    env: dict[str, str]
    key: Path
    commands_run: list[str] = field(default_factory=list)

    def ssh_argv(self, user: str, port: int, *options: str) -> list[str]:
        """A new SSH connection (no reuse), as a user's own `ssh` would open."""
        return [
            "ssh",
            "-o", "BatchMode=yes",
            "-o", "ControlMaster=no",
            "-o", "ControlPath=none",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={self.home / '.ssh' / 'known_hosts'}",
            "-o", "ConnectTimeout=20",
            "-i", str(self.key),
            "-p", str(port),
            *options,
            f"{user}@127.0.0.1",
        ]  # fmt: skip


def start_server(name: str) -> Server:
    """Start a fresh VPS container and wait until systemd and sshd run."""
    container = CONTAINER_PREFIX + name
    subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
    run(
        [
            "docker",
            "run",
            "--detach",
            "--name",
            container,
            *CONTAINER_OPTIONS,
            IMAGE,
            "/sbin/init",
        ]
    )
    deadline = time.monotonic() + BOOT_TIMEOUT_SECONDS
    while True:
        state = subprocess.run(
            ["docker", "exec", container, "systemctl", "is-system-running", "--wait"],
            capture_output=True, text=True, check=False, timeout=BOOT_TIMEOUT_SECONDS,
        )  # fmt: skip
        if state.stdout.strip() in ("running", "degraded"):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"{container} did not boot: {state.stdout} {state.stderr}")
        time.sleep(1)
    ports = json.loads(
        run(
            [
                "docker",
                "inspect",
                "--format",
                "{{json .NetworkSettings.Ports}}",
                container,
            ]
        ).stdout
    )
    server = Server(
        name=container,
        first_port=int(ports["22/tcp"][0]["HostPort"]),
        admin_port=int(ports[f"{SERVER_SSH_PORT}/tcp"][0]["HostPort"]),
    )
    server.exec("systemctl", "is-active", "ssh")
    return server


def authorize(server: Server, public_key: str) -> None:
    """What the provider does when it creates the VPS: the user's key in root's authorized_keys."""
    server.exec(
        "sh", "-c",
        "install -d -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys"
        " && chmod 600 /root/.ssh/authorized_keys",
        stdin=public_key + "\n",
    )  # fmt: skip


def copy_checkout(destination: Path) -> None:
    """The user's clone: the repository's files (tracked and new), without caches or virtualenvs."""
    listed = run(
        [
            "git",
            "-C",
            str(REPO_ROOT),
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ]
    ).stdout
    for relative in filter(None, listed.split("\0")):
        source = REPO_ROOT / relative
        target = destination / relative
        if source.is_symlink():  # git keeps links as links (agentctl's contract is one)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.readlink(source))
            continue
        if not source.is_file():
            continue  # deleted in the work tree
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


@pytest.fixture(scope="session")
def controller(tmp_path_factory) -> Controller:
    root = tmp_path_factory.mktemp("day-one")
    home = root / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    key = home / ".ssh" / "id_ed25519"
    run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "user@laptop",
            "-f",
            str(key),
        ]
    )
    checkout = root / "pillars"
    copy_checkout(checkout)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(OUTER_PREFIXES) and name not in ("HOME", "OLDPWD", "PWD")
    }
    tools = str(Path(sys.executable).parent)
    env.update(
        HOME=str(home),
        PATH=f"{tools}:{env.get('PATH', '/usr/bin:/bin')}",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        # OpenSSH takes ~ from the password database, not from $HOME: point it at the user's
        # key and known_hosts here, which is where their own ssh finds them on their machine.
        ANSIBLE_PRIVATE_KEY_FILE=str(key),
        ANSIBLE_SSH_COMMON_ARGS=f"-o UserKnownHostsFile={home / '.ssh' / 'known_hosts'}",
    )
    return Controller(home=home, checkout=checkout, env=env, key=key)


class Fleet:
    """The servers of the walk: the old one from the start, the new one when the old one "dies"."""

    def __init__(self, public_key: str) -> None:
        self.public_key = public_key
        self.servers: dict[str, Server] = {}

    def start(self, name: str) -> Server:
        server = start_server(name)
        authorize(server, self.public_key)
        self.servers[name] = server
        return server

    def __getitem__(self, name: str) -> Server:
        return self.servers[name]

    def remove_all(self) -> None:
        for server in self.servers.values():
            subprocess.run(["docker", "rm", "-f", server.name], capture_output=True, check=False)


@pytest.fixture(scope="session")
def fleet(controller) -> Iterator[Fleet]:
    fleet = Fleet(controller.key.with_suffix(".pub").read_text(encoding="utf-8").strip())
    fleet.start("old")
    yield fleet
    if os.environ.get("PILLARS_KEEP_CONTAINERS") != "1":
        fleet.remove_all()
