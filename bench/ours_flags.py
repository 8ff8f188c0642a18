"""Ours under a user's judge flags: the family run with `shift` flags, read by the controller's own parser.

`python -m bench --only family --ours-flags '--latency-ratio 1.15'` scores the judge a user gets from
`python -m controller shift --strategy adaptive --latency-ratio 1.15`: the flags go through the CLI's parser
and `shift_options`, and `ShiftOptions.judge_config()` is the judge's configuration, so an option's figures
in docs/judge.md come from the same code path as the command. Only the judge's flags, `--guard`,
`--guard-slow` and `--guard-keep` are taken; the rest of a `shift` (steps, hooks, gates, notifications) has no
meaning in the simulated world.
"""

from __future__ import annotations

import contextlib
import io
import shlex
from dataclasses import dataclass, replace

from controller.cli import shift_options
from controller.cli_parser import build_parser
from controller.errors import UsageError
from controller.judge import JudgeConfig

# The flags that change ours in the simulated world. `--fixed-margin` is left out: the bench plans the
# margin for its own 30-minute horizon (bench.ours.JUDGE_HORIZON_S), which a fixed margin would undo.
JUDGE_FLAGS = (
    "--latency-ratio",
    "--latency-severe-ratio",
    "--slow-ms",
    "--lasting-noise",
    "--outliers",
    "--limit-test",
    "--narrowest-ratio",
    "--regression-ratio",
    "--regression-increase",
    "--min-observation",
    "--no-trust-baseline-history",
    "--guard",
    "--guard-slow",
    "--guard-keep",
)


class OursFlagsError(ValueError):
    """The flags are not judge flags of `shift`, or `shift` would refuse them."""


@dataclass(frozen=True)
class OursOptions:
    judge_config: JudgeConfig
    guard_s: float  # `--guard` (or its default): watch a promoted release this long (bench.ours.Ours.guard_s)
    guard_slow: bool = False  # `--guard-slow`: the guard judges slow requests too (Ours.guard_slow)
    guard_keep_percent: float = 0.0  # `--guard-keep`: the former version's share while guarding


def ours_from_flags(flags: str, period_s: int) -> OursOptions:
    """What `shift --strategy adaptive FLAGS` runs: its judge configuration, with the time limit left for
    the bench to plan (its horizon), and its guard; OursFlagsError with a one-line reason if a flag is not
    one of JUDGE_FLAGS or `shift` would refuse it."""
    argv = shlex.split(flags)
    for word in argv:
        name = word.split("=", 1)[0]
        if name.startswith("--") and name not in JUDGE_FLAGS:
            raise OursFlagsError(
                f"--ours-flags takes the judge's flags only ({', '.join(JUDGE_FLAGS)}), not {name}"
            )
    complaint = io.StringIO()
    try:
        with contextlib.redirect_stderr(complaint):  # argparse prints its usage and exits; keep its last line
            args = build_parser().parse_args(["shift", "--strategy", "adaptive", *argv])
        options = shift_options(args, period_s)
    except UsageError as exc:
        raise OursFlagsError(f"--ours-flags: {exc}") from None
    except SystemExit:
        reason = (complaint.getvalue().strip().splitlines() or ["not understood"])[-1]
        raise OursFlagsError(f"--ours-flags {flags!r}: {reason.split('error: ', 1)[-1]}") from None
    if options.slow_threshold_ms is not None:
        # The simulated world counts requests beyond the live version's p99, the threshold `shift` takes
        # from a history by default; another threshold would need another world.
        raise OursFlagsError(
            "--ours-flags: the bench's slow requests are those beyond the live p99; --slow-ms off only"
        )
    return OursOptions(
        replace(options.judge_config(), horizon_periods=None),
        options.guard_s,
        options.guard_slow,
        options.guard_keep_percent,
    )
