"""systemd and the host: unit properties, journal lines, running the agent's CLI as the agent."""

import os
import re
import subprocess
from datetime import datetime

from .agents import Agent
from .errors import UsageError

SYSTEMCTL_TIMEOUT_SECONDS = 30


# The sandbox `review` runs the agent's CLI in: the agent's identity, settings and
# state, and the agent unit's main restrictions (docs/contract.md). PrivateUsers= is left out:
# it cannot be set up in every container.
AGENT_SANDBOX_PROPERTIES = (
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "NoNewPrivileges=yes",
    "CapabilityBoundingSet=",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectControlGroups=yes",
    "SystemCallArchitectures=native",
    "UMask=0077",
)

UNIT_PROPERTIES = (
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "Result",
    "NRestarts",
    "ActiveEnterTimestampMonotonic",
    "MemoryCurrent",
    "MemoryMax",
    "MainPID",
)
# What systemd prints for a number it does not have (cgroup v1, unit not running).
UINT64_MAX = 2**64 - 1


def hostname() -> str:
    """Return this host's name (what socket.gethostname() says, without importing socket)."""
    return os.uname().nodename


def systemctl_show(units: list[str]) -> tuple[dict[str, dict], str | None]:
    """Return {unit: properties} from ONE `systemctl show` call, and an error text if it failed."""
    if not units:
        return {}, None
    try:
        systemctl = find_command("systemctl")
    except UsageError as error:
        return {}, str(error)
    try:
        # S603: systemctl by full path, an argument list, no shell.
        result = subprocess.run(  # noqa: S603
            [systemctl, "show", f"--property={','.join(UNIT_PROPERTIES)}", "--", *units],
            capture_output=True,
            text=True,
            timeout=SYSTEMCTL_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return {}, f"systemctl show failed: {error}"
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        return {}, f"systemctl show failed: {first}"
    shown: dict[str, dict] = {}
    for block in re.split(r"\n\s*\n", result.stdout.strip()):
        properties = {}
        for line in block.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                properties[key] = value
        if "Id" in properties:
            shown[properties["Id"]] = properties
    return shown, None


def property_int(properties: dict, key: str) -> int | None:
    value = properties.get(key, "")
    if not value.isdigit():
        return None
    number = int(value)
    return None if number == UINT64_MAX else number


def journal_lines(unit: str, lines: int, since: datetime | None = None) -> list[str]:
    """Return the last lines of a unit's journal ([] when journalctl cannot be read)."""
    try:
        journalctl = find_command("journalctl")
    except UsageError:
        return []
    argv = [journalctl, f"--unit={unit}", f"--lines={lines}", "--no-pager", "--output=short-iso"]
    if since is not None:
        argv.append(f"--since=@{int(since.timestamp())}")
    try:
        # S603: journalctl by full path, an argument list, no shell.
        result = subprocess.run(  # noqa: S603
            argv, capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in result.stdout.splitlines() if line.strip()]


def agent_cli_argv(
    agent: Agent, arguments: list[str], environment: dict[str, str] | None = None
) -> list[str]:
    """Build the command running the agent's own CLI as the agent, sandboxed, with its settings."""
    properties = [
        f"User={agent.user}",
        f"Group={agent.user}",
        f"LoadCredential=env:{agent.env_file}",
        f"StateDirectory=agents/{agent.slug}",
        # systemd applies the mode to an existing directory too: keep the agent unit's 0750, or
        # every other agent could list this one's state.
        "StateDirectoryMode=0750",
        f"WorkingDirectory={agent.state}",
        *AGENT_SANDBOX_PROPERTIES,
    ]
    return [
        find_command("systemd-run"),
        "--pipe",
        "--wait",
        "--quiet",
        # A failed run must not stay behind as a failed unit (systemctl --failed, degraded state).
        "--collect",
        *(f"--property={p}" for p in properties),
        *(f"--setenv={key}={value}" for key, value in (environment or {}).items()),
        str(agent.cli),
        *arguments,
    ]


# Where commands are looked up when the caller's PATH lacks them (cron, a bare environment).
FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def find_command(name: str) -> str:
    """Return the full path of a system command, or raise UsageError."""
    # shutil.which's lookup, without importing shutil (and its compression modules) for it.
    searched = os.environ.get("PATH", "").split(os.pathsep) + FALLBACK_PATH.split(os.pathsep)
    for directory in searched:
        if not directory:
            continue  # an empty PATH entry means the working directory: never for root's tool
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise UsageError(f"{name} is not installed or not on PATH; agentctl needs it")
