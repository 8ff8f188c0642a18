"""Late onset: a release that turns bad after a healthy start is judged on the periods since the change,
not on the healthy ones before it, and the restarted bets keep the false-rollback bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.domain import BaselineHistory, Verdict, WindowStats
from controller.judge import Judge, JudgeConfig
from controller.judge.onset import RestartedBets

RATE = 0.01
PER_MINUTE = 1200  # 20 req/s
CANARY_SHARE = 0.5


def history() -> BaselineHistory:
    periods = tuple((PER_MINUTE, round(PER_MINUTE * RATE)) for _ in range(1440))
    return BaselineHistory(PER_MINUTE * 1440, round(PER_MINUTE * RATE) * 1440, periods)


def periods_to_fail(
    config: JudgeConfig, onset: int, ratio: float, seed: int, periods: int = 40, with_history: bool = True
) -> int | None:
    """The period a canary that turns `ratio` times worse at period `onset` is failed in (None: never).

    PASS is held off (min_periods) so the test sees the fail side alone, as a rollout still watching would.
    """
    rng = np.random.default_rng(seed)
    judge = Judge(config, history() if with_history else None)
    n = int(PER_MINUTE * CANARY_SHARE)
    for t in range(periods):
        canary_rate = RATE * (ratio if t >= onset else 1.0)
        x = int(rng.binomial(n, canary_rate))
        y = int(rng.binomial(PER_MINUTE - n, RATE))
        verdict = judge.observe(WindowStats(n, x), WindowStats(PER_MINUTE - n, y)).verdict
        if verdict is Verdict.FAIL:
            return t
    return None


def test_with_no_late_share_the_bets_are_the_ones_from_the_first_period() -> None:
    bets = RestartedBets(2, 0.0, 30)
    for llrs in ((0.5, -1.0), (-0.2, 2.0), (1.0, 0.0)):
        bets.add(llrs)
    assert bets.combined([1.3, 1.0]) == [1.3, 1.0]


def test_the_later_starts_sum_as_shiryaev_roberts() -> None:
    # Every period's likelihood ratio is L; starts 2..4 each weigh share/periods.
    share, periods, log_l = 0.5, 3, math.log(2.0)
    bets = RestartedBets(1, share, periods)
    for _ in range(4):
        bets.add([log_l])
    v = share / periods
    late = v * (2.0**3 + 2.0**2 + 2.0**1)  # started at periods 2, 3 and 4
    expected = (1 - share) * 2.0**4 + late
    assert math.exp(bets.combined([4 * log_l])[0]) == pytest.approx(expected)


@pytest.mark.parametrize("with_history", [True, False], ids=["history", "concurrent split only"])
def test_a_regression_fifteen_periods_in_is_caught_soon_after_it_starts(with_history: bool) -> None:
    horizon, onset, seeds = 60, 15, range(20)
    late, blind = JudgeConfig(min_periods=horizon), JudgeConfig(min_periods=horizon, late_onset_share=0.0)

    def delays(config: JudgeConfig) -> list[int]:
        found = [periods_to_fail(config, onset, 2.0, s, horizon, with_history) for s in seeds]
        assert all(t is None or t >= onset for t in found), found  # nothing before the change
        return [(horizon if t is None else t) - onset for t in found]

    # The healthy stretch costs the from-the-start bets their evidence; the restarted ones do not pay it
    # (measured: median 4.5 periods against 8 with the history, 8 against 13 on the split alone).
    assert np.median(delays(late)) < 0.7 * np.median(delays(blind))


def test_identical_releases_are_still_rolled_back_at_most_alpha_of_the_time() -> None:
    config = JudgeConfig(min_periods=40)
    failed = sum(periods_to_fail(config, 10**6, 1.0, seed) is not None for seed in range(300))
    # alpha is 1 %; 300 rollouts watched for 40 periods each: 9 or more would be a 3-sigma excess.
    assert failed <= 8, failed


def test_a_regression_from_the_first_request_pays_little_for_the_insurance() -> None:
    late, blind = JudgeConfig(min_periods=40), JudgeConfig(min_periods=40, late_onset_share=0.0)
    seeds = range(30)
    t_late = np.median([periods_to_fail(late, 0, 4.0, s) or 40 for s in seeds])
    t_blind = np.median([periods_to_fail(blind, 0, 4.0, s) or 40 for s in seeds])
    assert t_late <= t_blind + 1, (t_late, t_blind)
