"""The post-promotion guard's test: is the promoted release's 5XX rate above the former version's?

After a promotion there is no concurrent baseline any more: production serves the new release alone. The
guard compares it with a fixed reference, the former live version's rate before the rollout (its CloudWatch
history, or what it served during the rollout when no history was read). One-sample and anytime-valid: the
test is read after every period and may stop at any of them, so its evidence is an e-process, not a p-value.

    H0: p <= allowed, where allowed = max(ratio x r0, r0 + floor), capped at max_rate,
    r0 = max(upper(p0), today)

`upper(p0)` is a one-sided ~97.5 % upper bound of the reference rate (a short history is uncertain evidence,
so it is widened, not trusted as exact). `today` is the former version's own rate during the rollout, the
concurrent baseline the judge compared the canary with: a service whose rate rose since its history is
held to today's rate, not to the day before's, so the rise alone cannot undo a healthy release. `ratio` is
the judge's margin when the judge ran (`--regression-ratio`, 1.5x by default: the guard allows what the
judge would have let pass, at most the `--max-5xx-ratio` gate's), else the gate's ratio. For each
alternative q_k = allowed x m_k the likelihood ratio of the periods seen so far is a nonnegative
supermartingale under H0, their average is one too, and by Ville's inequality it reaches 1/alpha with
probability at most alpha, however long the guard watches.

A release promoted healthy that turns bad several minutes into the guard (a cache expires, a pool runs dry)
must not first win back what the healthy minutes cost every bet: each bet restarts at every period of the
guard, the prior spread evenly over its periods (`GuardSettings.periods`; controller/judge/onset.py's
Shiryaev-Roberts mixture, as the judge restarts its bets under `--min-observation`). The weights sum to
one, so the mixture is an e-process and the bound above holds; a rise from the guard's first period pays
ln(periods) nats for it (2.3 over the default ten), one from period s pays that instead of the s healthy
periods before it. On the benchmark's tuning split this undid 25.0 % of the late regressions a ten-period
guard sees, against 20.1 % for bets from the first period alone, at 15 % fewer failed requests, and no
healthy release (docs/judge.md, late regressions).

A service's per-minute error rate varies more than binomial noise (bursts, a dependency's hiccups), and a
binomial likelihood reads a burst as evidence: on the benchmark's bursty and overdispersed worlds, at an
allowed rise of 1.25x, it undid up to 11.6 % of healthy releases. So each period's errors are modelled
as the judge models them, negative binomial (Poisson at rate n x p x Z, Z a mean-1 gamma factor of squared
CV c2), with c2 the judge's
estimate from the live version's per-minute history (`controller/judge/dispersion.py`, used at its upper
bound, at least a CV of 5 %). The ratio NB(x; n q) / NB(x; n a) increases in x, so its expectation is
largest at p = a; and x -> t^x being convex, it is largest under the most dispersed counts allowed: at most
1 whenever p <= a and the noise is at most c2. With c2 = 0 it is the binomial ratio (its expectation per
request p q/a + (1-p)(1-q)/(1-a) <= 1). Where the history shows spikes that no such noise explains, the
guard censors them as the judge's history tests do (`controller/judge/noise.py`, `--outliers cap`), since
it too holds one version against a fixed reference: each period's ratio is capped for their share as
Huber's robust test caps it (`controller/judge/outliers.py`), and c2 is the other minutes', so that one
spike after a promotion cannot undo a healthy release however far it reaches, and the steady minutes are
read with their own noise. Capped ratios keep the expectation at most 1, and Ville's bound holds as
before. Like the judge's, the model takes each minute's noise as its own where bursts last several
minutes: carrying the lasting scale's c2 as the judge does (`--lasting-noise carry`) leaves ten minutes of
guard about two independent looks, and on the benchmark's lasting bursts it cost 1.3-5.8 points of 2-5x
detection to spare at most 0.75 % of healthy releases an undo (docs/judge.md, "Noise that lasts").

Latency is a plain check: the guard window's p99 (request-weighted over its periods, the slowest period left
out) above the former version's p99 x `p99_ratio` + 25 ms, once `min_requests` have been served, fails the
release too. The former version's p99 is the higher of its day's (read with the history) and what it served
beside the canary (the engine's reference), as its rate is the higher of the two: a few minutes beside the
canary that fell in a lull of a slow dependency read a tail faster than the service's usual one, and the
promoted release's next slow spell alone would cross that limit. The slowest period is left out for the reason
each period's ratio is capped above: after the promotion no other version serves beside the release, so a
minute in which a slow dependency slowed every version looks like a regression, and with it counted one such
minute early in the guard undid 1-6 % of healthy releases (docs/judge.md, "Latency shocks both versions
share"). A slower release stays slower in the next period, and two periods over the limit fail it. With
`slow_alpha` set (`shift --guard-slow`) the promoted release's share of slow requests is judged as well, a
one-sample e-process against the former version's share beside the canary (controller/guard_slow.py). With
`keep_percent` set (`shift --guard-keep`) the former version serves that share of production beside the
release while the guard watches, and the judge's split test on slow requests reads the two in the same
periods (controller/guard_split.py), where a shared slowdown cancels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from controller.domain import BaselineHistory, WindowStats
from controller.gates import Thresholds
from controller.guard_slow import GuardSlowTest
from controller.guard_split import GuardSplitTest
from controller.judge.config import JudgeConfig
from controller.judge.emath import nb_log_lr, upper_rate
from controller.judge.noise import HistoryReads, read_noise
from controller.judge.onset import EvenlyRestartedBets
from controller.judge.outliers import capped
from controller.stats import combine, tail_latency

ALTERNATIVES = (1.5, 2.0, 3.0, 5.0, 10.0)  # multiples of the allowed rate the mixture bets on
P99_SLACK_MS = 25.0


@dataclass(frozen=True)
class GuardSettings:
    alpha: float = 0.01  # the chance of undoing a release that is no worse than allowed
    ratio: float = 2.0  # the new rate may be this multiple of the former one (the --max-5xx-ratio gate's)
    floor: float = 0.001  # and at least this much above it (a former rate of 0 allows 0.1 %)
    max_rate: float = 0.05  # never more than this (the --max-5xx-rate gate's)
    p99_ratio: float | None = 1.5  # None: no latency check
    min_requests: int = 50
    # --guard-slow: the slow-request test's false-undo rate (None: off) and how many times the former
    # version's share of slow requests the promoted release may serve, less one (the judge's slow test's)
    slow_alpha: float | None = None
    slow_tolerance: float = 0.5
    periods: int = 10  # the guard's length in metric periods (its bets' restarts are spread over them)
    keep_percent: float = 0.0  # --guard-keep: the former version's share beside the release (0: none)


@dataclass(frozen=True)
class GuardResult:
    failed: bool
    reason: str
    e_value: float
    window: WindowStats


class GuardTest:
    def __init__(
        self,
        reference: WindowStats,
        settings: GuardSettings | None = None,
        noise_c2: float = 0.0,
        today: WindowStats | None = None,
        outlier_share: float = 0.0,
        slow: GuardSlowTest | None = None,
        split: GuardSplitTest | None = None,
    ) -> None:
        """`noise_c2`: the squared CV of the per-period error rate beyond binomial noise (0: binomial);
        `today`: what the former version served during the rollout (None: not known); `outlier_share`: the
        share of periods that may be anything (spikes), for which each period's ratio is capped (0: none;
        with `noise_c2` only); `slow`: the slow-request test (None: not run); `split`: the split test
        against the former version kept beside the release (None: not run)."""
        self.settings = s = settings or GuardSettings()
        self.slow = slow
        self.split = split
        self.reference = reference
        self.noise_c2 = noise_c2
        self.outlier_share = outlier_share
        upper = upper_rate(reference.requests, reference.errors_5xx)
        if upper is not None and today is not None and today.error_rate is not None:
            upper = max(upper, today.error_rate)
        allowed = s.max_rate if upper is None else max(s.ratio * upper, upper + s.floor)
        self.allowed = min(allowed, s.max_rate)
        self._alternatives = tuple(min(self.allowed * m, 0.999) for m in ALTERNATIVES)
        self._bets = EvenlyRestartedBets(len(self._alternatives), s.periods)
        self.periods: list[WindowStats] = []

    @property
    def e_value(self) -> float:
        return self._bets.e_value

    def observe(self, period: WindowStats, beside: WindowStats | None = None) -> GuardResult:
        """One settled period of the promoted release's traffic; `beside`: the former version's in the same
        period, where it kept a share of production (`--guard-keep`)."""
        a, n, x = self.allowed, period.requests, period.errors_5xx
        log_lrs = [0.0] * len(self._alternatives)
        if n > 0 and 0 < a < 1:
            for k, q in enumerate(self._alternatives):
                if q <= a:
                    continue
                if self.noise_c2 > 0:
                    log_lr = nb_log_lr(x, n * a, q / a, self.noise_c2)
                    log_lrs[k] = capped(log_lr, n * a, q / a, self.noise_c2, self.outlier_share)
                else:
                    log_lrs[k] = x * math.log(q / a) + (n - x) * math.log((1 - q) / (1 - a))
        self._bets.add(log_lrs)
        self.periods.append(period)
        window = combine(self.periods)
        e_value, s = self.e_value, self.settings
        rate = window.error_rate
        shown = "no requests yet" if rate is None else f"5XX {rate:.2%} of {window.requests}"
        if e_value >= 1 / s.alpha:
            return GuardResult(
                True,
                f"5XX rate above the allowed {a:.2%} ({shown}; e-value {e_value:.0f} >= {1 / s.alpha:.0f})",
                e_value,
                window,
            )
        if self.slow is not None and period.slow_requests is not None:
            self.slow.observe(period.requests, period.slow_requests)
            if self.slow.failed:
                return GuardResult(True, self.slow.reason(), e_value, window)
        slow = self._slow(window)
        if slow:
            return GuardResult(True, slow, e_value, window)
        if self.split is not None and beside is not None:
            split = self.split.observe(period, beside)
            if split:
                return GuardResult(True, split, e_value, window)
        return GuardResult(False, f"{shown}, allowed {a:.2%}, e-value {e_value:.2f}", e_value, window)

    @property
    def p99_limit_ms(self) -> float | None:
        """The p99 the promoted release may serve (None: no latency check, or no reference p99)."""
        ratio, ref = self.settings.p99_ratio, self.reference.p99_ms
        return None if ratio is None or ref is None else ref * ratio + P99_SLACK_MS

    def _slow(self, window: WindowStats) -> str:
        s, ref, limit = self.settings, self.reference.p99_ms, self.p99_limit_ms
        if limit is None or ref is None or window.requests < s.min_requests:
            return ""
        tail = tail_latency(without_slowest(self.periods))
        if tail is not None and tail.ms > limit:
            return (
                f"{tail.describe()} above {limit:.0f} ms (the former version's p99 {ref:.0f} ms; "
                "the slowest period left out)"
            )
        return ""


def without_slowest(periods: Sequence[WindowStats]) -> list[WindowStats]:
    """The periods but the one whose tail reads slowest (none while fewer than two periods have one): no
    single period fails the guard's latency check."""
    read = [(tail.ms, i) for i, p in enumerate(periods) if (tail := tail_latency([p])) is not None]
    if len(read) < 2:
        return []
    _, slowest = max(read)
    return [p for i, p in enumerate(periods) if i != slowest]


