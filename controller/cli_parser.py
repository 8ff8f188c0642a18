"""The command line's grammar: every command, flag and its help (the `--help` users read)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import NoReturn

from controller import cli_lifecycle as lifecycle
from controller.errors import UsageError
from controller.gates import Thresholds
from controller.judge import JudgeConfig
from controller.strategy import PRESETS

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


def _ratio_or_off(text: str) -> float:
    """A ratio above 1, or "off" (returned as 0.0)."""
    if text.strip().lower() == "off":
        return 0.0
    value = _positive(text)
    if value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 1, or 'off'")
    return value


def _ms_or_off(text: str) -> float:
    """A latency in ms above 0, or "off" (returned as 0.0)."""
    if text.strip().lower() == "off":
        return 0.0
    try:
        return _positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} must be a latency in ms above 0, or 'off'") from None


def _rate_or_off(text: str) -> float:
    """A rate above 0 and under 1 (0.005 or 0.5%), or "off" (returned as 0.0)."""
    if text.strip().lower() == "off":
        return 0.0
    value = _rate(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0 and under 1 (0.005 or 0.5%), or 'off'")
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
        dest="command",
        required=True,
        metavar="{status,shift,approve,abort,pause,resume,promote,rollback,undo,report,gates,plan}",
        parser_class=_Parser,
    )

    def common(p: argparse.ArgumentParser, plan: str = "") -> None:
        source = p.add_mutually_exclusive_group()
        source.add_argument("--tf-dir", metavar="DIR", help="read `terraform output -json` here (default: .)")
        source.add_argument(
            "--outputs", metavar="FILE|-", help="a saved `terraform output -json`, or - for stdin"
        )
        if plan:
            source.add_argument("--plan", metavar="FILE", help=plan)
        p.add_argument("--json", action="store_true", help="one JSON event per line on stdout")

    common(
        sub.add_parser("status", help="show slots, canary, lock and alarm states"),
        plan="every stack of a wave plan (YAML or JSON): its state for the current release, and the plan's "
        "phase",
    )
    shift = sub.add_parser(
        "shift", help="canary the candidate slot on production, step by step, then promote"
    )
    common(
        shift,
        plan="release many stacks in ordered waves (YAML or JSON; docs/controller.md, `plan validate FILE`): "
        "every flag below applies to each stack; a rerun resumes where the plan stopped",
    )
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
        "--max-p99-ms",
        type=_positive,
        default=None,
        metavar="N",
        help="canary p99 allowed (off by default; a metric period of fewer than 100 canary requests "
        "is judged on its p90, under 10 on its p50: there the p99 is the slowest request)",
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
        help="canary p99 allowed as a multiple of the baseline's, plus 25 ms (default 1.5; thin "
        "periods as for --max-p99-ms)",
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
        "--lasting-noise",
        choices=("carry", "ignore"),
        default=None,
        help="where the live version's history shows 5XX bursts that last several periods, the judge "
        "carries them (default: carry): each period's noise at the CV those bursts give a sum of periods, "
        "so a burst on one version is not read as a regression, and a pass margin that widens past "
        "2x where the noise leaves too few independent looks before the time limit (a regression under it "
        "can then pass; each judgement reports the margin). 'ignore' takes periods as independent, as "
        "before: 2x stays the widest margin, and lasting bursts can roll back more than 1 %% of healthy "
        "releases (docs/judge.md, noise that lasts)",
    )
    shift.add_argument(
        "--outliers",
        choices=("cap", "ignore"),
        default=None,
        help="where the live version's history shows periods its noise model cannot explain (5XX spikes: "
        "a minute far beyond its neighbours' rate, one in a hundred), the judge, and the guard after the "
        "promotion, cap each period's evidence against the new release for their share (default: cap), so "
        "one spike cannot roll back or undo a healthy release; a regression still fails, a few periods "
        "later at most. 'ignore' counts every period whole, as before: spikes can roll back more than 1 %% "
        "of healthy releases (docs/judge.md, noise in spikes)",
    )
    shift.add_argument(
        "--min-observation",
        default="0",
        metavar="DURATION",
        help="the judge passes a canary only after watching it this long, and restarts its bets in each "
        "period of it: 10m catches a release that turns bad up to ten minutes in, at the price of slower "
        "promotions (default 0: two metric periods; adaptive strategy; docs/judge.md, the trade-off curve)",
    )
    shift.add_argument(
        "--regression-ratio",
        type=_positive,
        default=None,
        metavar="X",
        help="the smallest canary/baseline 5XX ratio the judge must not pass (default 1.5)",
    )
    shift.add_argument(
        "--regression-increase",
        type=_rate,
        default=None,
        metavar="R",
        help="the smallest rise of the canary's 5XX rate over the baseline's the judge must not pass, "
        "whatever the ratio: 0.001 or 0.1%% (default 0.5%%). Smaller catches doublings of a low error "
        "rate and takes longer to pass a healthy release (docs/judge.md, the absolute margin)",
    )
    shift.add_argument(
        "--narrowest-ratio",
        type=_ratio_or_off,
        default=None,
        metavar="X",
        help="where the traffic left before the time limit resolves it, the adaptive judge holds the canary "
        "to a margin narrower than --regression-ratio/--regression-increase, as narrow as this ratio (with "
        "a baseline history), and only as far as the baseline's own counts show today's rate leaves a "
        "healthy canary room (default 1.3 with the default margin, which catches a busy service's 1.3x "
        "regressions at the price of somewhat slower promotions; with --regression-ratio or "
        "--regression-increase given, never narrower than them unless this is given too). 'off' never "
        "narrows below the margin (docs/judge.md, narrower where the traffic allows)",
    )
    shift.add_argument(
        "--latency-ratio",
        type=_positive,
        default=None,
        metavar="X",
        help="the judge's latency check: a metric period breaches where the canary's p50, p90 or p99 is "
        "above X times the baseline's plus 5 ms, and two breaching periods in a row roll back (one above "
        "--latency-severe-ratio at once) (default 1.25). 1.15 rolls a busy service's 1.2-1.3x slower tail "
        "back sooner and more surely, at the price of false rollbacks where a period holds a few hundred "
        "canary requests (docs/judge.md, the latency check's tolerance)",
    )
    shift.add_argument(
        "--latency-severe-ratio",
        type=_ratio_or_off,
        default=None,
        metavar="X",
        help="the latency check's one-period limit: a judged percentile above X times the baseline's plus "
        "5 ms rolls back at once, without a second breaching period (default 1.55, chosen on the "
        "benchmark's tuning split; off where --latency-ratio is at or above it). Must be above "
        "--latency-ratio; 'off' waits for two breaching periods whatever the breach (docs/judge.md, the "
        "latency check's one-period limit)",
    )
    shift.add_argument(
        "--slow-ms",
        type=_ms_or_off,
        default=None,
        metavar="MS|off",
        help="latency above which a request counts as slow for the judge's slow-request test, which fails a "
        f"canary whose share of slow requests is beyond {1 + JudgeConfig.latency_slow_tolerance:g}x the live "
        "version's in the same metric periods, an anytime-valid test at a false-rollback rate of "
        f"{JudgeConfig.latency_slow_alpha:g} (default: the live version's p99 over the "
        "--baseline-history window, rounded up to a whole ms; without either, or with 'off', the judge's "
        "latency check runs on percentiles alone)",
    )
    shift.add_argument(
        "--limit-test",
        type=_rate_or_off,
        default=None,
        metavar="RATE",
        help="at the time limit (--bake), a release the adaptive judge has not decided gets one fixed-sample "
        "test of 'it is a regression at the margin', and is promoted if that test rejects it at RATE: a "
        "regression at the margin is then promoted at most 1%% + RATE of the time (default 0.005, half the "
        "judge's missed-regression rate). 'off' rolls every undecided release back (docs/judge.md, the time "
        "limit's last look)",
    )
    shift.add_argument(
        "--fixed-margin",
        action="store_true",
        help="judge exactly the --regression-ratio/--regression-increase margin. By default the adaptive "
        "judge plans its margin for the time limit (--bake): it narrows it (as far as 1.3x by default, "
        "--narrowest-ratio) where the traffic left resolves that, widens the ratio, at most to 2x, where "
        "the traffic left cannot resolve it, and holds the canary to 2x instead of a wider absolute "
        "increase where the traffic resolves 2x, or to the narrowest ratio between the two that it resolves "
        "(a low error rate: slower promotions, doublings caught; docs/judge.md, the time limit and the pass "
        "margin)",
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
    plan = sub.add_parser("plan", help="check a wave plan for `shift --plan`")
    plan_sub = plan.add_subparsers(dest="plan_command", required=True, metavar="{validate}")
    check = plan_sub.add_parser(
        "validate",
        help="print the waves and stacks, or one line per mistake (exit 2); reads no outputs, calls no AWS",
    )
    check.add_argument("file", help="the plan (YAML, or JSON when it ends in .json)")
    check.add_argument("--json", action="store_true", help="one JSON event on stdout")
    return parser


MAX_BASELINE_HISTORY_S = 14 * 24 * 3600.0  # one GetMetricData call, even at one-minute periods
