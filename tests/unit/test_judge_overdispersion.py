"""The default judge reads how bursty the live version's errors are from its own per-minute history and
carries that noise in every likelihood, so a burst on one version is not evidence against the other."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.domain import BaselineHistory, Verdict, WindowStats
from controller.judge import Judge, JudgeConfig
from controller.judge.emath import log_ratio_factor, split_log_lr

RATE = 0.02  # 2 % of requests fail on both versions
PER_MINUTE = 6000  # requests a minute: 100 req/s
CANARY_SHARE = 0.1


def bursty_history(rng: np.random.Generator, cv: float) -> BaselineHistory:
    """24 h of one-minute periods whose error rate carries a gamma factor of coefficient of variation cv."""
    z = rng.gamma(1 / cv**2, cv**2, 1440) if cv else np.ones(1440)
    errors = rng.poisson(PER_MINUTE * RATE * z)
    periods = tuple((PER_MINUTE, int(k)) for k in errors)
    return BaselineHistory(PER_MINUTE * 1440, int(errors.sum()), periods)


def false_failures(overdispersion: bool, cv: float, rollouts: int = 120, periods: int = 30) -> int:
    """Identical releases the judge fails when each version's per-minute rate carries its own bursts."""
    rng = np.random.default_rng(11)
    failed = 0
    for _ in range(rollouts):
        judge = Judge(JudgeConfig(overdispersion=overdispersion), bursty_history(rng, cv))
        for _ in range(periods):
            n = int(PER_MINUTE * CANARY_SHARE)
            m = PER_MINUTE - n
            z_canary, z_baseline = rng.gamma(1 / cv**2, cv**2, 2) if cv else (1.0, 1.0)
            x = int(rng.poisson(n * RATE * z_canary))
            y = int(rng.poisson(m * RATE * z_baseline))
            verdict = judge.observe(WindowStats(n, x), WindowStats(m, y)).verdict
            if verdict is not Verdict.CONTINUE:
                failed += verdict is Verdict.FAIL
                break
    return failed


def test_without_noise_the_split_likelihood_is_the_binomial_one() -> None:
    for x, e, w, psi in ((3, 10, 0.1, 2.0), (0, 4, 0.5, 1.5), (12, 12, 0.05, 50.0)):
        assert split_log_lr(x, e, w, psi, 1.0, 0.0) == log_ratio_factor(x, e, w, psi, 1.0)
        # A little noise moves the evidence only a little.
        assert split_log_lr(x, e, w, psi, 1.0, 1e-6) == pytest.approx(
            log_ratio_factor(x, e, w, psi, 1.0), 1e-3
        )


def test_noise_shrinks_the_evidence_of_a_lopsided_period() -> None:
    # 12 of 20 errors on a canary that takes 10 % of requests: strong evidence if the counts are binomial,
    # much weaker if each version's minute can be 50 % off its rate.
    binomial = split_log_lr(12, 20, 0.1, 4.0, 1.0, 0.0)
    bursty = split_log_lr(12, 20, 0.1, 4.0, 1.0, 0.25)
    assert binomial > 2 * bursty > 0


def test_the_judge_estimates_the_noise_from_the_history_it_is_given() -> None:
    rng = np.random.default_rng(2)
    assert Judge(JudgeConfig(), bursty_history(rng, 0.5)).c2 == pytest.approx(0.25, abs=0.08)
    assert Judge(JudgeConfig(), bursty_history(rng, 0.0)).c2 < 0.01
    assert Judge(JudgeConfig(overdispersion=False), bursty_history(rng, 0.5)).c2 == 0.0
    assert Judge(JudgeConfig()).c2 == JudgeConfig().dispersion_floor  # no history: the floor


def test_bursty_errors_on_identical_releases_roll_back_only_the_judge_that_ignores_them() -> None:
    alpha = JudgeConfig().alpha
    ignoring = false_failures(overdispersion=False, cv=0.5)
    modelling = false_failures(overdispersion=True, cv=0.5)
    assert ignoring > 10 * alpha * 120  # the binomial judge mistakes bursts for a regression
    assert modelling <= max(2, math.ceil(3 * alpha * 120))


def test_without_bursts_both_judges_agree_and_keep_their_promise() -> None:
    assert false_failures(overdispersion=True, cv=0.0, rollouts=60) <= 1
    assert false_failures(overdispersion=False, cv=0.0, rollouts=60) <= 1
