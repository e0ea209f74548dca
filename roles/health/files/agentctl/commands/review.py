"""`agentctl review`: the agent's review queue, through its own CLI, as the agent."""

import os
import sys

from ..agents import resolve_agent
from ..errors import EXIT_OK, UsageError
from ..operators import operator_name, record_action
from ..systemd import agent_cli_argv


def command_review(config: dict, args) -> int:
    agent = resolve_agent(config, args.agent)
    if not agent.cli.exists():
        raise UsageError(f"{agent.cli} does not exist; deploy {agent.slug} first")
    arguments = list(args.arguments)
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    if not arguments:
        raise UsageError(
            f"say what to do: agentctl review {agent.slug} list | show ID | "
            "resolve ID --choose N|--reject"
        )
    # The agent's audit log records who decided: the operator behind sudo, not the agent's user.
    argv = agent_cli_argv(agent, ["review", *arguments], {"PILLARS_OPERATOR": operator_name()})
    record_action(config, "review", agent=agent.slug, arguments=arguments)
    sys.stdout.flush()
    # S606: systemd-run by full path (agent_cli_argv), an argument list, no shell.
    os.execv(argv[0], argv)  # noqa: S606
    return EXIT_OK  # not reached
