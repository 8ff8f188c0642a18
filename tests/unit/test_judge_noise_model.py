"""The judge's noise model: overdispersed likelihoods and the noise estimate read off the history."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.judge.dispersion import estimate_c2
from controller.judge.emath import bb_log_lr, log_ratio_factor, nb_log_lr


def test_without_overdispersion_the_likelihoods_are_the_poisson_and_binomial_ones() -> None:
    assert nb_log_lr(7, 3.0, 4.0, 0.0) == pytest.approx(7 * math.log(4) - 3 * 3.0)
    # The binomial split test of the idealised judge, for share w and ratios psi: the same numbers.
    w, x, s = 0.2, 5, 12
    q = lambda psi: w * psi / (w * psi + 1 - w)  # noqa: E731
    assert bb_log_lr(x, s, q(3.0), q(1.0), 0.0) == pytest.approx(log_ratio_factor(x, s, w, 3.0, 1.0))


@pytest.mark.parametrize(("c2", "mean", "ratio"), [(0.0625, 5.0, 2.0), (0.25, 20.0, 1.5), (0.25, 2.0, 10.0)])
def test_the_negative_binomial_ratio_has_expectation_one_under_the_overdispersed_null(
    c2: float, mean: float, ratio: float
) -> None:
    k = 1 / c2
    # E[LR] = sum over x of NB(x; ratio * mean) = 1 exactly: summed over the support, not sampled.
    total = 0.0
    for x in range(0, 4000):
        log_p0 = (
            math.lgamma(x + k)
            - math.lgamma(k)
            - math.lgamma(x + 1)
            + k * math.log(k / (k + mean))
            + x * math.log(mean / (k + mean))
        )
        total += math.exp(log_p0 + nb_log_lr(x, mean, ratio, c2))
    assert total == pytest.approx(1.0, abs=1e-6)


def test_the_binomial_ratio_exceeds_one_under_the_same_null_which_is_how_bursts_roll_back_good_releases() -> (
    None
):
    rng = np.random.default_rng(3)
    c2, mean, ratio = 0.25, 20.0, 1.5
    z = rng.gamma(1 / c2, c2, 400_000)
    x = rng.poisson(mean * z)
    poisson = np.exp(x * math.log(ratio) - (ratio - 1) * mean).mean()
    assert poisson > 10  # a Poisson bet on 1.5x gains on average from noise alone


def test_the_noise_estimate_finds_the_per_minute_cv_and_ignores_a_daily_swing() -> None:
    rng = np.random.default_rng(4)
    minutes = np.arange(1440)
    swing = 1 + 0.5 * np.sin(2 * np.pi * minutes / 1440)  # the rate halves and rises by half over the day
    for cv in (0.0, 0.3, 0.5):
        z = rng.gamma(1 / cv**2, cv**2, 1440) if cv else np.ones(1440)
        requests = np.full(1440, 3000)
        errors = rng.poisson(requests * 0.005 * swing * z)
        d = estimate_c2(list(zip(requests.tolist(), errors.tolist(), strict=True)), floor=0.0)
        assert d.estimate == pytest.approx(cv**2, abs=0.04)
        assert d.c2 >= d.estimate  # used at an upper bound


@pytest.mark.parametrize("errors_per_minute", [0.3, 60.0])
def test_the_noise_bound_covers_the_true_noise_on_nearly_every_day_even_at_a_few_errors_a_minute(
    errors_per_minute: float,
) -> None:
    # The tests are valid only while the c2 they carry is at least the truth: the bound (two standard errors
    # above the estimate) must cover it on ~97.7 % of days, at a few errors a minute as at many.
    rng = np.random.default_rng(5)
    cv, days, covered, estimates = 0.4, 120, 0, []
    for _ in range(days):
        requests = rng.poisson(1000, 1440)
        errors = rng.poisson(requests * errors_per_minute / 1000 * rng.gamma(1 / cv**2, cv**2, 1440))
        d = estimate_c2(list(zip(requests.tolist(), errors.tolist(), strict=True)), floor=0.0)
        covered += d.c2 >= cv**2
        estimates.append(d.estimate)
    assert covered >= 0.95 * days
    assert np.mean(estimates) == pytest.approx(cv**2, rel=0.15)  # the estimate itself is unbiased


def test_a_short_history_gives_the_floor() -> None:
    assert estimate_c2([(100, 1)] * 10, floor=0.01).c2 == 0.01


def test_the_per_minute_estimate_is_pinned() -> None:
    # The judge's noise estimate, as it was computed before `read_persistence` shared its helper: every
    # published figure rests on these numbers.
    rng = np.random.default_rng(31)
    requests = rng.poisson(2000, 1440)
    errors = rng.poisson(requests * 0.01 * rng.gamma(1 / 0.09, 0.09, 1440))
    d = estimate_c2(list(zip(requests.tolist(), errors.tolist(), strict=True)), floor=0.0025)
    assert (d.c2, d.estimate, d.periods) == (0.11360662409217098, 0.10066783604737686, 1440)
