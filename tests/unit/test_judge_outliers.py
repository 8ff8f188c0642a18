"""Noise in spikes: the judge censors each period's evidence where the live version's history shows periods
its noise model cannot explain.

Spread that comes in rare spikes (one minute in a hundred or two at several times the rate, the rest
steady) has the variance the judge's negative binomial is fitted to and a far heavier tail: one spike on the
canary reads as a regression at long odds. Where the history shows such periods, the history tests bet with
Huber's censored ratios for their share (controller/judge/outliers.py; docs/judge.md, "Noise in spikes").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np
import pytest

from controller.domain import BaselineHistory, Judgement, Verdict, WindowStats
from controller.event_types import BaselineHistoryRead, WarningEvent
from controller.events import Recorder
from controller.human_view import render
from controller.judge import Judge, JudgeConfig
from controller.judge.dispersion import DISPERSION_FLOOR, estimate_c2
from controller.judge.emath import nb_log_lr, nb_log_pmf
from controller.judge.outliers import capped, floored, log_cap, log_floor, read_outliers
from controller.rollout_setup import announce_history

RATE = 0.01
PER_MINUTE = 6000  # requests a minute: 100 req/s
SPIKE_CHANCE, SPIKE_SIZE = 0.01, 6.0
LATENCY = (0.0, 40.0, 66.0, 100.0)  # 4XX, p50, p90, p99: the same for both versions, always clean


def expectation(f: Callable[[int], float], mean: float, c2: float) -> float:
    """E f(X) for X negative binomial of this mean and c2, summed until the terms no longer count."""
    total, x = 0.0, 0
    while True:
        p = math.exp(nb_log_pmf(x, mean, c2))
        total += p * f(x)
        if x > mean and p < 1e-16:
            return total
        x += 1


def _capped_ratio(x: int, multiple: float, cap: float, mean0: float, c2: float) -> float:
    return min(math.exp(min(nb_log_lr(x, mean0, multiple, c2), 700.0)), cap)


def _floored_ratio(x: int, ratio: float, floor: float, mean0: float, c2: float) -> float:
    return max(math.exp(nb_log_lr(x, mean0, ratio, c2)), floor)


GRID = [
    (mean0, c2, share)
    for mean0 in (0.5, 5.0, 50.0, 400.0)
    for c2 in (0.0, 0.05, 0.3)
    for share in (0.003, 0.02, 0.1)
]


@pytest.mark.parametrize(("mean0", "c2", "share"), GRID)
def test_the_capped_fail_ratio_keeps_its_expectation_under_any_share_of_outliers(
    mean0: float, c2: float, share: float
) -> None:
    for multiple in (1.1, 1.5, 2.0, 4.0, 20.0):
        cap = math.exp(log_cap(mean0, multiple, c2, share))
        assert cap >= 1.0
        model = expectation(partial(_capped_ratio, multiple=multiple, cap=cap, mean0=mean0, c2=c2), mean0, c2)
        # The model's periods, and the rest at the cap (the most an outlier can add), average to 1 at most;
        # and the cap is no lower than it must be.
        assert (1 - share) * model + share * cap == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(("mean0", "c2", "share"), GRID)
def test_the_floored_pass_ratio_keeps_its_expectation_under_the_regression(
    mean0: float, c2: float, share: float
) -> None:
    for ratio in (0.1, 0.5, 0.8, 0.97):
        floor = math.exp(log_floor(mean0, ratio, c2, share))
        model = expectation(partial(_floored_ratio, ratio=ratio, floor=floor, mean0=mean0, c2=c2), mean0, c2)
        assert (1 - share) * model == pytest.approx(1.0, abs=1e-6)


def test_without_outliers_nothing_is_censored_and_the_null_side_is_never_capped() -> None:
    assert capped(50.0, 5.0, 2.0, 0.1, 0.0) == 50.0 and floored(-50.0, 5.0, 0.5, 0.1, 0.0) == -50.0
    assert capped(-3.0, 5.0, 2.0, 0.1, 0.02) == -3.0  # a period that favours the null: untouched
    assert capped(50.0, 5.0, 2.0, 0.1, 0.02) == log_cap(5.0, 2.0, 0.1, 0.02) < 5
    assert floored(-50.0, 5.0, 0.5, 0.1, 0.02) > -3


def _day(rng: np.random.Generator, spikes: bool, cv: float = 0.0) -> BaselineHistory:
    factor = rng.gamma(1 / cv**2, cv**2, 1440) if cv else np.ones(1440)
    if spikes:
        factor = factor * np.where(rng.random(1440) < SPIKE_CHANCE, SPIKE_SIZE, 1.0)
    errors = rng.poisson(PER_MINUTE * RATE * factor)
    return BaselineHistory(PER_MINUTE * 1440, int(errors.sum()), tuple((PER_MINUTE, int(k)) for k in errors))


def test_the_history_read_finds_spikes_and_not_gamma_noise_of_the_same_spread() -> None:
    rng = np.random.default_rng(41)
    for _ in range(5):
        day = _day(rng, spikes=True)
        spiky = [k > 3 * PER_MINUTE * RATE for _, k in day.per_period]
        read = read_outliers(day.per_period, DISPERSION_FLOOR)
        assert read.periods == pytest.approx(sum(spiky), abs=2)
        assert read.share > read.periods / 1440  # an upper bound on their share
    # Gamma noise whose spread is the spikes' (CV 0.5 against about 0.5): its own model, no outlier.
    reads = [read_outliers(_day(rng, spikes=False, cv=0.5).per_period, DISPERSION_FLOOR) for _ in range(10)]
    assert sum(r.periods for r in reads) <= 1
    assert read_outliers(_day(rng, spikes=True).per_period[:20], DISPERSION_FLOOR).share == 0  # too short


def test_with_the_spikes_censored_the_history_tests_read_the_other_periods_noise() -> None:
    rng = np.random.default_rng(44)
    day = _day(rng, spikes=True, cv=0.1)
    judge = Judge(JudgeConfig(), day)
    everything = estimate_c2(day.per_period, DISPERSION_FLOOR).c2
    # Steady minutes with spikes: the spikes are most of the spread, and left out of the model's.
    assert judge.outliers.bulk_c2 is not None and judge.outliers.bulk_c2 < everything / 5
    assert judge.caps_outliers and judge.history_c2 == judge.outliers.bulk_c2
    assert judge.history is not None and judge.history.c2 == judge.history_c2
    assert judge.c2 == everything  # the uncensored tests keep all of it
    ignored = Judge(JudgeConfig(outlier_cap=False), day)
    assert not ignored.caps_outliers and ignored.history_c2 == ignored.c2 == everything
    plain = Judge(JudgeConfig(), _day(rng, spikes=False, cv=0.1))
    assert not plain.caps_outliers and plain.history_c2 == plain.c2


def _rollout(seed: int, outlier_cap: bool, ratio: float) -> Judgement:
    """30 one-minute periods, a tenth of the traffic on the canary, both versions spiking as their history
    does (independently): the judgement the rollout ends on."""
    rng = np.random.default_rng(seed)
    judge = Judge(JudgeConfig(horizon_periods=30, outlier_cap=outlier_cap), _day(rng, spikes=True))
    canary_n, live_n = PER_MINUTE // 10, PER_MINUTE - PER_MINUTE // 10
    for _ in range(30):
        canary_spike = SPIKE_SIZE if rng.random() < 4 * SPIKE_CHANCE else 1.0  # more often, to be seen
        live_spike = SPIKE_SIZE if rng.random() < SPIKE_CHANCE else 1.0
        judgement = judge.observe(
            WindowStats(canary_n, int(rng.poisson(canary_n * RATE * ratio * canary_spike)), *LATENCY),
            WindowStats(live_n, int(rng.poisson(live_n * RATE * live_spike)), *LATENCY),
        )
        if judgement.verdict is not Verdict.CONTINUE:
            break
    return judgement


def test_a_spike_on_a_healthy_canary_rolls_it_back_only_when_counted_whole() -> None:
    runs = range(40)
    capped_runs = [_rollout(seed, True, 1.0) for seed in runs]
    whole = [_rollout(seed, False, 1.0) for seed in runs]
    fails = [sum(j.verdict is Verdict.FAIL for j in out) for out in (capped_runs, whole)]
    assert fails[0] == 0 and fails[1] >= 4
    assert sum(j.verdict is Verdict.PASS for j in capped_runs) >= 36
    # A 3x regression is still failed, spikes or not, and never passed.
    regressions = [_rollout(seed, True, 3.0) for seed in runs]
    assert sum(j.verdict is Verdict.FAIL for j in regressions) >= 38
    assert not [j for j in regressions if j.verdict is Verdict.PASS]


def test_the_controller_reports_the_spikes_and_what_the_judge_does_with_them() -> None:
    rng = np.random.default_rng(43)
    day = _day(rng, spikes=True)
    events = Recorder()
    judge = Judge(JudgeConfig(), day)
    announce_history(events, day, judge, 86400)
    (read,) = events.of(BaselineHistoryRead)
    assert read.outlier_periods == judge.outliers.periods > 5 and read.outliers_capped
    assert read.outlier_share == judge.outliers.share
    (warning,) = events.of(WarningEvent)
    assert f"{read.outlier_periods} of the live version's periods are 5XX spikes" in warning.message
    assert "cannot roll a healthy release back" in warning.message
    assert f"{read.outlier_periods} outlying periods (capped by the judge)" in (render(read) or "")
    ignored = Recorder()
    announce_history(ignored, day, Judge(JudgeConfig(outlier_cap=False), day), 86400)
    assert not ignored.of(BaselineHistoryRead)[0].outliers_capped
    (warning,) = ignored.of(WarningEvent)
    assert "--outliers ignore" in warning.message and "more often than its 1 % bound" in warning.message
    quiet = Recorder()
    plain = _day(rng, spikes=False, cv=0.3)
    announce_history(quiet, plain, Judge(JudgeConfig(), plain), 86400)
    assert quiet.of(BaselineHistoryRead)[0].outlier_periods == 0 and not quiet.of(WarningEvent)
    assert "outlying" not in (render(quiet.of(BaselineHistoryRead)[0]) or "")
