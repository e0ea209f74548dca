"""The command line: run the agent, and answer the operator's questions in a second."""

import argparse
import json
import os
import sys

from . import AGENT_SLUG
from .contract.costs import GROUPINGS, read_records, tabulate
from .contract.times import DateError, parse_day

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """The user asked for something that cannot be done; the message says how to fix it."""


def terminal_width() -> int:
    """The width argparse would take from shutil.get_terminal_size, without importing shutil."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter; its width is found only when help is shown.

    argparse makes a formatter for every add_argument, and each one imports shutil (with zlib, bz2
    and lzma) to measure the terminal: most runs print no help at all.
    """

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position, width or 80)
        self._requested_width = width

    def format_help(self) -> str:
        if self._requested_width is None:
            self._width = terminal_width()
            self._max_help_position = min(
                self._max_help_position, max(self._width - 20, self._indent_increment * 2)
            )
        return super().format_help()


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message}; see {self.prog} --help\n")
        sys.exit(EXIT_USAGE)


class VersionAction(argparse.Action):
    """--version, reading the version only when asked (see __init__.__getattr__)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from . import __version__

        print(f"{AGENT_SLUG} {__version__}")
        parser.exit()


def build_parser() -> Parser:
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

    commands.add_parser("run", help="process the inbox until stopped (the systemd service)")
    commands.add_parser("once", help="process what is in the inbox now, then exit")

    costs = commands.add_parser("costs", help="LLM costs over a period")
    costs.add_argument("--since", default="today", help="today, yesterday, 7d or YYYY-MM-DD")
    costs.add_argument("--until", default="today", help="last day included (default today)")
    costs.add_argument("--by", choices=GROUPINGS, default="day")
    costs.add_argument("--json", action="store_true", help="machine-readable output")

    audit = commands.add_parser("audit", help="the tamper-evident audit log")
    audit_commands = audit.add_subparsers(
        dest="audit_command", metavar="ACTION", parser_class=Parser
    )
    audit_commands.required = True
    audit_commands.add_parser("verify", help="check that no entry was edited, removed or cut off")

    review = commands.add_parser("review", help="documents waiting for a human decision")
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

    commands.add_parser("health", help="check the agent; JSON out, exit 0 when healthy")
    commands.add_parser("status", help="what the agent is doing, from its heartbeat")
    settings = commands.add_parser("settings", help="every .env key, from its one declaration")
    settings.add_argument("form", choices=("example", "table"), help=".env.example or Markdown")
    return parser


RUNS_AGENT, ACTS, READS = "runs the agent", "acts on the state", "reads the state"


def load(args, use: str):
    """Load settings for a command and, unless it only reads, set up logging.

    RUNS_AGENT (`run`, `once`): JSON logs to stdout (and the log file); the state directory is
    created if need be. Every other command works on the state an agent made, and stops when there
    is none. ACTS (`review`, `health`): warnings go to stderr as redacted JSON lines. READS
    (`costs`, `status`, `audit verify`): logging is not even imported; the rare warning (a damaged
    cost record, a stray settings key) is one plain line on stderr, naming a file and no secret.
    """
    from .reliability.state import check_existing_state
    from .security.settings import load_settings

    settings = load_settings(args.env_file, args.state_dir)
    if use != RUNS_AGENT:
        check_existing_state(settings.state_dir)
    if use == READS:
        return settings
    from .observability.logs import configure_logging

    if use == RUNS_AGENT:
        configure_logging(settings.log_level, settings.log_file, settings.secrets())
    else:
        configure_logging("WARNING", None, settings.secrets(), stream=sys.stderr)
    return settings


def command_run(args, once: bool) -> int:
    import logging

    from .agent import Agent

    settings = load(args, RUNS_AGENT)
    agent = Agent(settings)
    agent.install_signal_handlers()
    agent.start()
    if once:
        handled = agent.run_once(wait_for_settling=True)
        agent.write_heartbeat("idle")
        logging.getLogger(__name__).info("Processed %d item(s)", handled)
    else:
        agent.run()
    return EXIT_OK


def command_costs(args) -> int:
    since, until = parse_day(args.since), parse_day(args.until)
    if since > until:
        raise UsageError(f"--since {since} is after --until {until}; swap them")
    settings = load(args, READS)
    table = tabulate(read_records(settings.state_dir / "costs", since, until), args.by)
    if args.json:
        print(table.report_json(since, until))
        return EXIT_OK
    rows, total = table.rows(), table.total()
    print(f"LLM costs {since} .. {until} by {args.by}")
    print(f"{args.by:<24} {'calls':>7} {'input tok':>11} {'output tok':>11} {'USD':>12}")
    for row in rows:
        unpriced = (
            f"  ({row['unpriced_calls']} call(s) with unknown price)"
            if row["unpriced_calls"]
            else ""
        )
        print(
            f"{row[args.by]:<24} {row['calls']:>7} {row['input_tokens']:>11} "
            f"{row['output_tokens']:>11} {row['cost_usd']:>12.6f}{unpriced}"
        )
    print(f"{'total':<24} {total['calls']:>7} {'':>11} {'':>11} {total['cost_usd']:>12.6f}")
    return EXIT_OK


def command_audit(args) -> int:
    from .observability.audit import verify

    settings = load(args, READS)
    path = settings.state_dir / "audit.jsonl"
    problems = verify(path)
    if problems:
        for problem in problems:
            print(f"{path}: {problem}")
        print(f"audit log NOT intact: {len(problems)} problem(s)")
        return EXIT_PROBLEM
    print(f"audit log intact: {path}")
    return EXIT_OK


def command_review(args) -> int:
    from .review_commands import command_review as review

    return review(args, load(args, ACTS))


def command_health(args) -> int:
    from .deployment.health import check

    settings = load(args, ACTS)
    report = check(settings)
    print(json.dumps(report, indent=2))
    return EXIT_OK if report["status"] == "ok" else EXIT_PROBLEM


def command_status(args) -> int:
    from .deployment.heartbeat import read_heartbeat

    settings = load(args, READS)
    beat = read_heartbeat(settings.state_dir)
    if beat is None:
        print(f"{AGENT_SLUG}: no heartbeat in {settings.state_dir} (never started here)")
        return EXIT_PROBLEM
    counters = beat.get("counters", {})
    waiting = len(
        [p for p in (settings.state_dir / "incoming").iterdir() if not p.name.startswith(".")]
    )
    print(f"{beat['agent']} {beat['version']}  status: {beat['status']}  pid {beat['pid']}")
    print(
        f"started {beat['started']}, last loop {beat['last_loop']}, "
        f"last success {beat['last_success'] or 'never'}"
    )
    print(
        f"done {counters.get('done', 0)}, review {counters.get('review', 0)}, "
        f"failed {counters.get('failed', 0)}, duplicates {counters.get('duplicate', 0)} "
        f"(since start); waiting now {waiting}"
    )
    budget_note = "  BUDGET REACHED" if beat.get("budget_reached") else ""
    print(f"cost today ${beat['cost_today_usd']:.4f} of ${beat['budget_usd']:.2f}{budget_note}")
    if beat.get("unknown_price_models"):
        print(f"models without a price: {', '.join(beat['unknown_price_models'])}")
    return EXIT_OK


def command_settings(args) -> int:
    from .security.settings_docs import env_example, markdown_table

    print(env_example() if args.form == "example" else markdown_table(), end="")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors are one line on stderr and exit code 2."""
    from .reliability.errors import AuditError, PermanentError, SetupError
    from .reliability.state import AlreadyRunning, StateDirError
    from .security.settings import SettingsError

    args = build_parser().parse_args(argv)
    handlers = {
        "run": lambda: command_run(args, once=False),
        "once": lambda: command_run(args, once=True),
        "costs": lambda: command_costs(args),
        "audit": lambda: command_audit(args),
        "review": lambda: command_review(args),
        "health": lambda: command_health(args),
        "status": lambda: command_status(args),
        "settings": lambda: command_settings(args),
    }
    try:
        return handlers[args.command]()
    except (
        UsageError,
        SettingsError,
        DateError,
        AlreadyRunning,
        StateDirError,
        SetupError,
        PermanentError,
    ) as error:
        sys.stderr.write(f"{AGENT_SLUG}: error: {error}\n")
        return EXIT_USAGE
    except AuditError as error:
        sys.stderr.write(f"{AGENT_SLUG}: stopped: {error}\n")
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        return EXIT_PROBLEM
