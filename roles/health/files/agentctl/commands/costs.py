"""`agentctl costs`: LLM costs of every agent over UTC days, by agent, model or day."""

import os
from datetime import timedelta

from ..agents import discover_agents, resolve_agent
from ..contract.costs import CostTable, model_of, read_cost_records
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
    table = CostTable(args.by)
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
                table.add(key, record)
    if args.json:
        print(table.report_json(since, until, host=hostname()))
        return EXIT_OK
    rows, total = table.rows(), table.total()
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
