"""Day one as a user takes it: README's "Run your agents on a server", run as written, over SSH.

Each fenced block of that section is read from README.md and run in order in one bash session on
the controller (a block that starts with `ssh admin@ADDRESS` runs its other lines on the server,
through that login), with only what README tells the user to replace: the server's address and
ports, their key, the pillars location, the values they fill into the inventory and the vault. Every
block of the section must be run by this walk: a block added to README without a step here fails.

The servers are fresh VPSes (conftest.py): root with the user's key, sshd on 22. The walk:
check mode on the fresh server, a first run that stops half-way (the example's swap file, which a
container refuses), root and password logins refused and journald capped all the same, the fixed
rerun as the admin user on the new port, idempotence and check mode on the converged server, the
status commands, an update of one agent, a rollback, a backup outside the inventory, then a new
server built by site.yml without SSH connection reuse (ControlMaster=no) and restored from the
backup, byte for byte. It adds three rows to the fault and attack report (PILLARS_FAULT_REPORT).
"""

import base64
import hashlib
import json
import os
import re
import shlex
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import (
    COMMAND_TIMEOUT_SECONDS,
    REPO_ROOT,
    SERVER_SSH_PORT,
    Controller,
    Fleet,
)
from markdown_blocks import Block, section_blocks

README = REPO_ROOT / "README.md"
SECTION = "## Run your agents on a server"
AGENT_README = REPO_ROOT / "{{cookiecutter.agent_slug}}" / "README.md"
AGENT_SECTION = "## Deploy"
# The placeholders README tells the user to replace, and the test's own values for them.
DOCUMENTED_ADDRESS = "203.0.113.10"
TEMPLATE_SOURCE = "gh:OWNER/pillars"
AGENT_README_CHECKOUT = "~/pillars"
SLUGS = ("intake-bot", "invoice-bot")
JOURNAL_CAP = "64M"
# What restore must bring back exactly (as molecule/default/verify_agents.yml checks).
STATE_PATHS = (
    "agent.db",
    "audit.jsonl",
    "audit.head",
    "costs",
    "review",
    "outbox",
    "done",
    "failed",
    "archive",
)
PROCESS_TIMEOUT_SECONDS = 300
RECAP = re.compile(
    r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


class Walk:
    """README's blocks, the ones run so far, and the shell state carried from one to the next."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.blocks = section_blocks(README.read_text(encoding="utf-8"), SECTION)
        self.run_blocks: set[int] = set()
        self.commands = 0
        self.env = dict(controller.env)
        self.server_port = 0
        self.failures = 0

    def find(self, *, first: str) -> list[int]:
        """Indexes of the blocks whose first command starts with `first`."""
        return [
            i
            for i, block in enumerate(self.blocks)
            if block.commands and block.commands[0].startswith(first)
        ]

    def block(self, *, first: str, occurrence: int = 0) -> Block:
        found = self.find(first=first)
        assert len(found) > occurrence, f"README's {SECTION!r} has no block starting {first!r}"
        return self.blocks[found[occurrence]]

    def run(
        self,
        block: Block,
        *,
        expect_failure: bool = False,
        extra_env: dict | None = None,
        cwd: Path | None = None,
        replace: dict | None = None,
    ) -> str:
        """Run one README block as written in the user's shell; return its output."""
        if block in self.blocks:
            self.run_blocks.add(self.blocks.index(block))
        text = "\n".join(block.lines).replace(TEMPLATE_SOURCE, str(self.controller.checkout))
        for old, new in (replace or {}).items():
            text = text.replace(old, new)
        commands = [
            line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
        ]
        self.commands += len(commands)
        self.controller.commands_run.extend(commands)
        if commands[0].startswith(f"ssh admin@{DOCUMENTED_ADDRESS}"):
            return self._run_on_server(block, commands[1:], expect_failure)
        env_file = self.controller.home.parent / "shell.env"
        script = f"set -euo pipefail\n{text}\nenv -0 > {shlex.quote(str(env_file))}\n"
        result = subprocess.run(
            ["bash", "-c", script], cwd=cwd or self.controller.checkout,
            env=self.env | (extra_env or {}),
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
        output = result.stdout + result.stderr
        log = (
            self.controller.home.parent
            / f"block-{block.line}-{len(self.controller.commands_run)}.log"
        )
        log.write_text(f"$ {text}\n{output}", encoding="utf-8")
        if expect_failure:
            assert result.returncode != 0, (
                f"README line {block.line} should have failed here:\n{output[-3000:]}"
            )
            return output
        self.failures += result.returncode != 0
        assert result.returncode == 0, (
            f"README's block at line {block.line} failed (exit {result.returncode}), "
            "run as written:\n"
            f"{text}\n---\n{output[-6000:]}"
        )
        carried = dict(
            item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item
        )
        self.env = {
            name: carried[name] for name in carried if name not in ("SHLVL", "_", "PWD", "OLDPWD")
        }
        return output

    def _run_on_server(self, block: Block, commands: list[str], expect_failure: bool) -> str:
        login = self.controller.ssh_argv("admin", self.server_port)
        outputs = []
        for command in commands:
            result = subprocess.run(
                [*login, command],
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_SECONDS,
                check=False,
            )
            outputs.append(f"$ {command}\n{result.stdout}{result.stderr}")
            self.failures += result.returncode != 0 and not expect_failure
            assert result.returncode == 0 or expect_failure, (
                f"on the server, README line {block.line}: {command!r} "
                f"exited {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return "\n".join(outputs)


def recap(output: str) -> dict[str, int]:
    """The last PLAY RECAP line of a playbook run, as numbers."""
    matches = list(RECAP.finditer(output))
    assert matches, f"no PLAY RECAP in:\n{output[-3000:]}"
    return {key: int(value) for key, value in matches[-1].groupdict().items() if key != "host"}


def edit_yaml(path: Path, change) -> None:
    """The user's edit of an inventory file (comments are lost; the values are what matters)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def report_row(
    test: str, cases: int, passed: bool, tried: str, found: str, losses: int = 0
) -> None:
    """Add a row to the fault and attack report that make test-integration prints at the end."""
    path = os.environ.get("PILLARS_FAULT_REPORT")
    if not path:
        return
    row = {"test": test, "cases": cases, "losses": losses, "duplicates": 0, "leaks": 0,
           "passed": passed, "tried": tried, "found": found}  # fmt: skip
    with open(path, "a", encoding="utf-8") as report:
        report.write(json.dumps(row) + "\n")


def hash_state(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}


@pytest.fixture(scope="module")
def walk(controller) -> Iterator[Walk]:
    walk = Walk(controller)
    yield walk
    # Recorded however far the walk got, so that a walk stopped early shows in the report too.
    not_run = [
        block.line for index, block in enumerate(walk.blocks) if index not in walk.run_blocks
    ]
    report_row(
        "README commands as written",
        cases=walk.commands,
        passed=not not_run and walk.failures == 0,
        tried=f"every block of README's {SECTION!r} and the generated agent's {AGENT_SECTION!r}, "
        "read from the Markdown and run in order on a fresh VPS over SSH (check, a first run "
        "stopped half-way and rerun, status, deploy, rollback, backup, rebuild with "
        "ControlMaster=no, restore)",
        found=f"{walk.commands} commands in {len(walk.run_blocks)} of {len(walk.blocks)} blocks "
        "ran, "
        f"{walk.failures} failed{'; not run: README lines ' + str(not_run) if not_run else ''}",
    )


def inventory(walk: Walk) -> Path:
    return walk.controller.checkout / "inventories" / "prod"


def test_bake_the_agents(walk):
    walk.run(walk.block(first="cookiecutter"))
    for slug in SLUGS:
        assert (walk.controller.home / "agents" / slug / "pyproject.toml").is_file()


def test_fill_the_inventory_and_the_vault(walk, fleet):
    walk.run(walk.block(first="cp -r inventories/example"))
    prod = inventory(walk)
    old = fleet["old"]
    walk.server_port = old.admin_port
    public_key = walk.controller.key.with_suffix(".pub").read_text(encoding="utf-8").strip()

    def hosts(data):
        host = data["all"]["children"]["pillars"]["hosts"]["agents-1"]
        assert host["ansible_host"] == DOCUMENTED_ADDRESS
        # The ports are what the container publishes for 22 and for server_ssh_port.
        host.update(
            ansible_host="127.0.0.1",
            ansible_port=old.admin_port,
            pillars_first_login_port=old.first_port,
        )

    def server(data):
        # The example's swap file stays for now: a container refuses swapon, so the first run
        # stops half-way, as a first run can on any VPS.
        assert data["server_swap_size_mb"] > 0
        data.update(server_admin_ssh_keys=[public_key], server_ssh_port=SERVER_SSH_PORT,
                    server_journald_system_max_use=JOURNAL_CAP)  # fmt: skip

    def agents(data):
        for agent in data["pillars_agents"]:
            # No LLM API and no Telegram to reach from here: the offline provider, no notifications.
            agent["settings"] = {
                "LLM_PROVIDER": "fake",
                "LLM_MODEL": "fake-extractor-1",
                "POLL_INTERVAL_SECONDS": "2",
            }
            agent["secrets"] = {"LLM_API_KEY": f"sk-dayone-{agent['slug']}-51c7e0a9d2"}

    def health(data):
        data.update(health_telegram_chat_id="", health_telegram_bot_token="")

    edit_yaml(prod / "hosts.yml", hosts)
    edit_yaml(prod / "group_vars" / "pillars" / "server.yml", server)
    edit_yaml(prod / "group_vars" / "pillars" / "agents.yml", agents)
    edit_yaml(prod / "group_vars" / "pillars" / "health.yml", health)

    walk.run(walk.block(first="(umask 077"))
    vault = prod / "group_vars" / "pillars" / "vault.yml"
    assert vault.is_file()
    edit_yaml(vault, lambda data: data.update({key: f"dayone-{key}" for key in data}))
    walk.run(walk.block(first="ansible-vault encrypt"))
    assert vault.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert (walk.controller.home / ".pillars-vault-pass").stat().st_mode & 0o077 == 0


def test_check_mode_on_the_fresh_server_changes_nothing(walk, fleet):
    output = walk.run(
        walk.block(first="ansible-playbook -i inventories/prod playbooks/site.yml --check")
    )
    assert recap(output)["changed"] > 0, "a fresh server must show what the first run would change"
    old = fleet["old"]
    assert old.exec("id", "admin", check=False).returncode != 0, "check mode created the admin user"
    assert (
        old.exec(
            "test",
            "-e",
            "/etc/ssh/sshd_config.d/00-pillars-hardening.conf",
            check=False,
        ).returncode
        != 0
    )


def security_state(walk: Walk, fleet: Fleet) -> dict[str, str]:
    """What a new login sees and what journald runs with, on the old server."""
    old, controller = fleet["old"], walk.controller
    root = subprocess.run([*controller.ssh_argv("root", old.admin_port), "true"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    root_on_22 = subprocess.run([*controller.ssh_argv("root", old.first_port), "true"],
                                capture_output=True, text=True, check=False)  # fmt: skip
    password = subprocess.run(
        [*controller.ssh_argv("admin", old.admin_port, "-o", "PubkeyAuthentication=no", "-o",
                              "PreferredAuthentications=password,keyboard-interactive"),
         "true"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    journal = old.exec("journalctl", "--unit=systemd-journald", "--no-pager", "--output=cat").stdout
    caps = re.findall(r"System Journal \(.*\) is .*, max ([0-9.]+[KMGT])", journal)
    return {
        "root": root.stderr.strip() or "logged in",
        "root_on_22": root_on_22.stderr.strip() or "logged in",
        "password": password.stderr.strip() or "logged in",
        "journal_cap": caps[-1] if caps else "none",
    }


def test_a_first_run_that_stops_half_way_still_locks_root_out(walk, fleet):
    site = walk.block(first="ansible-playbook -i inventories/prod playbooks/site.yml", occurrence=1)
    assert site.commands == ["ansible-playbook -i inventories/prod playbooks/site.yml"]
    output = walk.run(site, expect_failure=True)
    assert "swapon" in output, f"the first run should stop at the swap file:\n{output[-3000:]}"
    state = security_state(walk, fleet)
    refused = (
        "Permission denied" in state["root"]
        # sshd moved to the new port and the firewall drops 22: refused, reset or timed out.
        and state["root_on_22"] != "logged in"
        and re.search(r"Permission denied \(publickey\)", state["password"]) is not None
        and state["journal_cap"] == "64.0M"
    )
    report_row(
        "root login refused after a failed first run",
        cases=4,
        passed=refused,
        tried="site.yml as README says, first run as root, stopped half-way by the example's swap "
        "file (swapon refused); then new SSH logins as root (new port and 22), a password login "
        "as admin, journald's running cap",
        found=f"root: {state['root']}; root on 22: {state['root_on_22']}; "
        f"password: {state['password']}; "
        f"journald runs with max {state['journal_cap']} (configured {JOURNAL_CAP})",
    )
    assert refused, state


def test_the_fixed_rerun_goes_in_as_the_admin_user_and_converges(walk, fleet):
    edit_yaml(inventory(walk) / "group_vars" / "pillars" / "server.yml",
              lambda data: data.update(server_swap_size_mb=0))  # fmt: skip
    site = walk.block(first="ansible-playbook -i inventories/prod playbooks/site.yml", occurrence=1)
    output = walk.run(site)
    assert "Fall back to the provider's first login" in output
    assert recap(output)["failed"] == 0
    # The next run: as the admin user at once, nothing left to change.
    output = walk.run(site)
    assert re.search(
        r"TASK \[Fall back to the provider's first login on a fresh server\] \**\n+skipping",
        output,
    )
    assert recap(output)["changed"] == 0, "a rerun on the converged server changed something"
    check = walk.run(
        walk.block(first="ansible-playbook -i inventories/prod playbooks/site.yml --check")
    )
    assert recap(check)["changed"] == 0, (
        f"check mode on the converged server reports changes:\n{check[-4000:]}"
    )
    upgrades = fleet["old"].exec("apt-get", "--simulate", "upgrade").stdout
    pending = [
        line for line in upgrades.splitlines() if line.startswith("Inst ") and "-security" in line
    ]
    assert pending == [], f"security updates still pending after the first run: {pending}"


def test_the_status_commands(walk):
    output = walk.run(walk.block(first=f"ssh admin@{DOCUMENTED_ADDRESS}"))
    for slug in SLUGS:
        assert slug in output
    report = walk.run(walk.block(first="ansible-playbook -i inventories/prod playbooks/report.yml"))
    assert "2 agent(s)" in report, report[-3000:]


def current_release(fleet: Fleet, slug: str) -> str:
    return fleet["old"].exec("readlink", f"/srv/agents/{slug}/current").stdout.strip()


def main_pid(fleet: Fleet, slug: str) -> str:
    return (
        fleet["old"]
        .exec("systemctl", "show", "--property=MainPID", "--value", f"agent-{slug}")
        .stdout.strip()
    )


def test_update_one_agent_then_roll_it_back(walk, fleet):
    before, other_pid = (
        current_release(fleet, "intake-bot"),
        main_pid(fleet, "invoice-bot"),
    )
    job = next((walk.controller.home / "agents" / "intake-bot" / "src").glob("*/job.py"))
    job.write_text(
        job.read_text(encoding="utf-8") + "\n# A change of the user's.\n",
        encoding="utf-8",
    )
    walk.run(walk.block(first="ansible-playbook -i inventories/prod playbooks/deploy.yml"))
    after = current_release(fleet, "intake-bot")
    assert after != before, "the changed agent got no new release"
    assert main_pid(fleet, "invoice-bot") == other_pid, "deploying intake-bot restarted invoice-bot"
    assert (
        fleet["old"].exec("systemctl", "is-active", "agent-intake-bot").stdout.strip() == "active"
    )

    # The generated agent's README gives the same deploy, from the agent's own project.
    blocks = section_blocks(AGENT_README.read_text(encoding="utf-8"), AGENT_SECTION)
    assert len(blocks) == 1, f"the generated README's {AGENT_SECTION!r} should have one block"
    baked_readme = (walk.controller.home / "agents" / "intake-bot" / "README.md").read_text(
        encoding="utf-8"
    )
    baked = section_blocks(baked_readme, AGENT_SECTION)[0]
    output = walk.run(baked, cwd=walk.controller.home / "agents" / "intake-bot",
                      replace={AGENT_README_CHECKOUT: str(walk.controller.checkout)})  # fmt: skip
    assert recap(output)["changed"] == 0, "redeploying an unchanged agent changed something"

    walk.run(walk.block(first="ansible-playbook -i inventories/prod playbooks/rollback.yml"))
    assert current_release(fleet, "intake-bot") == before, (
        "rollback did not return to the release before"
    )


def drop_documents(fleet: Fleet, slug: str) -> None:
    """Give the agent real work: the sample documents its project ships, in its inbox."""
    old = fleet["old"]
    samples = sorted((REPO_ROOT / "{{cookiecutter.agent_slug}}" / "samples" / "incoming").iterdir())
    for sample in samples:
        # A dot name while it is copied: the agent ignores it until the rename, as with an upload.
        inbox = f"/var/lib/agents/{slug}/incoming"
        subprocess.run(
            ["docker", "cp", str(sample), f"{old.name}:{inbox}/.{sample.name}"],
            check=True,
        )
        old.exec(
            "sh",
            "-c",
            f"chown agent-{slug}: {inbox}/.{sample.name}"
            f" && mv {inbox}/.{sample.name} {inbox}/{sample.name}",
        )
    deadline = time.monotonic() + PROCESS_TIMEOUT_SECONDS
    while old.exec("find", f"/var/lib/agents/{slug}/incoming", f"/var/lib/agents/{slug}/processing",
                   "-type", "f").stdout.strip():  # fmt: skip
        assert time.monotonic() < deadline, f"{slug} did not process its inbox"
        time.sleep(1)


def test_backup_lands_outside_every_inventory(walk, fleet):
    for slug in SLUGS:
        drop_documents(fleet, slug)
    inventories_before = sorted(
        str(path) for path in (walk.controller.checkout / "inventories").rglob("*")
    )
    walk.run(walk.block(first="ansible-playbook -i inventories/prod playbooks/backup.yml"))
    inventories_after = sorted(
        str(path) for path in (walk.controller.checkout / "inventories").rglob("*")
    )
    archives = sorted((walk.controller.checkout / "backups" / "agents-1").glob("*/*.tar.gz"))
    graph = subprocess.run(["ansible-inventory", "-i", "inventories/prod", "--graph"],
                           cwd=walk.controller.checkout, env=walk.env,
                           capture_output=True, text=True, check=False)  # fmt: skip
    hosts = re.findall(r"--(\S+)$", graph.stdout, re.MULTILINE)
    hosts = [name for name in hosts if not name.startswith("@")]
    passed = (
        sorted(path.parent.name for path in archives) == sorted(SLUGS)
        and inventories_after == inventories_before
        and hosts == ["agents-1"]
        and "WARNING" not in graph.stderr
    )
    report_row(
        "backups outside the inventory",
        cases=len(archives) + 1,
        passed=passed,
        tried="backup.yml as README says, then ansible-inventory -i inventories/prod --graph",
        found=f"{len(archives)} backups in backups/agents-1/ at the checkout root; "
        f"{len(inventories_after) - len(inventories_before)} new files under inventories/; "
        f"the inventory lists {hosts} "
        f"({'no warning' if 'WARNING' not in graph.stderr else graph.stderr.strip()[:200]})",
        losses=len(SLUGS) - len(archives),
    )
    assert passed, (archives, hosts, graph.stderr)


def test_rebuild_on_a_new_server_without_connection_reuse(walk, fleet):
    archives = {
        path.parent.name: path
        for path in (walk.controller.checkout / "backups" / "agents-1").glob("*/*.tar.gz")
    }
    backed_up = {}
    for slug, archive in archives.items():
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                relative = member.name.split("/", 1)[1] if "/" in member.name else ""
                if member.isfile() and relative.split("/")[0] in STATE_PATHS:
                    backed_up[f"{slug}/{relative}"] = tar.extractfile(member).read()
    assert any(name.endswith("/agent.db") for name in backed_up), sorted(backed_up)

    subprocess.run(
        ["docker", "stop", fleet["old"].name], capture_output=True, check=True
    )  # the bad day
    new = fleet.start("new")
    walk.server_port = new.admin_port

    def hosts(data):
        host = data["all"]["children"]["pillars"]["hosts"]["agents-1"]
        host.update(ansible_port=new.admin_port, pillars_first_login_port=new.first_port)

    edit_yaml(inventory(walk) / "hosts.yml", hosts)
    # Without ControlPersist every task opens a new connection: root is refused from the moment
    # sshd is hardened, so the run must go on as the admin user by itself.
    no_reuse = {"ANSIBLE_SSH_ARGS": "-C -o ControlMaster=no -o StrictHostKeyChecking=accept-new"}
    walk.run(
        walk.block(first="ansible-playbook -i inventories/prod playbooks/site.yml", occurrence=2),
        extra_env=no_reuse,
    )

    restored = {}
    for slug in SLUGS:
        listing = new.exec(
            "sh",
            "-c",
            f"cd /var/lib/agents/{slug} && find {' '.join(STATE_PATHS)} -type f 2>/dev/null"
            " || true",
        ).stdout
        for relative in listing.split():
            restored[f"{slug}/{relative}"] = new.exec(
                "base64", "-w0", f"/var/lib/agents/{slug}/{relative}"
            ).stdout
    restored_bytes = {name: base64.b64decode(value) for name, value in restored.items()}
    backed, back = hash_state(backed_up), hash_state(restored_bytes)
    missing = sorted(name for name in backed if back.get(name) != backed[name])
    extra = sorted(set(back) - set(backed))
    assert not missing and not extra, {"missing or different": missing, "extra": extra}
    for slug in SLUGS:
        assert new.exec("systemctl", "is-active", f"agent-{slug}").stdout.strip() == "active"


def test_every_readme_command_ran_as_written(walk):
    not_run = [
        block.line for index, block in enumerate(walk.blocks) if index not in walk.run_blocks
    ]
    assert not not_run, (
        f"README blocks at lines {not_run} are not run by the day-one walk: add them to it"
    )
