"""The command line: run the agent, and answer the operator's questions in a second."""

import json
import sys

from . import AGENT_SLUG
from .cli_parser import build_parser, named_command
from .contract.costs import read_records, tabulate
from .contract.times import DateError, parse_day

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """The user asked for something that cannot be done; the message says how to fix it."""


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
    from pathlib import Path

    from .contract.anchor import AnchorError, check_against, read_anchor
    from .observability.audit import verify

    settings = load(args, READS)
    path = settings.state_dir / "audit.jsonl"
    anchor = None
    if args.against:
        try:
            anchor = read_anchor(Path(args.against), AGENT_SLUG)
        except AnchorError as error:
            raise UsageError(str(error)) from None
    problems = [str(problem) for problem in verify(path)]
    differs = check_against(path, anchor) if anchor else None
    if differs:
        problems.append(differs)
    if problems:
        for problem in problems:
            print(f"{path}: {problem}")
        print(f"audit log NOT intact: {len(problems)} problem(s)")
        return EXIT_PROBLEM
    print(f"audit log intact: {path}")
    if anchor:
        taken = f" taken at {anchor.taken_at}" if anchor.taken_at else ""
        print(
            f"entry {anchor.sequence} matches the anchor{taken} ({anchor.source}): "
            "the history up to it was not rewritten"
        )
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


def command_snapshot(args) -> int:
    from pathlib import Path

    from .reliability.snapshot import SnapshotError, take_snapshot

    settings = load(args, READS)
    documents = tuple(
        name.strip() for name in args.documents.split(",") if name.strip() not in ("", "none")
    )
    wait = args.wait if args.wait is not None else settings.item_time_limit_seconds + 60
    try:
        summary = take_snapshot(settings.state_dir, Path(args.into), documents, wait, AGENT_SLUG)
    except SnapshotError as error:
        raise UsageError(str(error)) from None
    print(
        f"snapshot of {AGENT_SLUG} in {args.into}: {summary['files']} file(s), taken "
        f"{summary['taken_at']}, agent paused {summary['paused_seconds']:g} s, audit head "
        f"{summary['audit']['sequence']}"
    )
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

    words = sys.argv[1:] if argv is None else argv
    args = build_parser(named_command(words)).parse_args(words)
    handlers = {
        "run": lambda: command_run(args, once=False),
        "once": lambda: command_run(args, once=True),
        "costs": lambda: command_costs(args),
        "audit": lambda: command_audit(args),
        "review": lambda: command_review(args),
        "health": lambda: command_health(args),
        "status": lambda: command_status(args),
        "settings": lambda: command_settings(args),
        "snapshot": lambda: command_snapshot(args),
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
