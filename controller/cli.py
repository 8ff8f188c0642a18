"""Command line: argparse, wiring, and the one place errors become one line and an exit code."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn, TextIO

from controller.errors import EXIT_ERROR, EXIT_OK, EXIT_ROLLED_BACK, ControllerError, UsageError
from controller.events import Events, HumanView, JsonLines
from controller.gates import Thresholds
from controller.hooks import DEFAULT_HOOK_TIMEOUT_S
from controller.rollout import Policy
from controller.runner import Outcome, ShiftOptions
from controller.strategy import PRESETS, build_plan, parse_duration

PROG = "python -m controller"
CONSOLE_SCRIPT = "apigw-canary"  # [project.scripts] in pyproject.toml
DEFAULT_INTERVAL = "60s"


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (one line, exit 2) instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _rate(text: str) -> float:
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate; write 0.01 or 1%") from None
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is outside 0..1 (0%..100%)")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        # No data is not a pass: a watched step needs at least one canary request to judge.
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _prog() -> str:
    """The name the user typed: the console script, or `python -m controller`."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return CONSOLE_SCRIPT if invoked == CONSOLE_SCRIPT else PROG


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{CONSOLE_SCRIPT} {version(CONSOLE_SCRIPT)}"
    except PackageNotFoundError:  # a checkout on PYTHONPATH that was never pip-installed
        return f"{CONSOLE_SCRIPT} (not installed: version unknown)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=_prog(), description="Progressive delivery for API Gateway + Lambda (blue/green slots)."
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{status,shift,promote,rollback,report}", parser_class=_Parser
    )

    def common(p: argparse.ArgumentParser) -> None:
        source = p.add_mutually_exclusive_group()
        source.add_argument("--tf-dir", metavar="DIR", help="read `terraform output -json` here (default: .)")
        source.add_argument(
            "--outputs", metavar="FILE|-", help="a saved `terraform output -json`, or - for stdin"
        )
        p.add_argument("--json", action="store_true", help="one JSON event per line on stdout")

    common(sub.add_parser("status", help="show slots, canary, lock and alarm states"))
    shift = sub.add_parser(
        "shift", help="canary the candidate slot on production, step by step, then promote"
    )
    common(shift)
    shift.add_argument("--strategy", help=f"preset: {', '.join(PRESETS)} (default canary10-5m)")
    shift.add_argument("--steps", help="percents, increasing, ending at 100: e.g. 10,25,50,100")
    shift.add_argument(
        "--bake", help="how long each step is watched: 90s, 2m, 1h (default per strategy; 2m with --steps)"
    )
    shift.add_argument("--interval", default=DEFAULT_INTERVAL, help="time between gate checks (default 60s)")
    shift.add_argument(
        "--max-5xx-rate",
        type=_rate,
        default=Thresholds.max_5xx_rate,
        metavar="R",
        help="canary 5XX share allowed: 0.05 or 5%% (default 5%%)",
    )
    shift.add_argument(
        "--max-p99-ms", type=_positive, default=None, metavar="N", help="canary p99 allowed (off by default)"
    )
    shift.add_argument(
        "--min-requests",
        type=_count,
        default=Thresholds.min_requests,
        metavar="N",
        help="canary requests a step needs before it may pass (default 50)",
    )
    shift.add_argument(
        "--max-5xx-ratio",
        type=_positive,
        default=Thresholds.max_5xx_ratio,
        metavar="X",
        help="canary 5XX rate allowed as a multiple of the baseline's (default 2)",
    )
    shift.add_argument(
        "--max-p99-ratio",
        type=_positive,
        default=Thresholds.max_p99_ratio,
        metavar="X",
        help="canary p99 allowed as a multiple of the baseline's, plus 25 ms (default 1.5)",
    )
    shift.add_argument(
        "--max-extension",
        metavar="DURATION",
        help="how long a finished bake waits for enough data before rolling back "
        "(default: the bake again, at least 3 metric periods)",
    )
    shift.add_argument(
        "--pre-traffic", metavar="CMD", help="shell command run before any production traffic moves"
    )
    shift.add_argument("--post-step", metavar="CMD", help="shell command run after each step passes")
    shift.add_argument(
        "--hook-timeout", default="10m", metavar="DURATION", help="limit for each hook (default 10m)"
    )
    shift.add_argument(
        "--on-interrupt",
        choices=("rollback", "leave"),
        default="rollback",
        help="on SIGINT/SIGTERM: remove the canary (default) or leave it to resume later",
    )
    shift.add_argument(
        "--no-judge",
        action="store_true",
        help="thresholds and alarms only: leave the statistical judge out of the gates",
    )
    shift.add_argument(
        "--baseline-history",
        default="24h",
        metavar="DURATION",
        help="how much of the live version's past traffic the judge reads to know its usual 5XX rate: "
        "faster promotion (default 24h; 0 reads none)",
    )
    shift.add_argument(
        "--trust-baseline-history",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the judge may also FAIL a canary against that history (default when there is one): fewer "
        "failed requests and faster decisions; a baseline whose error rate rises during the rollout is "
        "watched and discounted, but can still roll back a good release. --no-trust-baseline-history keeps "
        "the fail test on the concurrent split alone, whose false-rollback rate holds whatever the "
        "baseline does",
    )
    shift.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    common(sub.add_parser("promote", help="make the canary's slot live now and remove the canary"))
    common(sub.add_parser("rollback", help="remove the canary: production serves the live slot 100%%"))
    report = sub.add_parser("report", help="draw a --json event log as a chart (.png) or page (.html)")
    report.add_argument("events", help="the event log (JSON lines from shift --json)")
    report.add_argument("-o", "--output", required=True, help="FILE.png or FILE.html")
    return parser


