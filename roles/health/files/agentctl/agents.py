"""The agents of this host and the places the contract (docs/contract.md) gives each."""

import re
from pathlib import Path

from .errors import UsageError
from .redaction import REDACT

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,25}$")
UNIT_PREFIX = "agent-"
UNIT_SUFFIX = ".service"
SIDECAR_SUFFIX = ".why.json"


class Agent:
    """One agent and the places the contract (docs/contract.md) gives it; equal by slug."""

    def __init__(self, slug: str, config: dict):
        self.slug = slug
        self.config = config

    def __repr__(self) -> str:
        return f"Agent(slug={self.slug!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Agent) and other.slug == self.slug

    def __hash__(self) -> int:
        return hash(self.slug)

    @property
    def unit(self) -> str:
        return f"{UNIT_PREFIX}{self.slug}{UNIT_SUFFIX}"

    @property
    def user(self) -> str:
        return f"{UNIT_PREFIX}{self.slug}"

    @property
    def state(self) -> Path:
        return self.config["state_root"] / self.slug

    @property
    def cli(self) -> Path:
        return self.config["agents_dir"] / self.slug / "current" / "venv" / "bin" / self.slug

    @property
    def env_file(self) -> Path:
        return self.config["config_root"] / self.slug / ".env"

    @property
    def log_file(self) -> Path:
        return self.config["logs_root"] / self.slug / "agent.log"


def discover_agents(config: dict) -> list[Agent]:
    """Return every agent with a release under agents_dir or a state directory under state_root."""
    slugs = set()
    agents_dir, state_root = config["agents_dir"], config["state_root"]
    if agents_dir.is_dir():
        for entry in agents_dir.iterdir():
            if SLUG_PATTERN.match(entry.name) and (entry / "current").exists():
                slugs.add(entry.name)
    if state_root.is_dir():
        for entry in state_root.iterdir():
            if SLUG_PATTERN.match(entry.name) and entry.is_dir():
                slugs.add(entry.name)
    return [Agent(slug, config) for slug in sorted(slugs)]


def resolve_agent(config: dict, name: str) -> Agent:
    """Return the named agent, or raise UsageError naming the agents there are."""
    agents = discover_agents(config)
    for agent in agents:
        if agent.slug == name:
            return agent
    known = ", ".join(a.slug for a in agents) or "none"
    shown = name if len(name) <= 40 else name[:40] + "..."
    raise UsageError(f"no agent {shown!r} on this host (agents here: {known}); see agentctl status")


def load_agent_secrets(agents: list[Agent]) -> None:
    """Teach the redactor every value of every agent's .env file."""
    for agent in agents:
        REDACT.add_env_file(agent.env_file)
