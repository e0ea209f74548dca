"""The command line's words: the commands, their arguments, and the parser of only the one named.

Built apart from what the commands do (cli.py), which is imported only for the command run.
"""

import argparse

from . import AGENT_SLUG
from .contract.commandline import Parser
from .contract.costs import GROUPINGS


class VersionAction(argparse.Action):
    """--version, reading the version only when asked (see __init__.__getattr__)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from . import __version__

        print(f"{AGENT_SLUG} {__version__}")
        parser.exit()


COMMANDS = {
    "run": "process the inbox until stopped (the systemd service)",
    "once": "process what is in the inbox now, then exit",
    "costs": "LLM costs over a period",
    "audit": "the tamper-evident audit log",
    "review": "documents waiting for a human decision",
    "health": "check the agent; JSON out, exit 0 when healthy",
    "status": "what the agent is doing, from its heartbeat",
    "settings": "every .env key, from its one declaration",
    "snapshot": "a consistent copy of the state while the agent runs (for backups)",
}
# The options before the command that take a value: the command is the first word after them.
VALUE_OPTIONS = ("--env-file", "--state-dir")


def add_costs_arguments(costs: Parser) -> None:
    costs.add_argument("--since", default="today", help="today, yesterday, 7d or YYYY-MM-DD")
    costs.add_argument("--until", default="today", help="last day included (default today)")
    costs.add_argument("--by", choices=GROUPINGS, default="day")
    costs.add_argument("--json", action="store_true", help="machine-readable output")


def add_audit_arguments(audit: Parser) -> None:
    audit_commands = audit.add_subparsers(
        dest="audit_command", metavar="ACTION", parser_class=Parser
    )
    audit_commands.required = True
    verify = audit_commands.add_parser(
        "verify", help="check that no entry was edited, removed or cut off"
    )
    verify.add_argument(
        "--against",
        metavar="FILE",
        help="an anchor file from a backup, or a saved digest: also prove that the history up to "
        "its entry was not rewritten since",
    )


def add_review_arguments(review: Parser) -> None:
    review_commands = review.add_subparsers(
        dest="review_command", metavar="ACTION", parser_class=Parser
    )
    review_commands.required = True
    review_commands.add_parser("list", help="list pending reviews")
    show = review_commands.add_parser("show", help="show one review and the choices it offers")
    show.add_argument("item_id")
    resolve = review_commands.add_parser("resolve", help="decide a review")
    resolve.add_argument("item_id")
    decision = resolve.add_mutually_exclusive_group(required=True)
    decision.add_argument("--choose", type=int, metavar="N", help="choice number from show")
    decision.add_argument("--reject", action="store_true", help="send the document to failed/")
    resolve.add_argument("--note", default="", help="why (kept in the audit log)")


def add_settings_arguments(settings: Parser) -> None:
    settings.add_argument("form", choices=("example", "table"), help=".env.example or Markdown")


def add_snapshot_arguments(snapshot: Parser) -> None:
    from .reliability.snapshot import DOCUMENT_FOLDERS

    snapshot.add_argument("--into", required=True, help="directory that receives the snapshot")
    snapshot.add_argument(
        "--documents",
        default=",".join(DOCUMENT_FOLDERS),
        help="document folders to include, comma-separated, or none (default %(default)s)",
    )
    snapshot.add_argument(
        "--wait",
        type=float,
        default=None,
        help="seconds to wait for the item in hand (default ITEM_TIME_LIMIT_SECONDS + 60)",
    )


ARGUMENTS = {
    "costs": add_costs_arguments,
    "audit": add_audit_arguments,
    "review": add_review_arguments,
    "settings": add_settings_arguments,
    "snapshot": add_snapshot_arguments,
}


def named_command(argv: list[str]) -> str | None:
    """Return the command argv names after the options that come before it, or None if unsure.

    None (help, --version, an abbreviated or unknown option, no command) gets the whole parser.
    """
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in VALUE_OPTIONS:
            index += 2
        elif word.startswith(tuple(f"{option}=" for option in VALUE_OPTIONS)):
            index += 1
        else:
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> Parser:
    """Build the command line: every command, or only the command `only` with its arguments.

    A run needs one command once its name is known, and building the others (argparse looks up
    translations for each parser) cost more than `costs --since yesterday` reading its records;
    help and mistakes get the whole parser.
    """
    parser = Parser(prog=AGENT_SLUG, description="Run the agent or inspect its work.")
    parser.add_argument(
        "--version", action=VersionAction, nargs=0, help="show the version and exit"
    )
    parser.add_argument(
        "--env-file",
        help="settings file (default: $CREDENTIALS_DIRECTORY/env under systemd, else ./.env)",
    )
    parser.add_argument(
        "--state-dir", help="state directory (default: $STATE_DIRECTORY, else ./var)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for name, help_text in COMMANDS.items():
        if only is None or only == name:
            command = commands.add_parser(name, help=help_text)
            if name in ARGUMENTS:
                ARGUMENTS[name](command)
    return parser
