"""Figures 5 and 6, measured in the systemd test container of `make test-integration`.

The same pieces as molecule/resources/run-integration.sh: a docker engine (started for the run when
none answers, stopped afterwards), the `local/debian12-systemd` image (built by
molecule/resources/build-image.sh when missing) and playbooks/site.yml, run by ansible-playbook over
the community.docker connection. The container gets its own name, so a Molecule run can go on beside
it; it is removed at the end.

    python benchmarks/container.py [--reps N]     # prints the two rows
"""

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

from agent_setup import REPO_ROOT, bake
from figures import Row, copy_agentctl
from harness import BenchmarkError, Series, log_tail

logger = logging.getLogger(__name__)

STATUS_FIGURE = "`agentctl status` over 20 agents (in the test container)"
STATUS_BASELINE = "one `systemctl show` call for the same 20 units"
STATUS_GOAL = "≤ 3× the baseline"
RERUN_FIGURE = "Idempotent `site.yml` re-run, 5 agents (in the test container)"
RERUN_BASELINE = "the first run"
RERUN_GOAL = "≤ 30 % of the first, 0 changed"

IMAGE = "local/debian12-systemd:2"
SITE_PLAYBOOK = REPO_ROOT / "playbooks" / "site.yml"
DEPLOY_PLAYBOOK = REPO_ROOT / "playbooks" / "deploy.yml"
BUILD_IMAGE = REPO_ROOT / "molecule" / "resources" / "build-image.sh"
RERUN_AGENTS = 5
STATUS_AGENTS = 20
AGENTCTL_IN_CONTAINER = "/usr/local/sbin/agentctl"
AGENTCTL_LIB_IN_CONTAINER = "/usr/local/lib/agentctl"
AGENTCTL_CONFIG_IN_CONTAINER = "/etc/agents/agentctl.conf"
DOCKERD_START_TIMEOUT_SECONDS = 60
DOCKERD_STOP_TIMEOUT_SECONDS = 30
BOOT_TIMEOUT_SECONDS = 120
PLAYBOOK_TIMEOUT_SECONDS = 1800
FAILURES = (BenchmarkError, OSError, subprocess.TimeoutExpired)
RECAP_LINE = re.compile(r"^\S+\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
# The settings the Molecule scenario gives a container (molecule/default/molecule.yml).
CONTAINER_OPTIONS = [
    "--cgroupns", "host",
    "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--cap-add", "SYS_ADMIN",
    "--cap-add", "NET_ADMIN",
    "--tmpfs", "/run",
    "--tmpfs", "/run/lock",
    "--tmpfs", "/tmp",
    "--stop-signal", "SIGRTMIN+3",
]  # fmt: skip
# Times agentctl status and the systemctl show baseline inside the container, so that neither
# pays for `docker exec`.
TIMING_SCRIPT = """
import json, subprocess, sys, time
reps, units = int(sys.argv[1]), sys.argv[2:]
status = ["AGENTCTL", "status"]
show = ["systemctl", "show", "--", *units]
def timed(argv, accepted):
    started = time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode not in accepted:
        sys.exit(f"{' '.join(argv[:2])} exited {result.returncode}: {result.stderr[-500:]}")
    return elapsed
timed(status, (0, 1)), timed(show, (0,))
times = {"status": [], "show": []}
for _ in range(reps):
    times["status"].append(timed(status, (0, 1)))
    times["show"].append(timed(show, (0,)))
print(json.dumps(times))
""".replace("AGENTCTL", AGENTCTL_IN_CONTAINER)


def not_measured(why: str) -> list[Row]:
    return [
        Row.not_measured(STATUS_FIGURE, STATUS_BASELINE, STATUS_GOAL, why),
        Row.not_measured(RERUN_FIGURE, RERUN_BASELINE, RERUN_GOAL, why),
    ]


def _run(argv: list[str], what: str, **kwargs) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BenchmarkError(
            f"{what} failed: {detail[-1] if detail else f'exit {result.returncode}'}"
        )
    return result.stdout


def docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    except OSError:
        return False


class DockerEngine:
    """Use the docker engine that answers, or start dockerd for the run and stop it after."""

    def __init__(self, log: Path):
        self.log = log
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        if docker_answers():
            return self
        if shutil.which("dockerd") is None or shutil.which("docker") is None:
            raise BenchmarkError("docker is not installed (apt-get install docker.io)")
        if os.geteuid() != 0:
            raise BenchmarkError("no docker engine answers, and starting one needs root")
        logger.info("Starting dockerd for the run (log: %s)", self.log)
        with self.log.open("ab") as output:
            # Output to a file and stdin from /dev/null: a daemon holding our pipes could hang us.
            self.process = subprocess.Popen(
                ["dockerd"], stdin=subprocess.DEVNULL, stdout=output, stderr=output
            )
        deadline = time.monotonic() + DOCKERD_START_TIMEOUT_SECONDS
        while not docker_answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise BenchmarkError(f"dockerd did not start: {log_tail(self.log)[-300:]}")
            time.sleep(1)
        return self

    def __exit__(self, *_exc) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=DOCKERD_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


class Target:
    """A systemd Debian 12 container like the Molecule scenario's, removed on exit."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self) -> Self:
        _run(
            ["docker", "run", "--detach", "--name", self.name, "--hostname", self.name,
             *CONTAINER_OPTIONS, IMAGE, "/sbin/init"],
            "starting the test container",
        )  # fmt: skip
        # Right after `docker run` systemd may not take connections yet: ask until it answers.
        deadline, state = time.monotonic() + BOOT_TIMEOUT_SECONDS, ""
        while state not in ("running", "degraded") and time.monotonic() < deadline:
            state = subprocess.run(
                ["docker", "exec", self.name, "systemctl", "is-system-running", "--wait"],
                capture_output=True,
                text=True,
                timeout=BOOT_TIMEOUT_SECONDS,
                check=False,
            ).stdout.strip()
            if state not in ("running", "degraded"):
                time.sleep(0.5)
        if state not in ("running", "degraded"):
            self.__exit__()
            raise BenchmarkError(f"systemd in the test container did not boot (state {state!r})")
        # systemd makes / shared on a VM but not in a container, and LoadCredential= needs it
        # (the agent role checks): do for this boot what a VM does at every boot.
        self.exec("mount", "--make-rshared", "/")
        return self

    def __exit__(self, *_exc) -> None:
        subprocess.run(["docker", "rm", "--force", self.name], capture_output=True, check=False)

    def exec(self, *argv: str, stdin: str | None = None) -> str:
        return _run(
            ["docker", "exec", *(["--interactive"] if stdin is not None else []), self.name, *argv],
            f"{argv[0]} in the test container",
            input=stdin,
        )


class Fleet:
    """Baked agents and the inventory that deploys them into the target."""

    def __init__(self, work: Path, target: Target, admin_key: str):
        self.work = work
        self.target = target
        self.admin_key = admin_key
        self.projects: dict[str, Path] = {}

    def bake_up_to(self, count: int) -> None:
        for number in range(len(self.projects) + 1, count + 1):
            slug = f"bench-agent-{number:02d}"
            self.projects[slug] = bake(
                self.work / "agents",
                agent_name=f"Bench Agent {number:02d}",
                agent_slug=slug,
                llm_provider="fake",
                telegram_alerts="no",
            )

    def inventory(self) -> Path:
        agents = [
            {
                "slug": slug,
                "project_dir": str(project),
                "state": "present",
                "settings": {"LLM_PROVIDER": "fake", "LLM_MODEL": "fake-extractor-1"},
                "people_csv": str(project / "samples" / "people.csv"),
            }
            for slug, project in self.projects.items()
        ]
        host = {
            "ansible_connection": "community.docker.docker",
            "ansible_host": self.target.name,
            "ansible_python_interpreter": "/usr/bin/python3",
            # The test-only server settings of the Molecule scenario: a container has no swap.
            "server_admin_user": "operator",
            "server_admin_ssh_keys": [self.admin_key],
            "server_swap_size_mb": 0,
            # A cache of its own: the first run builds the wheels, as a first deploy would.
            "agent_wheel_cache_dir": str(self.work / "wheel-cache"),
            "pillars_agents": agents,
        }
        path = self.work / f"inventory-{len(agents)}.yml"
        # JSON is YAML: the inventory plugin reads it as is.
        inventory = {"all": {"children": {"pillars": {"hosts": {self.target.name: host}}}}}
        path.write_text(json.dumps(inventory, indent=2), encoding="utf-8")
        return path


def ansible_playbook(playbook: Path, inventory: Path, log: Path) -> tuple[float, int]:
    """Run a playbook; return (wall seconds, tasks changed). Raise if anything failed."""
    tools = Path(sys.executable).parent
    command = shutil.which("ansible-playbook", path=f"{tools}{os.pathsep}{os.environ['PATH']}")
    if command is None:
        raise BenchmarkError(
            "ansible-playbook is missing; pip install -r requirements-integration.txt"
        )
    env = {
        **os.environ,
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        # Per-task times in the log (bundled with the ansible package): where a re-run's time goes.
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
    }
    started = time.perf_counter()
    with log.open("w") as output:
        result = subprocess.run(
            [command, "-i", str(inventory), str(playbook)],
            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT, timeout=PLAYBOOK_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    elapsed = time.perf_counter() - started
    recap = [RECAP_LINE.match(line) for line in log.read_text().splitlines()]
    recap = [match for match in recap if match]
    if result.returncode != 0 or not recap:
        raise BenchmarkError(
            f"{playbook.name} failed (exit {result.returncode}) at {failed_task(log)}; its output "
            f"ends with:\n{log_tail(log)}"
        )
    return elapsed, sum(int(match.group(2)) for match in recap)


def failed_task(log: Path) -> str:
    """Return the name of the task that failed first in a playbook's output."""
    task = "an unknown task"
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("TASK ["):
            task = "task " + line.removeprefix("TASK ").rstrip("* ").strip()
        elif line.startswith(("fatal:", "failed:")):
            return task
    return task


def rerun_row(fleet: Fleet, reps: int) -> Row:
    """Figure 6: the first site.yml run with 5 agents on a fresh host, then idempotent re-runs."""
    fleet.bake_up_to(RERUN_AGENTS)
    inventory = fleet.inventory()
    logger.info("site.yml, first run with %d agents", RERUN_AGENTS)
    first_seconds, first_changed = ansible_playbook(
        SITE_PLAYBOOK, inventory, fleet.work / "site-first.log"
    )
    first, reruns, changed = Series("s"), Series("s"), []
    first.add(first_seconds)
    for rep in range(reps):
        logger.info("site.yml, re-run %d of %d", rep + 1, reps)
        seconds, count = ansible_playbook(
            SITE_PLAYBOOK, inventory, fleet.work / f"site-rerun-{rep + 1}.log"
        )
        reruns.add(seconds)
        changed.append(count)
    ratio = reruns.median / first.median
    return Row(
        figure=RERUN_FIGURE,
        baseline_name=f"{RERUN_BASELINE} (changed={first_changed})",
        goal=RERUN_GOAL,
        measured=reruns,
        baseline=first,
        ratio=ratio,
        ratio_text=f"{ratio * 100:.0f} % of the first; changed={max(changed)} in the re-runs",
        passed=ratio <= 0.30 and max(changed) == 0,
    )


def status_row(fleet: Fleet, reps: int) -> Row:
    """Figure 5: agentctl status over 20 deployed agents vs one systemctl show of their units."""
    fleet.bake_up_to(STATUS_AGENTS)
    logger.info("deploy.yml with %d agents (not timed)", STATUS_AGENTS)
    ansible_playbook(DEPLOY_PLAYBOOK, fleet.inventory(), fleet.work / "deploy-20.log")
    target, note = fleet.target, ""
    if subprocess.run(
        ["docker", "exec", target.name, "test", "-x", AGENTCTL_IN_CONTAINER], check=False
    ).returncode:
        # site.yml does not install agentctl (yet): put the repository's copy where the health
        # role would, with the default settings.
        note = "agentctl copied in by the benchmark: site.yml did not install it"
        lib_dir = fleet.work / "agentctl-lib"
        launcher = copy_agentctl(lib_dir, AGENTCTL_LIB_IN_CONTAINER)
        package = f"{AGENTCTL_LIB_IN_CONTAINER}/agentctl"
        target.exec("mkdir", "-p", AGENTCTL_LIB_IN_CONTAINER)
        _run(["docker", "cp", str(lib_dir / "agentctl"), f"{target.name}:{package}"], "docker cp")
        _run(["docker", "cp", str(launcher), f"{target.name}:{AGENTCTL_IN_CONTAINER}"], "docker cp")
        target.exec("chmod", "0755", AGENTCTL_IN_CONTAINER)
        target.exec("python3", "-I", "-m", "compileall", "-q", package)
        target.exec("sh", "-c", f"test -e {AGENTCTL_CONFIG_IN_CONTAINER} || "
                    f"echo '{{}}' > {AGENTCTL_CONFIG_IN_CONTAINER}")  # fmt: skip
    shown = json.loads(target.exec(AGENTCTL_IN_CONTAINER, "status", "--json") or "{}")
    if len(shown.get("agents", [])) != STATUS_AGENTS:
        raise BenchmarkError(
            f"agentctl status shows {len(shown.get('agents', []))} agents, not {STATUS_AGENTS}"
        )
    units = [f"agent-{slug}.service" for slug in fleet.projects]
    times = json.loads(target.exec("python3", "-", str(reps), *units, stdin=TIMING_SCRIPT))
    measured, baseline = Series("ms"), Series("ms")
    for value in times["status"]:
        measured.add(value * 1000)
    for value in times["show"]:
        baseline.add(value * 1000)
    ratio = measured.median / baseline.median
    return Row(
        figure=STATUS_FIGURE,
        baseline_name=STATUS_BASELINE,
        goal=STATUS_GOAL,
        measured=measured,
        baseline=baseline,
        ratio=ratio,
        ratio_text=f"{ratio:.2f}× the baseline",
        passed=ratio <= 3,
        note=note,
    )


def measure(work: Path, reps: int) -> list[Row]:
    """Return rows 5 and 6, or the two rows saying why they could not be measured."""
    work.mkdir(parents=True, exist_ok=True)
    try:
        with DockerEngine(work / "dockerd.log"):
            if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True,
                              check=False).returncode:  # fmt: skip
                logger.info("Building %s with %s", IMAGE, BUILD_IMAGE.name)
                _run(["bash", str(BUILD_IMAGE)], f"building {IMAGE}")
            with Target(f"pillars-bench-{os.getpid()}") as target:
                target.exec("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench-operator",
                            "-f", "/root/bench_admin_ed25519")  # fmt: skip
                admin_key = target.exec("cat", "/root/bench_admin_ed25519.pub").strip()
                fleet = Fleet(work, target, admin_key)
                rerun = rerun_row(fleet, reps)
                try:
                    status = status_row(fleet, reps)
                except FAILURES as error:
                    status = not_measured(first_line(error))[0]
                    logger.warning("Figure 5 not measured: %s", error)
    except FAILURES as error:
        logger.warning("Figures 5 and 6 not measured: %s", error)
        return not_measured(first_line(error))
    return [status, rerun]


def first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks/container.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--reps", type=int, default=3, help="re-runs and status calls (default 3)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (playbook logs) and print it"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="bench: %(message)s", stream=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="pillars-bench-container-"))
    try:
        rows = measure(work, args.reps)
    finally:
        if args.keep:
            logger.info("Work directory kept: %s", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    for row in rows:
        if row.measured is None:
            print(f"{row.figure}: {row.note}")
        else:
            print(f"{row.figure}: {row.measured.text()} vs {row.baseline_name} "
                  f"{row.baseline.text()}: {row.ratio_text} (goal {row.goal})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
