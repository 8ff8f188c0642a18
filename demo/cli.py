"""`python -m demo`'s command line and closing summary (the steps themselves are demo/run.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from demo.procs import REPO, DemoError
from demo.run import FAULTY_VERSION, INTRO, Demo, Options, clock_text
from demo.summary import EXPECTED_NOTIFICATIONS, Outcome, table


def _write_summary(outcome: Outcome, options: Options, wall_s: float) -> Path:
    path = options.out_dir / "summary.json"
    faulty = [run for run in outcome.runs if run.expected == "rolled back"]
    undo = outcome.undo
    payload = {
        "ok": outcome.ok,
        "wall_time_s": round(wall_s, 1),
        "requests_served": outcome.requests_served,
        "rate_per_s": options.rate,
        "metric_period_s": options.metric_period_s,
        "phases": outcome.phases,
        "runs": [
            {**asdict(run), "traffic": {v: asdict(s) for v, s in run.traffic.items()}} for run in outcome.runs
        ],
        "undo": None
        if undo is None
        else {
            **asdict(undo),
            "failed_requests": undo.failed_requests,
            "requests": undo.requests,
            "as_expected": undo.as_expected,
        },
        "notifications": {
            "receiver": outcome.receiver_url,
            "expected": list(EXPECTED_NOTIFICATIONS),
            "received": [asdict(n) for n in outcome.notifications],
        },
        "faulty_release_errors_before_rollback": sum(
            s.errors_5xx for run in faulty for v, s in run.traffic.items() if v.endswith(FAULTY_VERSION)
        ),
        "charts": [str(p) for p in outcome.charts],
    }
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="The whole product on the local cloud: promote a good release, undo it under traffic, "
        "roll back a bad one; every decision also sent to a webhook receiver on 127.0.0.1.",
    )
    parser.add_argument(
        "--rate", type=float, default=50.0, help="requests per second to production (default 50)"
    )
    parser.add_argument("--workers", type=int, default=8, help="traffic threads (default 8)")
    parser.add_argument("--port", type=int, default=None, help="local cloud port (default: a free one)")
    parser.add_argument(
        "--metric-period",
        type=int,
        default=10,
        dest="metric_period_s",
        help="local cloud metric period and alarm period in seconds: 10, 30 or a multiple of 60 "
        "(default 10; AWS's standard metrics use 60)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "out" / "demo",
        dest="out_dir",
        help="where events, charts, logs and the summary go (default out/demo)",
    )
    parser.add_argument(
        "--tf-dir",
        type=Path,
        default=REPO / "examples" / "basic",
        help="the Terraform root module to apply (default examples/basic)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=240.0,
        dest="shift_timeout_s",
        help="give up on a rollout after this many seconds (default 240)",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.workers < 1:
        parser.error("--rate and --workers must be positive")
    # CloudWatch alarms take 10, 30 or a multiple of 60 seconds as their period:
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    if not (
        args.metric_period_s in (10, 30) or (args.metric_period_s > 0 and args.metric_period_s % 60 == 0)
    ):
        parser.error("--metric-period must be 10, 30 or a multiple of 60 (CloudWatch alarm periods)")
    return Options(
        rate=args.rate,
        workers=args.workers,
        port=args.port,
        metric_period_s=args.metric_period_s,
        out_dir=args.out_dir.resolve(),
        tf_dir=args.tf_dir.resolve(),
        shift_timeout_s=args.shift_timeout_s,
    )


def _closing_lines(outcome: Outcome, wall_s: float) -> list[str]:
    lines = [f"requests served: {outcome.requests_served}; wall time {clock_text(wall_s)}"]
    if outcome.receiver_url:
        events = [n.event for n in outcome.notifications]
        missing = [kind for kind in EXPECTED_NOTIFICATIONS if kind not in events]
        lines.append(
            f"notifications: {len(events)} arrived at the webhook receiver {outcome.receiver_url}"
            + (f": {', '.join(e.replace('_', ' ') for e in events)}" if events else "")
            + (f" (missing: {', '.join(missing)})" if missing else "")
        )
    for run in outcome.runs:
        if run.expected == "rolled back":
            bad = [stats for version, stats in run.traffic.items() if version.endswith(FAULTY_VERSION)]
            failed, served = sum(s.errors_5xx for s in bad), sum(s.requests for s in bad)
            lines.append(
                f"faulty release: {failed} failed requests (of {served} it answered) before rollback"
            )
    for chart in outcome.charts:
        lines.append(f"chart: {chart}")
    return lines


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    # CI logs are not terminals; rich would wrap them at 80 columns and crush the summary table.
    console = Console(record=True, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120)
    console.rule("[bold]apigw-canary demo[/bold]: progressive delivery on a local cloud")
    console.print(escape(INTRO.format(out=options.out_dir)), highlight=False)
    demo = Demo(options, console)
    code = 1
    try:
        demo.run()
        code = 0 if demo.outcome.ok else 1
    except DemoError as exc:
        console.print(f"[bold red]demo failed:[/bold red] {escape(str(exc))}")
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: everything the demo started has been stopped[/yellow]")
        code = 130
    wall = time.monotonic() - demo.started
    outcome = demo.outcome
    if outcome.rows:
        console.print(table(outcome.rows))
    summary = _write_summary(outcome, options, wall)
    for line in _closing_lines(outcome, wall):
        console.print(escape(line), highlight=False)
    console.print(
        f"summary: {summary}; event logs: {options.out_dir}/run*-events.jsonl; logs: {options.out_dir}/logs/"
    )
    verdict = (
        "[bold green]demo OK[/bold green]: the healthy release was promoted and undone under traffic, "
        "the faulty one rolled back, and every decision was notified"
    )
    console.print(verdict if code == 0 else f"[bold red]demo FAILED[/bold red] (exit {code})")
    console.save_text(str(options.out_dir / "demo.txt"))
    return code