def guard_settings(
    thresholds: Thresholds,
    judge_ratio: float | None = None,
    slow: JudgeConfig | None = None,
    periods: int = 10,
    keep_percent: float = 0.0,
) -> GuardSettings:
    """The guard a `shift` with these gate thresholds runs for `periods` metric periods: the same ceiling
    and minimum traffic, and the judge's margin `judge_ratio` (None: no judge) or the gate's ratio,
    whichever is stricter; with `slow` (`--guard-slow`) the slow-request test at that judge configuration's
    level and tolerance; `keep_percent` (`--guard-keep`): the former version's share beside the release."""
    ratio = thresholds.max_5xx_ratio if judge_ratio is None else min(judge_ratio, thresholds.max_5xx_ratio)
    return GuardSettings(
        ratio=ratio,
        max_rate=thresholds.max_5xx_rate,
        p99_ratio=thresholds.max_p99_ratio,
        min_requests=thresholds.min_requests,
        slow_alpha=None if slow is None else slow.latency_slow_alpha,
        slow_tolerance=JudgeConfig.latency_slow_tolerance if slow is None else slow.latency_slow_tolerance,
        periods=max(1, periods),
        keep_percent=keep_percent,
    )


class GuardFactory(Protocol):
    """Builds the guard when a release is promoted: `reference` is the former version before the rollout,
    `today` what it served beside the canary, `beside` the same per judged period (oldest first)."""

    def __call__(
        self, reference: WindowStats, today: WindowStats | None = None, beside: Sequence[WindowStats] = ()
    ) -> GuardTest: ...


