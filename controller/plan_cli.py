"""The command line's plan commands: `shift --plan FILE`, `status --plan FILE`, `plan validate FILE`.

The plan and every flag are checked first, then every stack's outputs are read, then AWS is called.
"""

from __future__ import annotations

import argparse
import threading
from collections import Counter
from collections.abc import Callable
from typing import TextIO

from controller import cli_lifecycle as lifecycle
from controller.aws import pacing
from controller.domain import Outcome
from controller.errors import EXIT_OK, EXIT_USAGE
from controller.events import Events, Locked
from controller.plan_events import ControlPlaneUsage, PlanChecked
from controller.plan_file import PlanFileError, load_plan
from controller.shift_options import ShiftOptions


def validate(path: str, events: Events) -> int:
    """The waves and stacks on a line each, or every mistake on a line of its own (exit 2)."""
    try:
        plan = load_plan(path)
    except PlanFileError as exc:
        events.emit(PlanChecked(path=path, lines=(), problems=tuple(f"{path}: {p}" for p in exc.problems)))
        return EXIT_USAGE
    events.emit(PlanChecked(path=path, lines=(*plan.describe(), f"{path}: valid")))
    return EXIT_OK


def run(
    args: argparse.Namespace,
    events: Events,
    stdin: TextIO,
    options_of: Callable[[argparse.Namespace, int | None], ShiftOptions],
    stop: threading.Event,
) -> Outcome:
    """`shift --plan` or `status --plan`; `options_of(args, period_s)` validates the shift flags."""
    from controller import plan_status
    from controller.plan_app import build_stacks
    from controller.wave_runner import WaveRunner

    plan = load_plan(args.plan)
    shared = Locked(events)
    targets = lifecycle.notify_targets(args)
    stacks = build_stacks(plan, shared, stdin)
    for stack in stacks:
        if targets:
            stack.app.notify(targets, args.notify_level, args.report_url)
    if args.command == "status":
        return plan_status.show(plan, stacks, shared)
    options: dict[str, ShiftOptions] = {
        s.name: options_of(args, s.cfg.metrics.period_seconds) for s in stacks
    }
    before = pacing.PACER.snapshot()

    def usage() -> ControlPlaneUsage:
        calls: Counter[str] = Counter()
        attempts: Counter[str] = Counter()
        for stack in stacks:
            calls.update(stack.app.clients.counter.calls)
            attempts.update(stack.app.clients.counter.attempts)
        after = pacing.PACER.snapshot()
        return ControlPlaneUsage(
            calls=dict(sorted(calls.items())),
            attempts=dict(sorted(attempts.items())),
            throttled=after.throttled - before.throttled,
            paced_calls=after.waited - before.waited,
            paced_wait_s=round(after.waited_s - before.waited_s, 3),
        )

    runner = WaveRunner(plan, stacks, lambda s: options[s.name], shared, stop, usage)
    return runner.dry_run() if args.dry_run else runner.run()
