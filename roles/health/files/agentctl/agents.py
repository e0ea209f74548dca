"""The agents of this host and the places the contract (docs/contract.md) gives each."""

from pathlib import Path

from .contract.envfile import EnvFormatError, read_env_file
from .contract.layout import LOG_FILE, is_slug, system_user, unit_name
from .errors import UsageError
from .output import logger
from .redaction import REDACT


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
        return unit_name(self.slug)

    @property
    def user(self) -> str:
        return system_user(self.slug)

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
        return self.config["logs_root"] / self.slug / LOG_FILE


def discover_agents(config: dict) -> list[Agent]:
    """Return every agent with a release under agents_dir or a state directory under state_root."""
    slugs = set()
    agents_dir, state_root = config["agents_dir"], config["state_root"]
    if agents_dir.is_dir():
        for entry in agents_dir.iterdir():
            if is_slug(entry.name) and (entry / "current").exists():
                slugs.add(entry.name)
    if state_root.is_dir():
        for entry in state_root.iterdir():
            if is_slug(entry.name) and entry.is_dir():
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
    """Teach the redactor the values of every agent's .env file worth hiding."""
    for agent in agents:
        if not agent.env_file.exists():
            continue
        try:
            REDACT.add_env_values(read_env_file(agent.env_file))
        except EnvFormatError as error:
            # The agent refuses such a file too; the patterns still catch the usual secret shapes.
            logger.warning("%s; its values are not known to the redaction", error)