def guard_factory(
    settings: GuardSettings,
    history: BaselineHistory | None,
    judge_config: JudgeConfig | None = None,
    reads: HistoryReads | None = None,
) -> GuardFactory:
    """The engine's guard for a rollout whose live version's history is `history` (None: not read), with the
    noise read off that history as the judge with `judge_config` (default: `JudgeConfig()`) reads it for
    its history tests: the per-period c2 (the floor without a history) and, where spikes show
    (`outlier_cap`), their share, censored as the history's fail test censors them, with the other
    periods' c2. Per period even where the noise lasts (see the module docstring). `reads`: the judge's reads
    of the same history (`Judge.noise.reads`), so that the guard does not read that day a second time."""
    # The guard models the noise whatever the judge does (JudgeConfig.overdispersion is the judge's), and
    # per period (JudgeConfig.lasting_noise is the judge's).
    config = replace(judge_config or JudgeConfig(), overdispersion=True, lasting_noise=False)

    def guard(
        reference: WindowStats, today: WindowStats | None = None, beside: Sequence[WindowStats] = ()
    ) -> GuardTest:
        # Read when the guard starts, after a promotion: a rollout without one pays nothing for it.
        periods = history.per_period if history is not None else ()
        noise = read_noise(config, periods, history is not None, reads)
        slow = None
        if settings.slow_alpha is not None:
            floor = config.dispersion_floor
            alpha, tolerance = settings.slow_alpha, settings.slow_tolerance
            slow = GuardSlowTest.beside(beside, alpha, tolerance, floor, settings.periods)
        split = GuardSplitTest.of(judge_config, settings.periods) if settings.keep_percent > 0 else None
        return GuardTest(reference, settings, noise.history_c2, today, noise.outlier_share, slow, split)

    return guard
