"""The agents' slug rule for the agent role: the contract's own code, loaded from the bundle.

    agent_slug | agent_slug_problem   why the slug cannot name an agent, or "" when it can
    agent_slug | agent_system_user    agent-<slug>, the system user and group
    agent_slug | agent_unit_name      agent-<slug>.service

The rule is contract/layout.py's slug_problem, which the template's generator hook also loads: the
bundle reaches it through agentctl's contract link (roles/health/files/agentctl/contract), so the
role, cookiecutter and the agents refuse and accept the same slugs.
"""

import importlib.util
from pathlib import Path

from ansible.errors import AnsibleFilterError

LAYOUT = (
    Path(__file__).resolve().parents[2] / "health" / "files" / "agentctl" / "contract" / "layout.py"
)
_layout = None


def layout():
    """Import contract/layout.py by path, once (it imports only the standard library)."""
    global _layout
    if _layout is None:
        if not LAYOUT.is_file():
            raise AnsibleFilterError(
                f"the agents' contract is missing at {LAYOUT}: the bundle's contract link is "
                "broken; check out the repository again (git keeps the link)"
            )
        spec = importlib.util.spec_from_file_location("pillars_contract_layout", LAYOUT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _layout = module
    return _layout


def _text(slug) -> str:
    if not isinstance(slug, str):
        raise AnsibleFilterError(f"an agent slug is text, not {type(slug).__name__}: {slug!r}")
    return slug


def agent_slug_problem(slug) -> str:
    return layout().slug_problem(_text(slug)) or ""


def agent_system_user(slug) -> str:
    return layout().system_user(_text(slug))


def agent_unit_name(slug) -> str:
    return layout().unit_name(_text(slug))


class FilterModule:
    """The slug filters of the agent role."""

    def filters(self):
        return {
            "agent_slug_problem": agent_slug_problem,
            "agent_system_user": agent_system_user,
            "agent_unit_name": agent_unit_name,
        }
