"""agentctl's command line: the parser, and main, which runs one command.

A run imports the module of its one command only (COMMANDS): `agentctl status`, the command people
run most, often in a loop, never loads what alerts, Telegram or `retry` need, and imports were most
of its time. html and urllib are imported where messages are sent, logging on the first line logged
(output.LazyLogger), ctypes by `retry`; the few classes are plain ones (dataclasses imports
inspect).
"""

import argparse
import sys

from .config import CONFIG_ENV, DEFAULT_CONFIG_PATH, config_path, load_config
from .contract.commandline import HelpFormatter, Parser
from .errors import EXIT_PROBLEM, EXIT_USAGE, UsageError
from .redaction import REDACT

COST_GROUPINGS = ("agent", "model", "day")


def build_parser(only: str | None = None) -> Parser:
    """Build the command line: every command, or only the command `only` with its arguments.

    One command is all a run needs once its name is known, and building the other ten was a
    tenth of `agentctl status`; help and mistakes get the whole parser.
    """
    parser = Parser(
        prog="agentctl",
        description="See and look after every pillars agent on this host.",
        epilog=f"Settings: {DEFAULT_CONFIG_PATH} (or ${CONFIG_ENV}). Exit codes: 0 fine, "
        "1 something unhealthy or undelivered, 2 usage error.",
        formatter_class=HelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    def wanted(name: str) -> bool:
        return only is None or only == name

    def add(name: str, **kwargs) -> Parser:
        return commands.add_parser(name, formatter_class=HelpFormatter, **kwargs)

    if wanted("status"):
        status = add("status", help="one table of every agent; exit 1 when anything is unhealthy")
        status.add_argument("--json", action="store_true", help="machine-readable output")

    if wanted("costs"):
        costs = add("costs", help="LLM costs of every agent over UTC days")
        costs.add_argument(
            "--since", default="today", help="today, yesterday, 7d or YYYY-MM-DD (default today)"
        )
        costs.add_argument("--until", default="today", help="last day included (default today)")
        costs.add_argument("--by", choices=COST_GROUPINGS, default="agent")
        costs.add_argument("--agent", help="only this agent")
        costs.add_argument("--json", action="store_true", help="machine-readable output")

    if wanted("logs"):
        logs = add("logs", help="an agent's journal (or its log file)")
        logs.add_argument("agent")
        logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
        logs.add_argument("-n", "--lines", type=int, default=50, help="how many lines (default 50)")
        logs.add_argument(
            "--file", action="store_true", help="read /var/log/agents/AGENT/agent.log instead"
        )

    if wanted("failed"):
        failed = add("failed", help="an agent's failed items and why they failed")
        failed.add_argument("agent")
        failed.add_argument("--json", action="store_true", help="machine-readable output")

    if wanted("retry"):
        retry = add("retry", help="put a failed item back into the agent's inbox (recorded)")
        retry.add_argument("agent")
        retry.add_argument("item", help="file name in failed/ (or its item id)")

    if wanted("review"):
        review = add(
            "review",
            help="the agent's review queue, through its own CLI: list | show ID | resolve ID ...",
            prefix_chars="\0",  # everything after the agent's name is the agent CLI's business
        )
        review.add_argument("agent")
        review.add_argument("arguments", nargs=argparse.REMAINDER)

    if wanted("health"):
        health = add("health", help="run the check once; print what it would send")
        health.add_argument(
            "--send", action="store_true", help="really send, and remember it (like check)"
        )

    if wanted("check"):
        add("check", help="the scheduled check: send new problems, reminders, recoveries")

    if wanted("on-failure"):
        on_failure = add("on-failure", help="alert at once that a unit failed (OnFailure=)")
        on_failure.add_argument("unit")

    if wanted("digest"):
        digest = add("digest", help="yesterday's costs and items per agent")
        digest.add_argument("--day", default="yesterday", help="UTC day (default yesterday)")
        digest.add_argument(
            "--send", action="store_true", help="send it to Telegram (once per day)"
        )
        digest.add_argument(
            "--force", action="store_true", help="with --send: send even if already sent"
        )

    if wanted("bot"):
        bot = add("bot", help="the operator's Telegram bot: status, costs, reviews (a service)")
        bot.add_argument(
            "--once", action="store_true", help="handle the updates waiting now, then exit"
        )

    if wanted("check-config"):
        check_config = add("check-config", help="validate a configuration file")
        check_config.add_argument("path")
    return parser


# Each command: the module of agentctl.commands and the function in it that runs it.
COMMANDS = {
    "status": ("status", "command_status"),
    "costs": ("costs", "command_costs"),
    "logs": ("logs", "command_logs"),
    "failed": ("failed", "command_failed"),
    "retry": ("retry", "command_retry"),
    "review": ("review", "command_review"),
    "health": ("health", "command_health"),
    "check": ("health", "command_check"),
    "on-failure": ("on_failure", "command_on_failure"),
    "digest": ("digest", "command_digest"),
    "check-config": ("check_config", "command_check_config"),
    "bot": ("bot", "command_bot"),
}


# What the health role's units run as its tools' user (tools_user) rather than as root.
UNATTENDED = frozenset({"check", "digest", "on-failure"})


def handler(command: str):
    """Return the function running a command, importing its module only."""
    module, function = COMMANDS[command]
    # __import__ rather than importlib.import_module: importlib is one more module to load.
    imported = __import__(f"{__package__}.commands.{module}", fromlist=[function])
    return getattr(imported, function)


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors are one line on stderr and exit code 2."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv and argv[0] in COMMANDS else None).parse_args(argv)
    try:
        run = handler(args.command)
        if args.command == "check-config":
            return run({}, args)
        config = load_config(config_path())
        if args.command == "bot":  # its own user (pillars-ops); its allowlist says who may ask
            return run(config, args)
        from .operators import require_operator  # needed once a command is known

        require_operator(config, argv, unattended=args.command in UNATTENDED)
        return run(config, args)
    except UsageError as error:
        sys.stderr.write(REDACT(f"agentctl: {error}") + "\n")
        return EXIT_USAGE
    except OSError as error:
        sys.stderr.write(
            REDACT(f"agentctl: {error.strerror or error}: {error.filename or ''}").rstrip(": ")
            + "\n"
        )
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        return EXIT_PROBLEM
