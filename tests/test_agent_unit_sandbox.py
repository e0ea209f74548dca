"""The agent unit's network allow list and the audit log's append-only flag, as the role sets them.

roles/agent/vars/main.yml lists the ranges an agent may connect to (IPAddressAllow=): the internet
the LLM APIs and Telegram are on, without the private, shared, link-local and multicast ranges.
The role's task files set the audit log's flag before the agent's first start and drop it only
around the work that replaces or removes the state (restore, removal).
"""

import ipaddress
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
ROLE = REPO_ROOT / "roles" / "agent"
ROLE_VARS = ROLE / "vars" / "main.yml"
TASKS = ROLE / "tasks"
UNIT_TEMPLATE = ROLE / "templates" / "agent.service.j2"

# Places an agent has no business connecting to: the LAN, a cloud's metadata service, CGNAT, ...
FORBIDDEN = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
]
# Public addresses of the kind the agents call: DNS resolvers, Telegram, a CDN-fronted API, IPv6.
REACHABLE = [
    "1.1.1.1",
    "8.8.8.8",
    "149.154.167.220",
    "104.18.6.192",
    "162.159.140.245",
    "34.149.100.209",
    "2001:4860:4860::8888",
    "2606:4700::6810:84e5",
]


def internet_ranges() -> list:
    variables = yaml.safe_load(ROLE_VARS.read_text(encoding="utf-8"))
    return [ipaddress.ip_network(text) for text in variables["__agent_internet_ranges"]]


@pytest.mark.parametrize("forbidden", FORBIDDEN)
def test_no_allowed_range_reaches_a_private_or_local_range(forbidden):
    forbidden = ipaddress.ip_network(forbidden)
    same_family = [n for n in internet_ranges() if n.version == forbidden.version]
    overlapping = [str(n) for n in same_family if n.overlaps(forbidden)]

    assert overlapping == []


@pytest.mark.parametrize("address", REACHABLE)
def test_public_addresses_are_allowed(address):
    address = ipaddress.ip_address(address)

    assert any(address in network for network in internet_ranges())


def test_the_unit_denies_everything_else_and_allows_the_list():
    lines = UNIT_TEMPLATE.read_text(encoding="utf-8").splitlines()

    assert "IPAddressDeny=any" in lines
    assert "IPAddressAllow={{ __agent_ip_address_allow | join(' ') }}" in lines


def task_names(path: Path) -> list[str]:
    return [task.get("name", "") for task in yaml.safe_load(path.read_text(encoding="utf-8"))]


def included(path: Path) -> list[str]:
    tasks = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [task.get("ansible.builtin.include_tasks", task.get("name", "")) for task in tasks]


def test_the_flag_is_set_before_the_agent_first_starts():
    steps = included(TASKS / "present.yml")

    assert steps.index("audit_log.yml") < steps.index("service.yml")


def test_restore_drops_the_flag_before_removing_the_state_and_sets_it_before_the_start():
    steps = included(TASKS / "restore.yml")
    removal = steps.index("Remove the replaced state")

    assert steps.index("audit_log_unlock.yml") < removal
    assert removal < steps.index("audit_log.yml") < steps.index("service.yml")


def test_removal_drops_the_flag_before_removing_the_state():
    steps = included(TASKS / "absent.yml")

    assert steps.index("audit_log_unlock.yml") < steps.index(
        "Remove the unit, configuration, code, data and logs of agent {{ agent_slug }}"
    )


def test_the_log_is_made_before_the_flag_and_never_chmodded_after_it():
    names = task_names(TASKS / "audit_log.yml")
    flag = names.index("Make the audit log append-only for agent {{ agent_slug }}")

    assert names.index("Create an empty audit log for agent {{ agent_slug }}") < flag
    later = yaml.safe_load((TASKS / "audit_log.yml").read_text(encoding="utf-8"))[flag + 1 :]
    assert [t for t in later if "ansible.builtin.file" in t] == []
