"""Start the longest template tests first, so that the test workers finish at about the same time.

pytest-xdist hands out tests in collection order as workers become free. Each of these runs for
minutes (the baked README's laptop block installs the agent and runs its own suite and fault suite;
the fault suite alone is the next longest); collected last, one would run alone at the end.

baked_package bakes an agent under a name of its own and imports its modules, for the tests that
hold the agent's code to the role's or agentctl's. host and telegram are agentctl's: a host tree of
agents (agentctl_stubs.Host) whose alerts go to a Telegram stand-in on 127.0.0.1.
"""

import importlib
import sys
from collections.abc import Callable
from types import ModuleType

import pytest
from agentctl_stubs import Host, TelegramStandIn
from test_cookiecutter_generation import (
    bake,
    cookiecutter_config,  # noqa: F401 (a fixture, used by name)
)

LONGEST_FIRST = (
    "test_the_laptop_commands_of_the_baked_readme_work_as_written",
    "test_baked_agent_survives_its_fault_and_attack_suite",
)


def start_rank(item: pytest.Item) -> int:
    """Return where item starts: the longest tests, then the other baked suites, then the rest."""
    name = getattr(item, "originalname", item.name)
    if name in LONGEST_FIRST:
        return LONGEST_FIRST.index(name)
    if item.get_closest_marker("baked_tests") is not None:
        return len(LONGEST_FIRST)
    return len(LONGEST_FIRST) + 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=start_rank)  # stable: the order within each rank stays


@pytest.fixture(scope="module")
def baked_package(
    tmp_path_factory,
    cookiecutter_config,  # noqa: F811 (the fixture, by name)
) -> Callable[..., list[ModuleType]]:
    """Return bake(agent_name, *modules): bake an agent so named, import its package's modules.

    The name gives the package a name of its own, so no other installed bake of the template is
    imported instead; the baked src/ leaves sys.path when the test module is done.
    """
    added: list[str] = []

    def load(agent_name: str, *modules: str) -> list[ModuleType]:
        result = bake(
            tmp_path_factory.mktemp("bake-import"), cookiecutter_config, agent_name=agent_name
        )
        src = str(result.project / "src")
        sys.path.insert(0, src)
        added.append(src)
        package = result.answers["package_name"]
        return [importlib.import_module(f"{package}.{module}") for module in modules]

    yield load
    for src in added:
        sys.path.remove(src)


@pytest.fixture
def telegram():
    stand_in = TelegramStandIn()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def host(tmp_path, telegram):
    return Host(tmp_path, telegram_api_base=telegram.base_url)
