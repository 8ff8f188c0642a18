"""The pass margin planned for the time limit: wider only where the traffic left cannot resolve it, never
beyond the widest margin, and regressions at that margin are still rarely passed."""

from __future__ import annotations

import numpy as np
import pytest

from controller.judge import BaselineHistory, Judge, JudgeConfig, Verdict, WindowStats
from controller.judge.emath import nb_log_lr
from controller.judge.horizon import (
    PassPlan,
    PeriodTraffic,
    effective_errors,
    period_moments,
    resolvable_ratio,
)
from controller.ramp import AdaptiveRamp

PERIOD = 60
LOG_TARGET = 5.0  # about ln(1 / beta) for beta = 1 %, plus a little for the test's weight


def _plan(per_period: int, periods_left: int, *, rate=0.03, c2=0.0, one_sample=True) -> PassPlan:
    """One period seen, with `per_period` requests split evenly."""
    seen = [PeriodTraffic(per_period // 2, per_period // 2)]
    return PassPlan(seen, periods_left, rate, c2, one_sample, LOG_TARGET, z=2.326)


def test_ample_traffic_keeps_the_users_margin() -> None:
    assert resolvable_ratio(_plan(30_000, 29), 1.5, 2.0) == 1.5


def test_no_traffic_or_no_errors_to_count_plans_the_widest_margin() -> None:
    assert resolvable_ratio(_plan(0, 29), 1.5, 2.0) == 2.0
    assert resolvable_ratio(_plan(100, 29, rate=0.0), 1.5, 2.0) == 2.0


def test_the_margin_widens_as_the_traffic_or_the_time_left_shrinks() -> None:
    by_traffic = [resolvable_ratio(_plan(n, 29), 1.5, 3.0) for n in (2_000, 600, 300, 150)]
    by_time = [resolvable_ratio(_plan(300, left), 1.5, 3.0) for left in (29, 20, 10, 5)]
    assert by_traffic == sorted(by_traffic) and by_traffic[0] == 1.5 and 1.5 < by_traffic[-1] < 3.0
    assert by_time == sorted(by_time) and by_time[0] < by_time[-1]


def test_the_planned_margin_is_the_smallest_that_reaches_the_target_with_slack() -> None:
    plan = _plan(200, 29)
    psi = resolvable_ratio(plan, 1.5, 3.0)
    info = effective_errors(plan)

    def slack(ratio: float) -> float:
        u = np.log(ratio)
        return (ratio - 1 - u) * info - plan.z * u * np.sqrt(info) - plan.log_target

    assert abs(slack(psi)) < 1e-6 and slack(psi - 0.01) < 0 < slack(psi + 0.01)


def test_the_plan_counts_the_traffic_seen_and_the_best_split_of_the_traffic_left() -> None:
    seen = [PeriodTraffic(10, 990), PeriodTraffic(300, 700)]  # a ramp that started small
    plan = PassPlan(seen, 10, 0.01, 0.0, True, LOG_TARGET, z=2.326)
    assert effective_errors(plan) == pytest.approx(0.1 + 3 + 10 * 10)  # the rest all to the canary
    two_sample = PassPlan(seen, 10, 0.01, 0.0, False, LOG_TARGET, z=2.326)
    # Against the concurrent baseline a period tells most split in half: a quarter of its errors' worth.
    assert effective_errors(two_sample) == pytest.approx(0.1 * 0.99 + 3 * 0.7 + 10 * 10 / 4)


def test_noise_costs_information() -> None:
    assert effective_errors(_plan(500, 29, c2=0.1)) < effective_errors(_plan(500, 29))


def _period(rng: np.random.Generator, rps: float, share: float, base: float, canary: float):
    n_c = int(rng.poisson(rps * PERIOD * share))
    n_b = int(rng.poisson(rps * PERIOD * (1 - share)))
    return (
        WindowStats(n_c, int(rng.binomial(n_c, canary)), 0, 40.0, 66.0, 100.0 if n_c else None),
        WindowStats(n_b, int(rng.binomial(n_b, base)), 0, 40.0, 66.0, 100.0 if n_b else None),
    )


def _rollout(
    rng, rps: float, rate: float, ratio: float, horizon: int | None, today: float | None = None, **config
):
    """One adaptive rollout at `rps` with a day of history at `rate`; the baseline errs at `today` (the
    history's rate unless given), the canary at ratio times that; `config`: more JudgeConfig fields."""
    today = rate if today is None else today
    history_requests = int(rps * 86_400)
    history = BaselineHistory(history_requests, int(rng.binomial(history_requests, rate)))
    judge = Judge(JudgeConfig(horizon_periods=horizon, **config), history)
    ramp = AdaptiveRamp()
    percent = ramp.initial_percent(rps * PERIOD, judge.trusts_history)
    judgement = None
    for _ in range(30):
        judgement = judge.observe(*_period(rng, rps, percent / 100, today, today * ratio))
        if judgement.verdict is not Verdict.CONTINUE:
            break
        percent = ramp.next_percent(percent, judgement, rps * PERIOD)
    assert judgement is not None
    return judgement.verdict, judge


def test_at_low_traffic_identical_releases_stop_running_out_of_time() -> None:
    """2 requests/s at 3 % errors: the 1.5x margin needs about the whole half hour (docs/judge.md)."""

    def undecided(horizon: int | None) -> float:
        rng = np.random.default_rng(7)
        verdicts = [_rollout(rng, 2.0, 0.03, 1.0, horizon)[0] for _ in range(150)]
        assert verdicts.count(Verdict.FAIL) <= 3
        return verdicts.count(Verdict.CONTINUE) / len(verdicts)

    without, planned = undecided(None), undecided(30)
    assert without >= 0.1
    assert planned <= without / 3


def test_a_2x_regression_is_still_rarely_passed_under_the_widest_margin() -> None:
    rng = np.random.default_rng(11)
    outcomes = [_rollout(rng, 2.0, 0.03, 2.0, 30) for _ in range(150)]
    passed = sum(verdict is Verdict.PASS for verdict, _ in outcomes)
    assert passed <= 3  # beta is 1 %
    # 2x of the history's bound, or of the baseline's DRIFT_SDS lower bound where a run of baseline
    # errors puts that above it (today's rate then looks higher): at most 2.1x in these 150 rollouts.
    assert max(judge.widest_pass_relative for _, judge in outcomes) <= 1.0 + 0.2


def test_without_a_time_limit_or_at_high_traffic_the_margin_is_the_users() -> None:
    rng = np.random.default_rng(3)
    for horizon, rps in ((None, 2.0), (30, 200.0)):
        _, judge = _rollout(rng, rps, 0.03, 1.0, horizon)
        assert judge.widest_pass_relative == pytest.approx(0.5)


def test_the_reason_says_when_and_how_far_the_margin_was_widened() -> None:
    rng = np.random.default_rng(5)
    judge = Judge(JudgeConfig(horizon_periods=30), BaselineHistory(172_800, 5_184))
    first = judge.observe(*_period(rng, 2.0, 0.5, 0.03, 0.03))
    widened = 1 + judge.widest_pass_relative
    assert 1.5 < widened <= 2.0
    assert f"the time limit widens the margin to {widened:.2g}x from the next period" in first.reason
    assert first.evidence.pass_margin_ratio == pytest.approx(1.5)  # the first period's
    judge.observe(*_period(rng, 2.0, 0.5, 0.03, 0.03))
    assert judge.evidence().pass_margin_ratio == pytest.approx(widened)


def test_where_the_absolute_margin_decides_nothing_is_widened() -> None:
    rng = np.random.default_rng(5)
    judge = Judge(JudgeConfig(horizon_periods=30), BaselineHistory(172_800, 170))  # 0.1 %: 0.5 points is 6x
    judge.observe(*_period(rng, 2.0, 0.5, 0.001, 0.001))
    assert judge.widest_pass_relative == pytest.approx(0.5)
    assert "time limit" not in judge.observe(*_period(rng, 2.0, 0.5, 0.001, 0.001)).reason


def test_shift_plans_for_the_periods_it_can_read_before_its_time_limit() -> None:
    from controller.gates import Thresholds
    from controller.shift_options import ShiftOptions
    from controller.strategies import Policy
    from controller.strategy import build_plan

    def horizon(strategy: str, bake: str | None, lag: float | None) -> int | None:
        policy = Policy(build_plan(strategy, None, bake), Thresholds(), interval_s=30, period_s=60)
        return ShiftOptions(policy=policy, metrics_lag_s=lag).judge_config().horizon_periods

    # 30 minutes: the last period arrives a period late, the first starts at the next period boundary
    assert horizon("adaptive", None, None) == 28
    assert horizon("adaptive", "1h", 0.0) == 59
    assert horizon("recipe", None, None) is None  # fixed steps: the schedule sets the time, no limit


def test_where_the_traffic_resolves_2x_the_absolute_margin_gives_way() -> None:
    """0.1 % errors at 300 requests/s: 0.5 points is a 6x margin; half an hour resolves 2x."""
    rng = np.random.default_rng(5)
    judge = Judge(JudgeConfig(horizon_periods=30), BaselineHistory(25_920_000, 25_920))
    first = judge.observe(*_period(rng, 300.0, 0.005, 0.001, 0.001))
    assert first.evidence.pass_margin_ratio > 5  # the first period is judged before any plan
    assert "from the next period the margin is" in first.reason and "not 1.5x or 0.50% more" in first.reason
    second = judge.observe(*_period(rng, 300.0, 0.01, 0.001, 0.001))
    assert 1.5 <= second.evidence.pass_margin_ratio <= 2.0 + 1e-9
    assert second.evidence.history is not None and second.evidence.history.regression_rate < 0.0025


def test_a_busy_low_error_service_gets_its_2x_regressions_caught() -> None:
    def passed(horizon: int | None) -> int:
        rng = np.random.default_rng(13)
        return sum(_rollout(rng, 300.0, 0.001, 2.2, horizon)[0] is Verdict.PASS for _ in range(60))

    assert passed(None) >= 20  # the 0.5-point margin (6x) lets most of them through
    assert passed(30) <= 2  # beta is 1 %


def test_where_2x_is_out_of_reach_the_margin_narrows_as_far_as_the_traffic_allows() -> None:
    """0.1 % errors at 30 requests/s: 0.5 points is a 6x margin and half an hour cannot resolve 2x, but it
    resolves about 3x: the judge holds the canary to what it can resolve, planned with caution."""
    rng = np.random.default_rng(17)
    healthy = [_rollout(rng, 30.0, 0.001, 1.0, 30) for _ in range(100)]
    assert [verdict for verdict, _ in healthy].count(Verdict.PASS) >= 98
    margins = [1 + judge.widest_pass_relative for _, judge in healthy]
    assert min(margins) > 2.0 and max(margins) < 4.5
    _, judge = healthy[0]
    assert judge._final is not None and "from the next period the margin is" in judge._final.reason
    tripled = [_rollout(rng, 30.0, 0.001, 3.0, 30)[0] for _ in range(100)]
    assert tripled.count(Verdict.PASS) <= 3  # the absolute margin (6x) passed 35 of 100 (beta is 1 %)


def test_without_a_history_a_clean_canary_over_a_clean_baseline_still_passes() -> None:
    """No history and no baseline errors: the baseline's rate is a guess, and a margin narrowed to a ratio of
    it could never be shown by a canary, however clean. The absolute margin stays."""
    rng = np.random.default_rng(3)
    verdicts = []
    for _ in range(50):
        judge = Judge(JudgeConfig(horizon_periods=30))
        judgement = None
        for _ in range(30):
            judgement = judge.observe(*_period(rng, 50.0, 0.3, 0.0, 0.0))
            if judgement.verdict is not Verdict.CONTINUE:
                break
        assert judgement is not None
        verdicts.append(judgement.verdict)
        assert "from the next period the margin is" not in judgement.reason  # still 0.5 points
    assert verdicts.count(Verdict.PASS) == 50


def test_a_baseline_that_rose_since_its_history_moves_the_widest_margin_with_it() -> None:
    """10 requests/s, a day at 1 %, today at 1.3 %: 2x of the history is only 1.5x of today."""
    rng = np.random.default_rng(41)
    identical = [_rollout(rng, 10.0, 0.01, 1.0, 30, today=0.013) for _ in range(200)]
    widest = max(judge.widest_pass_relative for _, judge in identical)
    # The margin over the history's rate went past 2x, but not much past 2x of today's rate (2.6x of the
    # history's; the 3-SD lower bound it follows is rarely above today's rate).
    assert 1.0 < widest <= 1.8
    verdicts = [verdict for verdict, _ in identical]
    # 11 failed, 164 passed, 25 undecided at 30 minutes; while the fail test's null stayed at the history's
    # bound and the widest margin at 2x of it: 15 failed, 164 passed, 21 undecided. At this traffic a
    # canary that looks worse by chance is failed less often, but it rarely passes either.
    assert verdicts.count(Verdict.FAIL) <= 12
    assert verdicts.count(Verdict.PASS) >= 155
    doubled = [_rollout(rng, 10.0, 0.01, 2.0, 30, today=0.013)[0] for _ in range(100)]
    assert doubled.count(Verdict.PASS) <= 2  # 2x of today's rate is still rarely passed


def test_the_plan_reads_a_risen_baseline_one_standard_deviation_high() -> None:
    """20 requests/s, a day at 1 %, today at 1.3 %: the plan's estimate of today's rate lags the rise, and a
    margin planned on it leaves a healthy canary too little room to pass in 30 minutes."""
    rng = np.random.default_rng(11)
    identical = [_rollout(rng, 20.0, 0.01, 1.0, 30, today=0.013)[0] for _ in range(300)]
    # 7 failed, 292 passed, 1 undecided; with the plan on the estimate itself: 20 failed, 248 passed and
    # 32 undecided (rolled back when the time limit runs out).
    assert identical.count(Verdict.PASS) >= 280
    assert identical.count(Verdict.CONTINUE) <= 8
    doubled = [_rollout(rng, 20.0, 0.01, 2.0, 30, today=0.013)[0] for _ in range(150)]
    assert doubled.count(Verdict.PASS) <= 4  # 1 of 150 measured: 2x of today's rate is still rarely passed


def test_where_the_traffic_resolves_it_the_margin_narrows_below_the_users() -> None:
    """150 requests/s, 0.3 % errors: 0.5 points is a 2.7x margin and half an hour resolves much less, so a
    1.6x regression is held to a margin it is beyond (narrowest_regression_ratio). How far the margin
    narrows waits on the baseline's own counts (3 sd above them, controller/judge/margin.py), which at this
    rate come slowly: 1.43-1.91x here."""
    rng = np.random.default_rng(4)
    narrow = {"narrowest_regression_ratio": 1.3}
    worse = [_rollout(rng, 150.0, 0.003, 1.6, 30, **narrow)[0] for _ in range(100)]
    # 13 of 100 passed with the margin never narrower than the user's (2x here, where the traffic resolves
    # it); 1 with it.
    assert worse.count(Verdict.PASS) <= 3
    healthy = [_rollout(rng, 150.0, 0.003, 1.0, 30, **narrow) for _ in range(100)]
    assert [verdict for verdict, _ in healthy].count(Verdict.PASS) >= 98
    margins = [1 + judge._pass_relative for _, judge in healthy]
    assert min(margins) >= 1.3 - 1e-9 and max(margins) < 2.0
    _, judge = healthy[0]
    assert judge._final is not None and "not 1.5x or 0.50% more" in judge._final.reason
    # `--narrowest-ratio off`: a 1.4x regression is within the 2x margin, so it often passes
    untouched = [_rollout(rng, 150.0, 0.003, 1.4, 30, narrowest_regression_ratio=None)[0] for _ in range(60)]
    assert untouched.count(Verdict.PASS) >= 20


def test_the_plan_makes_up_the_drift_watchs_discount() -> None:
    """A baseline 35 % below its history: the drift watch discounts the history's pass test (a canary worse
    than today's baseline could pass against the history), so the plan must aim that much higher, or a
    healthy canary held to a narrow margin (here narrowed as far as 1.3x) runs out of time."""
    for rps, history_rate, today in ((100.0, 0.005, 0.00325), (300.0, 0.005, 0.0033), (100.0, 0.02, 0.013)):
        rng = np.random.default_rng(3)
        identical = [
            _rollout(rng, rps, history_rate, 1.0, 30, today=today, narrowest_regression_ratio=1.3)[0]
            for _ in range(100)
        ]
        # Passed with the plan blind to the discount: 70, 64 and 88 of 100 (the rest ran out of time).
        assert identical.count(Verdict.PASS) >= 97


def test_without_noise_a_periods_moments_are_the_poissons() -> None:
    plan = _plan(1_000, 29)
    mean, variance = period_moments(plan, 500, 1_000, 1.5)
    mu = 500 * 0.03
    assert mean == pytest.approx(mu * (0.5 - np.log(1.5)))
    assert variance == pytest.approx(mu * np.log(1.5) ** 2)


@pytest.mark.parametrize(("c2", "canary"), [(0.05, 400), (0.2, 2_000), (0.2, 100)])
def test_under_noise_a_periods_moments_are_the_negative_binomial_tests_own(c2: float, canary: int) -> None:
    """The plan's mean and variance are those of the log-likelihood ratio the history's pass test adds
    (nb_log_lr, a canary at the baseline's rate against one 1.7x worse), drawn as gamma-Poisson counts."""
    plan = _plan(4_000, 29, c2=c2)
    psi, mu = 1.7, canary * 0.03
    rng = np.random.default_rng(17)
    counts = rng.poisson(mu * rng.gamma(1 / c2, c2, size=200_000))
    llrs = np.array([nb_log_lr(int(x), psi * mu, 1 / psi, c2) for x in counts])
    mean, variance = period_moments(plan, canary, 4_000, psi)
    assert mean == pytest.approx(llrs.mean(), rel=0.03)
    assert variance == pytest.approx(llrs.var(), rel=0.03)


def test_where_noise_dominates_a_period_it_tells_less_than_an_information_discount_says() -> None:
    """c2 * mu >> 1: the negative binomial's mean is (ln psi - 1 + 1 / psi) / c2, not the (psi - 1 - ln psi)
    / c2 that discounting Poisson information by 1 + c2 mu gives; the plan widens the margin further."""
    c2, psi = 0.2, 1.5
    plan = _plan(400_000, 29, c2=c2)
    mean, _ = period_moments(plan, 200_000, 400_000, psi)
    assert mean * c2 == pytest.approx(np.log(psi) - 1 + 1 / psi, rel=0.01)
    assert mean * c2 < 0.8 * (psi - 1 - np.log(psi))
    noisy = _plan(6_000, 29, c2=c2)
    margin = resolvable_ratio(noisy, 1.5, 2.0)
    info = effective_errors(noisy)
    u = np.log(margin)
    # On the information model alone this margin would have slack to spare: the plan is now wider.
    assert (margin - 1 - u) * info - noisy.z * u * np.sqrt(info) - noisy.log_target > 1.0
