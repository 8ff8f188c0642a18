"""The post-promotion guard under per-minute noise: it reads the live version's noise off its history."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from controller.domain import BaselineHistory, WindowStats
from controller.gates import Thresholds
from controller.guard import GuardSettings, GuardTest, guard_factory, guard_settings, upper_rate
from controller.judge import Judge, JudgeConfig
from controller.judge.dispersion import DISPERSION_FLOOR

RATE, REQUESTS, CV = 0.005, 6000, 0.5  # 0.5 % errors, 100 requests/s, per-minute CV 0.5
TIGHT = GuardSettings(ratio=1.25)  # a user's --max-5xx-ratio 1.25
GuardMaker = Callable[[BaselineHistory], Callable[[WindowStats, WindowStats | None], GuardTest]]


def _history(rng: np.random.Generator, cv: float) -> BaselineHistory:
    """A day of the live version, one point a minute, with per-minute noise of CV `cv`."""
    z = rng.gamma(1 / cv**2, cv**2, 1440) if cv else np.ones(1440)
    errors = rng.poisson(REQUESTS * RATE * z)
    periods = tuple((REQUESTS, int(k)) for k in errors)
    return BaselineHistory(REQUESTS * 1440, int(errors.sum()), periods)


def _undone_share(make: GuardMaker, rng: np.random.Generator, rate: float, days: int = 300) -> float:
    """The share of healthy releases (today's rate `rate`, the same noise) a 10-minute guard undoes."""
    undone = 0
    for _ in range(days):
        history = _history(rng, CV)
        guard = make(history)
        reference = WindowStats(history.requests, history.errors_5xx)
        test = guard(reference)
        for k in rng.poisson(REQUESTS * rate * rng.gamma(1 / CV**2, CV**2, 10)):
            if test.observe(WindowStats(REQUESTS, int(k))).failed:
                undone += 1
                break
    return undone / days


def test_a_binomial_guard_undoes_healthy_bursty_releases_and_the_noise_aware_one_keeps_its_alpha() -> None:
    # Today's rate sits at the allowed rate's edge (1.2x the history's, under the 1.25x allowed): the null.
    def blind(history: BaselineHistory) -> Callable[[WindowStats, WindowStats | None], GuardTest]:
        return lambda reference, today=None: GuardTest(reference, TIGHT, 0.0, today)

    binomial = _undone_share(blind, np.random.default_rng(1), 0.006)
    aware = _undone_share(lambda h: guard_factory(TIGHT, h), np.random.default_rng(1), 0.006)
    assert binomial > 0.05  # bursts read as evidence
    assert aware <= TIGHT.alpha * 2  # alpha = 1 %, within sampling error on 300 days


@pytest.mark.parametrize(("cv", "ratio"), [(0.0, 3.0), (0.5, 5.0)])
def test_the_noise_aware_guard_still_undoes_a_release_several_times_worse_within_ten_minutes(
    cv: float, ratio: float
) -> None:
    # Noise costs power: at CV 0.5 a 3x release is undone in 10 minutes about a quarter of the time (the
    # binomial guard: 94 %, at the price above; not asserted here), 5x nearly always; without noise 3x
    # within two minutes.
    rng = np.random.default_rng(2)
    caught = 0
    for _ in range(100):
        history = _history(rng, cv)
        test = guard_factory(GuardSettings(), history)(WindowStats(history.requests, history.errors_5xx))
        z = rng.gamma(1 / cv**2, cv**2, 10) if cv else np.ones(10)
        errors = rng.poisson(REQUESTS * RATE * ratio * z)
        caught += any(test.observe(WindowStats(REQUESTS, int(k))).failed for k in errors)
    assert caught >= 90


def test_the_guard_reads_the_noise_the_judge_reads_and_the_floor_without_history() -> None:
    rng = np.random.default_rng(3)
    bursty, steady = _history(rng, CV), _history(rng, 0.0)
    noisy = guard_factory(GuardSettings(), bursty)(WindowStats(1000, 5))
    calm = guard_factory(GuardSettings(), steady)(WindowStats(1000, 5))
    blind = guard_factory(GuardSettings(), None)(WindowStats(1000, 5))
    assert noisy.noise_c2 == Judge(JudgeConfig(), bursty).c2 > 0.15
    assert calm.noise_c2 == Judge(JudgeConfig(), steady).c2 < 0.15
    assert blind.noise_c2 == pytest.approx(DISPERSION_FLOOR)


def test_the_guard_runs_the_gates_ratio_ceiling_and_minimum_traffic() -> None:
    t = Thresholds(max_5xx_rate=0.2, max_5xx_ratio=1.5, max_p99_ratio=2.0, min_requests=80)
    s = guard_settings(t)
    assert (s.ratio, s.max_rate, s.p99_ratio, s.min_requests) == (1.5, 0.2, 2.0, 80)


def test_the_guard_allows_the_judges_margin_when_the_judge_ran_and_never_more_than_the_gate() -> None:
    t = Thresholds(max_5xx_ratio=2.0)
    assert guard_settings(t, judge_ratio=1.5).ratio == 1.5
    assert guard_settings(t, judge_ratio=3.0).ratio == 2.0  # the gate's is stricter
    assert guard_settings(t).ratio == 2.0  # no judge: the gate's


def test_a_baseline_that_rose_since_its_history_raises_what_the_guard_allows() -> None:
    history = WindowStats(1_440_000, 7_200)  # 0.5 % over the day before
    settings = GuardSettings(ratio=1.5)
    usual = GuardTest(history, settings, today=WindowStats(20_000, 100))  # 0.5 % beside the canary too
    risen = GuardTest(history, settings, today=WindowStats(20_000, 140))  # 0.7 % today
    assert usual.allowed == pytest.approx(1.5 * upper_rate(1_440_000, 7_200))  # the history's upper bound
    assert risen.allowed == pytest.approx(1.5 * 0.007)  # today's rate, above the history's bound
    # A release serving today's 0.7 % is no regression: the guard holds it to today's rate and keeps it.
    for _ in range(10):
        assert not risen.observe(WindowStats(6_000, 42)).failed
    assert not GuardTest(history, settings, today=WindowStats(0, 0)).allowed > usual.allowed


# Noise in spikes and noise that lasts: the guard reads the noise as the judge's history tests read it.
SPIKE_CHANCE, SPIKE_CV = 0.005, 0.5  # one minute in 200 at about 8x the level, the rest a little under it
SPIKE_HIGH = 1 + SPIKE_CV * ((1 - SPIKE_CHANCE) / SPIKE_CHANCE) ** 0.5
SPIKE_LOW = 1 - SPIKE_CV * (SPIKE_CHANCE / (1 - SPIKE_CHANCE)) ** 0.5
SPIKY_RATE = 0.02
MARGIN = GuardSettings(ratio=1.5)  # the judge's default margin, which the guard allows after it


def _spike_factors(rng: np.random.Generator, minutes: int) -> np.ndarray:
    return np.where(rng.random(minutes) < SPIKE_CHANCE, SPIKE_HIGH, SPIKE_LOW)


def _spiky_day(rng: np.random.Generator) -> BaselineHistory:
    errors = rng.poisson(REQUESTS * SPIKY_RATE * _spike_factors(rng, 1440))
    return BaselineHistory(REQUESTS * 1440, int(errors.sum()), tuple((REQUESTS, int(k)) for k in errors))


def _undone_under_spikes(config: JudgeConfig, ratio: float, days: int, seed: int) -> int:
    """Releases at `ratio` times the live rate, with the same spikes, that a 10-minute guard undoes."""
    rng = np.random.default_rng(seed)
    undone = 0
    for _ in range(days):
        history = _spiky_day(rng)
        test = guard_factory(MARGIN, history, config)(WindowStats(history.requests, history.errors_5xx))
        for k in rng.poisson(REQUESTS * SPIKY_RATE * ratio * _spike_factors(rng, 10)):
            if test.observe(WindowStats(REQUESTS, int(k))).failed:
                undone += 1
                break
    return undone


def test_the_guard_censors_spikes_with_the_other_minutes_noise_as_the_judges_history_tests_do() -> None:
    history = _spiky_day(np.random.default_rng(4))
    judge = Judge(JudgeConfig(), history)
    censored = guard_factory(MARGIN, history)(WindowStats(history.requests, history.errors_5xx))
    whole = guard_factory(MARGIN, history, JudgeConfig(outlier_cap=False))(WindowStats(1000, 20))
    assert judge.caps_outliers and censored.outlier_share == judge.noise.outlier_share > 0
    assert censored.noise_c2 == judge.history_c2 < judge.c2 / 4  # the steady minutes' noise, not the spikes'
    assert whole.outlier_share == 0 and whole.noise_c2 == judge.c2


def test_under_spikes_the_censored_guard_keeps_alpha_and_catches_a_doubling_the_whole_count_misses() -> None:
    # All-minute noise, fitted to the spikes' variance, is a wide yardstick for the steady minutes: a 2x
    # release hides in it. Censored, the guard measures the steady minutes with their own noise, and one
    # spike cannot undo a healthy release (its ratio is capped).
    healthy = _undone_under_spikes(JudgeConfig(), 1.0, 300, 5)
    caught = _undone_under_spikes(JudgeConfig(), 2.0, 60, 6)
    missed_whole = _undone_under_spikes(JudgeConfig(outlier_cap=False), 2.0, 60, 6)
    assert healthy <= 6  # alpha = 1 %: at most 2 % of 300 days, within sampling error
    assert caught >= 50 and missed_whole <= 20


def test_where_the_noise_lasts_the_guard_still_reads_it_per_minute() -> None:
    # Carrying the lasting scale's c2, as the judge does, left ten minutes of guard too few looks to undo a
    # regression (docs/judge.md, "Noise that lasts"): the guard reads the per-minute bound, and no outliers
    # (a lasting burst's edges are not spikes).
    rng = np.random.default_rng(7)
    minutes = np.repeat(rng.gamma(1 / CV**2, CV**2, 288), 5)  # bursts of five minutes, CV 0.5
    errors = rng.poisson(REQUESTS * RATE * minutes)
    history = BaselineHistory(REQUESTS * 1440, int(errors.sum()), tuple((REQUESTS, int(k)) for k in errors))
    judge = Judge(JudgeConfig(), history)
    guard = guard_factory(GuardSettings(), history)(WindowStats(history.requests, history.errors_5xx))
    assert judge.carries_lasting_noise
    assert guard.noise_c2 == Judge(JudgeConfig(lasting_noise=False), history).c2 < judge.c2
    assert guard.outlier_share == 0
