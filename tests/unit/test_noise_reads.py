"""The history's noise is read once and shared; the faster arithmetic gives the same bits as the plain one."""

from __future__ import annotations

import math
import random
from itertools import accumulate

import numpy as np
import pytest

from bench.family_oracle import _exact_critical, poisson_upper_tail
from controller.domain import BaselineHistory, WindowStats
from controller.guard import GuardSettings, guard_factory
from controller.judge import Judge, JudgeConfig
from controller.judge import noise as noise_module
from controller.judge.dispersion import neighbourhood_sums
from controller.judge.emath import log_add, log_mix


def _history(seed: int, cv: float = 0.4) -> BaselineHistory:
    rng = np.random.default_rng(seed)
    errors = rng.poisson(3000 * 0.01 * rng.gamma(1 / cv**2, cv**2, 1440))
    periods = tuple((3000, int(k)) for k in errors)
    return BaselineHistory(3000 * 1440, int(errors.sum()), periods)


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = noise_module.read_history_noise

    def counted(periods, floor):
        calls.append(len(periods))
        return real(periods, floor)

    monkeypatch.setattr(noise_module, "read_history_noise", counted)
    return calls


def test_the_guard_given_the_judges_reads_does_not_read_the_day_again_and_models_the_same_noise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history = _history(1)
    calls = _counting_reads(monkeypatch)
    judge = Judge(JudgeConfig(), history)
    assert calls == [1440]
    shared = guard_factory(GuardSettings(), history, JudgeConfig(), judge.noise.reads)(WindowStats(6000, 60))
    assert calls == [1440]
    alone = guard_factory(GuardSettings(), history, JudgeConfig())(WindowStats(6000, 60))
    assert calls == [1440, 1440]
    assert (shared.noise_c2, shared.outlier_share) == (alone.noise_c2, alone.outlier_share)
    assert shared.noise_c2 > JudgeConfig().dispersion_floor  # the day's noise, not the floor


def test_reads_of_another_day_or_floor_are_not_taken_for_this_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    today, other = _history(2), _history(3, cv=0.1)
    reads = Judge(JudgeConfig(), other).noise.reads
    assert reads is not None and reads.answers(other.per_period, JudgeConfig().dispersion_floor)
    calls = _counting_reads(monkeypatch)
    guard_factory(GuardSettings(), today, JudgeConfig(), reads)(WindowStats(6000, 60))
    assert calls == [1440]
    wider = JudgeConfig(dispersion_floor=0.01)
    assert not reads.answers(other.per_period, wider.dispersion_floor)
    guard_factory(GuardSettings(), other, wider, reads)(WindowStats(6000, 60))
    assert calls == [1440, 1440]


def test_a_judge_that_does_not_model_the_noise_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_reads(monkeypatch)
    judge = Judge(JudgeConfig(overdispersion=False), _history(4))
    assert calls == [] and judge.noise.reads is None and judge.c2 == 0.0


def test_neighbourhood_sums_are_the_windows_sums_to_the_bit() -> None:
    rng = random.Random(5)
    for size in range(0, 50):
        for neighbours in (0, 1, 2, 15, 60):
            values = [rng.random() * 100 for _ in range(size)]
            cum = list(accumulate(values, initial=0))
            plain = [
                cum[min(i + neighbours + 1, size)] - cum[i - neighbours if i > neighbours else 0] - v
                for i, v in enumerate(values)
            ]
            assert neighbourhood_sums(values, neighbours) == plain


def test_log_add_is_a_two_term_log_mix_to_the_bit() -> None:
    rng = random.Random(6)
    values = [-math.inf, 0.0, -0.0, -745.0, -800.0, 700.0, *(rng.uniform(-60, 60) for _ in range(300))]
    for a in values:
        for b in values:
            assert repr(log_add(a, b)) == repr(log_mix((1.0, 1.0), [a, b]))


def test_the_oracles_critical_count_is_the_first_whose_poisson_tail_holds_alpha() -> None:
    for mean in (0.0, 0.3, 4.2, 37.5, 399.0):
        for alpha in (0.05, 0.01, 0.001):
            critical = _exact_critical(mean, alpha)
            assert poisson_upper_tail(critical, mean) <= alpha
            if critical > max(1, math.ceil(mean)):
                assert poisson_upper_tail(critical - 1, mean) > alpha
