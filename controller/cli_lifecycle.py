"""The command line of the rollout's lifecycle: hook points, approval, guard, notifications, and the
`approve`, `abort`, `pause`, `resume` and `undo` commands (argparse only; controller/cli.py wires it in)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from controller.engine_io import CONFIRM_PROMOTION, CONFIRM_ROLLOUT, ON_ROLLBACK, POST_PROMOTION
from controller.errors import UsageError
from controller.hooks import DEFAULT_WEBHOOK_RETRIES
from controller.notify import LEVELS, NotifyTarget
from controller.shift_options import DEFAULT_APPROVAL_TIMEOUT_S, DEFAULT_GUARD_S
from controller.strategy import parse_duration

REQUEST_COMMANDS = {
    "approve": "promote a canary held for approval (shift --approval before-promotion)",
    "abort": "roll back the running shift at its next tick (undo its promotion while it guards)",
    "pause": "hold the running shift's canary at its share; gates keep judging",
    "resume": "go on with a paused shift",
}
HOOK_FLAGS = {
    CONFIRM_ROLLOUT: "before anything changes in AWS; failing stops the run, changing nothing",
    CONFIRM_PROMOTION: "before 100%% (after any approval); failing rolls back",
    POST_PROMOTION: "after the promotion (and the guard); failing is reported: exit 1, nothing undone",
    ON_ROLLBACK: "after any roll back or undo (a gate, a hook, abort, an interrupt, an AWS error)",
}


def add_notify_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--notify",
        action="append",
        default=[],
        metavar="TARGET",
        help="send decisions to slack:URL, teams:URL, webhook:URL or an SNS topic ARN (repeatable)",
    )
    p.add_argument(
        "--notify-level",
        choices=LEVELS,
        default="decisions",
        help="decisions (default: promoted, rolled back, undone, held, guard verdict, failed hook) or steps "
        "(each step too)",
    )
    p.add_argument("--report-url", metavar="URL", help="a link to the run's report, put in each notification")


def add_shift_flags(shift: argparse.ArgumentParser) -> None:
    for hook, text in HOOK_FLAGS.items():
        shift.add_argument(f"--{hook}", metavar="CMD|URL", help=f"hook: {text}")
    shift.add_argument(
        "--hook-retries",
        type=int,
        default=DEFAULT_WEBHOOK_RETRIES,
        metavar="N",
        help="a webhook hook's retries after a connection error, a timeout, 429 or 5XX (default 2)",
    )
    shift.add_argument(
        "--approval",
        choices=("none", "before-promotion"),
        default="none",
        help="before-promotion: hold the canary at its last step until `approve` (or `abort`)",
    )
    shift.add_argument(
        "--approval-timeout",
        default="1h",
        metavar="DURATION",
        help="roll back when nobody approves within this (default 1h)",
    )
    shift.add_argument(
        "--guard",
        nargs="?",
        const="10m",
        default=None,
        metavar="DURATION",
        help="after the promotion, judge the new release against the former version's 5XX rate and p99 "
        "this long, and undo the promotion on a regression (--guard alone: 10m; default: ten metric "
        "periods under --strategy adaptive, off otherwise; --guard 0: off)",
    )
    shift.add_argument(
        "--guard-slow",
        action="store_true",
        help="the guard also judges the promoted release's share of slow requests (beyond --slow-ms, by "
        "default the live version's p99 over its history) against 1.5x the former version's share beside "
        "the canary, an anytime-valid test at the slow-request test's false-rollback rate on which two "
        "periods must agree: a tail that slows 1.3x after the promotion is undone in minutes where the "
        "p99 check waits for 1.5x. Off by default: with no version left beside it, a shared dependency "
        "that slows for several minutes looks like a regression (docs/judge.md, the guard's "
        "slow-request test)",
    )
    shift.add_argument(
        "--guard-keep",
        default="0",
        metavar="PERCENT",
        help="while guarding, keep this share of production on the former version (the stage's canary, "
        "pointed at the former slot; 0.1-50) and judge the promoted release's slow requests against the "
        "former version's in the same periods, the judge's split test: a shared slowdown cancels, a tail "
        "that slows after the promotion shows. The share goes when the guard ends; an undo takes it back "
        "in the same stage update (default 0: the release takes all of production at once)",
    )
    add_notify_flags(shift)


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    for name, text in REQUEST_COMMANDS.items():
        p = sub.add_parser(name, help=text)
        common(p)
        add_notify_flags(p)
    undo = sub.add_parser(
        "undo",
        help="put production back on the former live slot after a promotion, in one stage update "
        "(refused if that slot's code or configuration changed since)",
    )
    common(undo)
    add_notify_flags(undo)


def shift_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """ShiftOptions fields from the lifecycle flags, validated before any AWS call."""
    for hook in HOOK_FLAGS:
        target = getattr(args, hook.replace("-", "_"))
        if target is not None and not target.strip():
            raise UsageError(f"--{hook} needs a command or an http(s) URL")
    if args.hook_retries < 0 or args.hook_retries > 10:
        raise UsageError("--hook-retries must be between 0 and 10")
    approval_timeout = parse_duration(args.approval_timeout, "--approval-timeout")
    if approval_timeout <= 0:
        raise UsageError("--approval-timeout must be more than 0s")
    guard = None  # the default: decided with the strategy (controller.cli.shift_options)
    if args.guard is not None:
        guard = parse_duration(args.guard, "--guard") if args.guard not in ("0", "") else 0.0
        if guard < 0:
            raise UsageError("--guard must be 0 (off) or a duration")
    return {
        "guard_keep_percent": _keep_percent(args.guard_keep),
        "confirm_rollout": args.confirm_rollout,
        "confirm_promotion": args.confirm_promotion,
        "post_promotion": args.post_promotion,
        "on_rollback": args.on_rollback,
        "hook_retries": args.hook_retries,
        "approval": args.approval == "before-promotion",
        "approval_timeout_s": approval_timeout or DEFAULT_APPROVAL_TIMEOUT_S,
        "guard_s": guard,
        "guard_slow": args.guard_slow,
    }


def _keep_percent(value: str) -> float:
    try:
        percent = float(value.strip().removesuffix("%"))
    except ValueError:
        raise UsageError(f"--guard-keep {value}: expected a percentage, e.g. 10") from None
    if percent != 0 and not 0.1 <= percent <= 50:
        raise UsageError(f"--guard-keep {value}: the former version's share must be 0 (off) or 0.1-50 %")
    return percent


def notify_targets(args: argparse.Namespace) -> tuple[NotifyTarget, ...]:
    targets = tuple(NotifyTarget.parse(t) for t in getattr(args, "notify", []) or [])
    url = getattr(args, "report_url", None)
    if url and not url.startswith(("http://", "https://")):
        raise UsageError(f"--report-url {url}: expected an http(s) URL")
    return targets


__all__ = ["DEFAULT_GUARD_S", "add_commands", "add_shift_flags", "notify_targets", "shift_kwargs"]