MAX_BASELINE_HISTORY_S = 14 * 24 * 3600.0  # one GetMetricData call, even at one-minute periods


def shift_options(args: argparse.Namespace, period_s: int | None = None) -> ShiftOptions:
    """Validated options from the command line; everything here is checked before any AWS call."""
    plan = build_plan(args.strategy, args.steps, args.bake)
    interval_s = parse_duration(args.interval, "--interval")
    if interval_s <= 0:
        raise UsageError("--interval must be more than 0s")
    hook_timeout_s = (
        parse_duration(args.hook_timeout, "--hook-timeout") if args.hook_timeout else DEFAULT_HOOK_TIMEOUT_S
    )
    if hook_timeout_s <= 0:
        raise UsageError("--hook-timeout must be more than 0s")
    extension = parse_duration(args.max_extension, "--max-extension") if args.max_extension else None
    thresholds = Thresholds(
        max_5xx_rate=args.max_5xx_rate,
        max_p99_ms=args.max_p99_ms,
        min_requests=args.min_requests,
        max_5xx_ratio=args.max_5xx_ratio,
        max_p99_ratio=args.max_p99_ratio,
    )
    if plan.adaptive and args.no_judge:
        raise UsageError("--strategy adaptive is driven by the statistical judge; drop --no-judge")
    history_s = parse_duration(args.baseline_history, "--baseline-history")
    if history_s > MAX_BASELINE_HISTORY_S or 0 < history_s < 60:
        raise UsageError(
            "--baseline-history must be 0 (none) or between 1m and 14d (336h) of CloudWatch history"
        )
    if args.trust_baseline_history and (history_s == 0 or args.no_judge):
        raise UsageError("--trust-baseline-history needs the judge and a --baseline-history above 0")
    trust_history = args.trust_baseline_history is not False and history_s > 0 and not args.no_judge
    policy = Policy(plan, thresholds, interval_s, float(period_s or 60), extension)
    return ShiftOptions(
        policy=policy,
        pre_traffic=args.pre_traffic,
        post_step=args.post_step,
        on_interrupt=args.on_interrupt,
        dry_run=args.dry_run,
        hook_timeout_s=hook_timeout_s,
        baseline_history_s=history_s,
        trust_history=trust_history,
    )


def exit_code(command: str, outcome: Outcome) -> int:
    if outcome is Outcome.ROLLED_BACK and command == "shift":
        return EXIT_ROLLED_BACK
    if outcome is Outcome.INTERRUPTED:
        return EXIT_ERROR  # the rollout did not finish; CI must not go on as if it had
    return EXIT_OK


class _Signals:
    """SIGINT/SIGTERM set an event the rollout loop polls; restored afterwards."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._saved: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()

    def __enter__(self) -> threading.Event:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._saved[sig] = signal.signal(sig, self._handler)
        return self.stop

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def run(args: argparse.Namespace, events: Events, stdin: TextIO) -> Outcome:
    # Imported here so `--help` and usage errors never pay for boto3.
    from controller import commands
    from controller.app import App

    if args.command == "shift":
        shift_options(args)  # usage errors before reading config or calling AWS
    app = App.from_args(args, events, stdin)
    if args.command == "status":
        return commands.status(app.cfg, app.stages, app.alarms, events)
    if args.command == "rollback":
        return commands.rollback(app.cfg, app.stages, app.deployments, events)
    if args.command == "promote":
        return commands.promote(app.cfg, app.stages, app.deployments, app.lock(ttl_s=120), events)
    options = shift_options(args, app.cfg.metrics.period_seconds)
    with _Signals() as stop:
        return app.shift(options, stop, judge=not args.no_judge).run()


def main(
    argv: Sequence[str] | None = None,
    stdin: TextIO | None = None,
    make_events: Callable[[bool], Events] | None = None,
) -> int:
    stdin = stdin or sys.stdin
    as_json = "--json" in (argv if argv is not None else sys.argv[1:])
    events: Events = (make_events or _default_events)(as_json)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "report":
            return _report(args)
        outcome = run(args, events, stdin)
        return exit_code(args.command, outcome)
    except ControllerError as exc:
        return _fail(events, as_json, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail(events, as_json, "interrupted", EXIT_ERROR)
    except Exception as exc:  # noqa: BLE001 - last resort: one line, not a traceback
        if os.environ.get("CONTROLLER_DEBUG"):
            raise
        return _fail(
            events,
            as_json,
            f"internal error: {type(exc).__name__}: {exc} (CONTROLLER_DEBUG=1 shows more)",
            EXIT_ERROR,
        )


def _default_events(as_json: bool) -> Events:
    return JsonLines() if as_json else HumanView()


def _fail(events: Events, as_json: bool, message: str, code: int) -> int:
    message = " ".join(message.split())  # one line, always
    if as_json:
        events.emit("error", message=message, exit_code=code)
    print(f"error: {message}", file=sys.stderr)
    return code


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from controller.report import ReportError, render

    try:
        render(Path(args.events), Path(args.output))
    except ReportError as exc:
        raise ControllerError(str(exc)) from None
    print(f"wrote {args.output}")
    return EXIT_OK
