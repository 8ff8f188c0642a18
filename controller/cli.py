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

from controller import cli_lifecycle as lifecycle
from controller.domain import Outcome
from controller.errors import EXIT_ERROR, EXIT_OK, EXIT_ROLLED_BACK, EXIT_USAGE, ControllerError, UsageError
from controller.event_types import ErrorEvent, GatesChecked
from controller.events import Events, JsonLines
from controller.gates import Thresholds
from controller.hooks import DEFAULT_HOOK_TIMEOUT_S
from controller.human_view import HumanView
from controller.shift_options import ShiftOptions
from controller.strategies import Policy
from controller.strategy import PRESETS, build_plan, parse_duration
from controller.user_gates import GatesFileError, load_gates

PROG = "python -m controller"
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, description="Progressive delivery for API Gateway + Lambda (blue/green slots)."
    )
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="{status,shift,approve,abort,pause,resume,promote,rollback,undo,report,gates}",
        parser_class=_Parser,
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
        "--pre-traffic",
        metavar="CMD|URL",
        help="hook: before any production traffic moves (the canary is on at 0%%); failing rolls back",
    )
    shift.add_argument(
        "--post-step", metavar="CMD|URL", help="hook: after each step passes; failing rolls back"
    )
    shift.add_argument(
        "--hook-timeout", default="10m", metavar="DURATION", help="limit for each hook (default 10m)"
    )
    lifecycle.add_shift_flags(shift)
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
    shift.add_argument(
        "--gates",
        metavar="FILE",
        help="user gates (YAML or JSON): CloudWatch metrics, metric math or alarms judged every period "
        "(docs/controller.md, examples/gates/); `gates validate FILE` checks one",
    )
    shift.add_argument(
        "--gate-alarm",
        action="append",
        default=[],
        metavar="NAME",
        help="an existing CloudWatch alarm that rolls the release back while in ALARM (repeatable)",
    )
    shift.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    lifecycle.add_commands(sub, common)
    for name, text in (
        ("promote", "make the canary's slot live now and remove the canary"),
        ("rollback", "remove the canary: production serves the live slot 100%%"),
    ):
        one_shot = sub.add_parser(name, help=text)
        common(one_shot)
        lifecycle.add_notify_flags(one_shot)
    report = sub.add_parser(
        "report", help="draw a --json event log as a chart (.png), a page (.html) or Markdown (CI summary)"
    )
    report.add_argument("events", help="the event log (JSON lines from shift --json)")
    report.add_argument("-o", "--output", help="FILE.png or FILE.html (Markdown: FILE.md, default stdout)")
    report.add_argument(
        "--format",
        choices=("auto", "markdown"),
        default="auto",
        help="auto: by the output's suffix; markdown: for $GITHUB_STEP_SUMMARY",
    )
    gates = sub.add_parser("gates", help="check a gates file for `shift --gates`")
    gates_sub = gates.add_subparsers(dest="gates_command", required=True, metavar="{validate}")
    validate = gates_sub.add_parser(
        "validate", help="print each gate, or one line per mistake (exit 2); needs no AWS access"
    )
    validate.add_argument("file", help="the gates file (YAML, or JSON when it ends in .json)")
    validate.add_argument("--json", action="store_true", help="one JSON event on stdout")
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
    user_gates = load_gates(args.gates).gates if args.gates else ()
    for name in args.gate_alarm:
        if not name.strip():
            raise UsageError("--gate-alarm needs an alarm name")
    return ShiftOptions(
        policy=policy,
        pre_traffic=args.pre_traffic,
        post_step=args.post_step,
        on_interrupt=args.on_interrupt,
        dry_run=args.dry_run,
        hook_timeout_s=hook_timeout_s,
        baseline_history_s=history_s,
        trust_history=trust_history,
        judge=not args.no_judge,
        user_gates=user_gates,
        gate_alarms=tuple(args.gate_alarm),
        **lifecycle.shift_kwargs(args),
    )


def exit_code(command: str, outcome: Outcome) -> int:
    if outcome in (Outcome.ROLLED_BACK, Outcome.UNDONE) and command == "shift":
        return EXIT_ROLLED_BACK
    if outcome in (Outcome.INTERRUPTED, Outcome.PROMOTED_HOOK_FAILED):
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
    targets = lifecycle.notify_targets(args)
    app = App.from_args(args, events, stdin)
    if targets:
        app.notify(targets, args.notify_level, args.report_url)
    if args.command in lifecycle.REQUEST_COMMANDS:
        return app.request(args.command)
    if args.command == "undo":
        return app.undo()
    if args.command == "status":
        return commands.status(app.cfg, app.stages, app.alarms, app.events)
    if args.command == "rollback":
        return commands.rollback(app.cfg, app.stages, app.deployments, app.events)
    if args.command == "promote":
        return commands.promote(
            app.cfg, app.stages, app.deployments, app.lock(ttl_s=120), app.events, app.functions
        )
    options = shift_options(args, app.cfg.metrics.period_seconds)
    with _Signals() as stop:
        return app.shift(options, stop).run()


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
        if args.command == "gates":
            return _validate_gates(args.file, events)
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
        events.emit(ErrorEvent(message=message, exit_code=code))
    print(f"error: {message}", file=sys.stderr)
    return code


def _validate_gates(path: str, events: Events) -> int:
    """Every gate of the file on a line, or every mistake on a line of its own (exit 2)."""
    try:
        gates = load_gates(path).gates
    except GatesFileError as exc:
        problems = tuple(f"{path}: {p}" for p in exc.problems)
        events.emit(GatesChecked(path=path, gates=(), problems=problems))
        return EXIT_USAGE
    lines = tuple(f"ok  {gate.describe()}" for gate in gates)
    events.emit(GatesChecked(path=path, gates=(*lines, f"{path}: {len(gates)} gate(s), valid")))
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from controller.report import ReportError, render

    markdown = args.format == "markdown" or (args.output or "").lower().endswith(".md")
    if not markdown and not args.output:
        raise UsageError("report needs -o FILE.png or FILE.html, or --format markdown")
    try:
        if markdown:
            from controller.report_markdown import markdown as to_markdown

            text = to_markdown(Path(args.events))
            if not args.output:
                sys.stdout.write(text)
                return EXIT_OK
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            render(Path(args.events), Path(args.output))
    except ReportError as exc:
        raise ControllerError(str(exc)) from None
    except OSError as exc:
        raise ControllerError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"wrote {args.output}")
    return EXIT_OK
