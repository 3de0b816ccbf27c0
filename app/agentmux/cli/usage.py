"""`agentmux usage [--since WHEN] [--by agent|model] [--json]`: what the API requests of every agent cost, from
the usage ledger (api/ledger.py; README: Rate limits and usage): requests, tokens by kind, the cost estimate,
errors and the 95th percentile latency, per agent or per model.
"""

from __future__ import annotations

import argparse
import json
import time

from agentmux.actions import Actions
from agentmux.ansi import one_line
from agentmux.api.ledger import Ledger, Usage
from agentmux.cli.output import table
from agentmux.errors import UsageError
from agentmux.logs.timespec import parse_time

HEADER = ("NAME", "REQUESTS", "INPUT", "OUTPUT", "CACHE WRITE", "CACHE READ", "COST", "ERRORS", "P95 LATENCY")


def row(usage: Usage) -> list[str]:
    latency = "-" if usage.p95_latency is None else f"{usage.p95_latency:.2f}s"
    return [one_line(usage.name), str(usage.requests), f"{usage.input:,}", f"{usage.output:,}",
            f"{usage.cache_write:,}", f"{usage.cache_read:,}", f"${usage.cost:.4f}", str(usage.errors), latency]


def cmd_usage(actions: Actions, args: argparse.Namespace) -> int:
    since = 0.0
    if args.since is not None:
        try:
            since = parse_time(args.since, time.time())
        except ValueError as exc:
            raise UsageError(f"--since {args.since!r}: {exc}") from None
    groups = Ledger(actions.fleet.store).summary(since, by=args.by)
    if args.json:
        print(json.dumps({"since": since or None, "by": args.by, "rows": [usage.to_json() for usage in groups],
                          "total_cost_usd": round(sum(usage.cost for usage in groups), 6)}))
        return 0
    if not groups:
        print("no API requests recorded" + ("" if args.since is None else f" since {args.since}"))
        return 0
    total = Usage("total", sum(u.requests for u in groups), sum(u.input for u in groups),
                  sum(u.output for u in groups), sum(u.cache_write for u in groups),
                  sum(u.cache_read for u in groups), sum(u.cost for u in groups), sum(u.errors for u in groups), None)
    rows = [list(HEADER), *(row(usage) for usage in groups)]
    if len(groups) > 1:
        rows.append(row(total))
    print(table(rows))
    print("costs are estimates, priced when each request was recorded ([api.prices], else agentmux's defaults)")
    return 0
