"""Command line: argparse, wiring, and the one place errors become one line and an exit code."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, TextIO

from controller import cli_lifecycle as lifecycle
from controller.cli_parser import MAX_BASELINE_HISTORY_S, build_parser
from controller.domain import Outcome
from controller.errors import EXIT_ERROR, EXIT_OK, EXIT_ROLLED_BACK, EXIT_USAGE, ControllerError, UsageError
from controller.event_types import ErrorEvent, GatesChecked
from controller.events import Events, JsonLines
from controller.gates import Thresholds
from controller.hooks import DEFAULT_HOOK_TIMEOUT_S
from controller.human_view import HumanView
from controller.shift_options import JudgeMargin, ShiftOptions, default_guard_s
from controller.strategies import Policy
from controller.strategy import build_plan, parse_duration
from controller.user_gates import GatesFileError, load_gates


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
    if args.lasting_noise is not None and (history_s == 0 or args.no_judge):
        raise UsageError("--lasting-noise is the judge's, read off a --baseline-history above 0; drop it")
    if args.outliers is not None and (history_s == 0 or args.no_judge):
        raise UsageError("--outliers is the judge's, read off a --baseline-history above 0; drop it")
    min_observation_s = parse_duration(args.min_observation, "--min-observation")
    if min_observation_s and args.no_judge:
        raise UsageError("--min-observation is the judge's; drop --no-judge")
    margin = JudgeMargin.from_flags(args.regression_ratio, args.regression_increase, args.narrowest_ratio)
    if margin != JudgeMargin() and args.no_judge:
        raise UsageError(
            "--regression-ratio, --regression-increase and --narrowest-ratio are the judge's; drop --no-judge"
        )
    latency_ratio = _latency_ratio(args.latency_ratio, args.no_judge)
    latency_severe_ratio = _latency_severe_ratio(args.latency_severe_ratio, latency_ratio, args.no_judge)
    if args.fixed_margin and (args.no_judge or plan.max_duration_s is None):
        raise UsageError(
            "--fixed-margin is the adaptive judge's (fixed steps have no time limit to plan for); drop it"
        )
    if args.slow_ms is not None and args.no_judge:
        raise UsageError("--slow-ms is the judge's slow-request test; drop --no-judge")
    limit_beta = _limit_beta(args.limit_test, args.no_judge, args.fixed_margin or plan.max_duration_s is None)
    if args.fixed_margin and args.narrowest_ratio:  # given, and not 'off'
        raise UsageError("--narrowest-ratio plans the margin, which --fixed-margin turns off; drop one")
    policy = Policy(plan, thresholds, interval_s, float(period_s or 60), extension)
    user_gates = load_gates(args.gates).gates if args.gates else ()
    for name in args.gate_alarm:
        if not name.strip():
            raise UsageError("--gate-alarm needs an alarm name")
    lifecycle_options = lifecycle.shift_kwargs(args)
    if lifecycle_options["guard_s"] is None:
        lifecycle_options["guard_s"] = default_guard_s(plan.adaptive, policy.period_s)
    if args.guard_slow and (args.no_judge or args.slow_ms == 0.0 or not lifecycle_options["guard_s"]):
        raise UsageError(
            "--guard-slow judges the judge's slow requests in the guard: it needs the judge, its "
            "slow-request test (not --slow-ms off) and a guard (not --guard 0)"
        )
    keeps = lifecycle_options["guard_keep_percent"] > 0
    if keeps and (args.no_judge or args.slow_ms == 0.0 or not lifecycle_options["guard_s"]):
        raise UsageError(
            "--guard-keep judges the promoted release's slow requests against the former version's: it "
            "needs the judge, its slow-request test (not --slow-ms off) and a guard (not --guard 0)"
        )
    return ShiftOptions(
        policy=policy,
        pre_traffic=args.pre_traffic,
        post_step=args.post_step,
        on_interrupt=args.on_interrupt,
        dry_run=args.dry_run,
        hook_timeout_s=hook_timeout_s,
        baseline_history_s=history_s,
        trust_history=trust_history,
        lasting_noise=args.lasting_noise != "ignore",
        outlier_cap=args.outliers != "ignore",
        min_observation_s=min_observation_s,
        margin=margin,
        fixed_margin=args.fixed_margin,
        latency_ratio=latency_ratio,
        latency_severe_ratio=latency_severe_ratio,
        limit_beta=limit_beta,
        slow_threshold_ms=args.slow_ms or None,
        slow_test=args.slow_ms != 0.0,
        judge=not args.no_judge,
        user_gates=user_gates,
        gate_alarms=tuple(args.gate_alarm),
        **lifecycle_options,
    )


def _latency_ratio(flag: float | None, no_judge: bool) -> float:
    """`--latency-ratio` (None: the judge's default tolerance); UsageError if wrong."""
    if flag is None:
        return ShiftOptions.latency_ratio
    if no_judge:
        raise UsageError("--latency-ratio is the judge's latency check; drop --no-judge")
    if not 1 <= flag <= 100:
        raise UsageError(f"--latency-ratio {flag:g} must be at least 1 and at most 100, e.g. 1.25")
    return flag


def _latency_severe_ratio(flag: float | None, latency_ratio: float, no_judge: bool) -> float | None:
    """`--latency-severe-ratio` (None: the default, off where --latency-ratio reaches it; 0.0: "off");
    UsageError if wrong."""
    if flag is None:
        default = ShiftOptions.latency_severe_ratio
        return default if default is not None and default > latency_ratio else None
    if no_judge:
        raise UsageError("--latency-severe-ratio is the judge's latency check; drop --no-judge")
    if flag == 0.0:
        return None
    if not latency_ratio < flag <= 100:
        raise UsageError(
            f"--latency-severe-ratio {flag:g} must be above --latency-ratio ({latency_ratio:g}) and at most "
            "100, or 'off'"
        )
    return flag


def _limit_beta(flag: float | None, no_judge: bool, no_time_limit: bool) -> float | None:
    """`--limit-test` (None: the default, 0.0: "off"); UsageError where no time limit is judged."""
    if flag is None:
        return ShiftOptions.limit_beta
    if flag and (no_judge or no_time_limit):
        raise UsageError(
            "--limit-test is the adaptive judge's last look at its time limit; it needs --strategy adaptive "
            "with the judge and without --fixed-margin"
        )
    return flag or None


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
    if getattr(args, "plan", None):
        from controller import plan_cli

        with _Signals() as stop:
            return plan_cli.run(args, events, stdin, shift_options, stop)
    targets = lifecycle.notify_targets(args)
    app = App.from_args(args, events, stdin)
    if targets:
        app.notify(targets, args.notify_level, args.report_url)
    if args.command in lifecycle.REQUEST_COMMANDS:
        return app.request(args.command)
    if args.command == "undo":
        return app.undo()
    if args.command == "status":
        return commands.status(app.cfg, app.stages, app.alarms(), app.events)
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
        if args.command == "plan":
            from controller.plan_cli import validate

            return validate(args.file, events)
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
