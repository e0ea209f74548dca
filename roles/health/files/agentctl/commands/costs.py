"""`agentctl costs`: LLM costs of every agent over UTC days, by agent, model or day."""

import json
import os
from datetime import timedelta
from decimal import Decimal

from ..agents import discover_agents, resolve_agent
from ..contract.costs import amount, model_of, read_cost_records
from ..contract.layout import COST_FILE_SUFFIX, COSTS
from ..contract.times import DateError, check_day_range, parse_day, utc_now
from ..errors import EXIT_OK, UsageError
from ..output import say
from ..systemd import hostname


def command_costs(config: dict, args) -> int:
    today = utc_now().date()
    try:
        since, until = parse_day(args.since, today), parse_day(args.until, today)
        check_day_range(since, until)
    except DateError as error:
        raise UsageError(str(error)) from None
    agents = [resolve_agent(config, args.agent)] if args.agent else discover_agents(config)
    wanted = {
        f"{(since + timedelta(days=n)).isoformat()}{COST_FILE_SUFFIX}"
        for n in range((until - since).days + 1)
    }
    totals: dict[str, dict] = {}
    for agent in agents:
        folder = agent.state / COSTS
        try:
            names = sorted(wanted.intersection(os.listdir(folder)))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            day = name.removesuffix(COST_FILE_SUFFIX)
            for record in read_cost_records(folder / name):
                if args.by == "agent":
                    key = agent.slug
                elif args.by == "day":
                    key = day
                else:
                    key = model_of(record)
                row = totals.setdefault(
                    key,
                    {
                        args.by: key,
                        "calls": 0,
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "cost_usd": Decimal(0),
                        "unpriced_calls": 0,
                    },
                )
                row["calls"] += 1
                row["input_tokens"] += _int(record.get("gen_ai.usage.input_tokens"))
                row["output_tokens"] += _int(record.get("gen_ai.usage.output_tokens"))
                cost = amount(record)
                if cost is None:
                    row["unpriced_calls"] += 1
                else:
                    row["cost_usd"] += cost
    rows = [totals[key] for key in sorted(totals)]
    total = {
        "calls": sum(r["calls"] for r in rows),
        "input_tokens": sum(r["input_tokens"] for r in rows),
        "output_tokens": sum(r["output_tokens"] for r in rows),
        "cost_usd": sum((r["cost_usd"] for r in rows), Decimal(0)),
        "unpriced_calls": sum(r["unpriced_calls"] for r in rows),
    }
    if args.json:
        print(
            json.dumps(
                {
                    "host": hostname(),
                    "since": str(since),
                    "until": str(until),
                    "by": args.by,
                    "rows": rows,
                    "total": total,
                },
                indent=2,
                default=float,  # the Decimal sums, as JSON numbers
            )
        )
        return EXIT_OK
    say(f"LLM costs {since} .. {until} (UTC days) by {args.by}")
    width = max([len(args.by), 5, *(len(r[args.by]) for r in rows)])
    columns = f"{'CALLS':>7}  {'INPUT TOK':>11}  {'OUTPUT TOK':>11}  {'USD':>12}"
    say(f"{args.by.upper():<{width}}  {columns}")
    for row in [*rows, {args.by: "total", **total}]:
        unpriced = (
            f"  ({row['unpriced_calls']} call(s) with unknown price)"
            if row["unpriced_calls"]
            else ""
        )
        say(
            f"{row[args.by]:<{width}}  {row['calls']:>7}  {row['input_tokens']:>11}  "
            f"{row['output_tokens']:>11}  {row['cost_usd']:>12.6f}{unpriced}"
        )
    return EXIT_OK


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
