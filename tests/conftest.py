"""Start the longest template tests first, so that the test workers finish at about the same time.

pytest-xdist hands out tests in collection order as workers become free. Each of these runs for
minutes (the baked README's laptop block installs the agent and runs its own suite and fault suite;
the fault suite alone is the next longest); collected last, one would run alone at the end.
"""

import pytest

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
