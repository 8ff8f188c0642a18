"""The adaptive ramp: a pure function from the judge's evidence to the next canary percent."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from controller.judge import BaselineHistory, Judge, JudgeConfig, Judgement, Verdict, WindowStats
from controller.ramp import AdaptiveRamp, RampConfig, errors_to_detect

RAMP = AdaptiveRamp()


def _judged(periods: list[tuple[WindowStats, WindowStats]]) -> Judgement:
    judge = Judge()
    for canary, baseline in periods:
        judgement = judge.observe(canary, baseline)
    return judgement


def test_a_failed_judgement_rolls_back_and_a_passed_one_promotes() -> None:
    assert RAMP.next_percent(5.0, Judgement(Verdict.FAIL, "bad", {}), 3000) == 0.0
    assert RAMP.next_percent(5.0, Judgement(Verdict.PASS, "good", {}), 3000) == 100.0


def test_the_first_share_carries_the_same_canary_requests_at_any_traffic() -> None:
    first = RampConfig().first_period_requests
    for per_period in (120, 3000, 30000):
        percent = RAMP.initial_percent(per_period)
        assert percent / 100 * per_period == pytest.approx(first, rel=0.01)


def test_the_first_share_is_capped_when_traffic_is_thin() -> None:
    assert RAMP.initial_percent(RampConfig().first_period_requests / 2) == RampConfig().max_percent
    assert RAMP.initial_percent(0) == RampConfig().min_percent


def test_a_clean_period_widens_the_canary_by_at_most_the_growth_factor() -> None:
    judgement = _judged([(WindowStats(15, 0, 0, 40, 66, None), WindowStats(2985, 15, 0, 40, 66, 100))])
    percent = RAMP.next_percent(0.5, judgement, 3000)
    assert 0.5 < percent <= 100 * RampConfig().growth * 15 / 3000 + 1e-9


def test_the_share_never_exceeds_the_maximum() -> None:
    clean = [(WindowStats(1500, 7, 0, 40, 66, 100), WindowStats(1500, 8, 0, 40, 66, 100))] * 3
    judgement = _judged(clean)
    assert judgement.verdict is Verdict.CONTINUE
    assert RAMP.next_percent(50.0, judgement, 3000) <= RampConfig().max_percent


def test_a_latency_breach_freezes_the_share() -> None:
    slow = (WindowStats(300, 1, 0, 40, 66, 140), WindowStats(2700, 14, 0, 40, 66, 100))  # under 1.55x
    judgement = _judged([slow])
    assert judgement.evidence.latency.breach_streak == 1
    assert RAMP.next_percent(10.0, judgement, 3000) == 10.0


def test_a_severe_regression_keeps_the_exposure_small() -> None:
    # One error in 15 canary requests against a 0.1 % baseline: the canary may be 50x worse, so the next
    # period must not be able to serve more than about one of its errors.
    periods = [(WindowStats(15, 1), WindowStats(2985, 3))]
    judgement = _judged(periods)
    assert judgement.verdict is Verdict.CONTINUE
    worst = RAMP.worst_plausible_ratio(judgement)
    percent = RAMP.next_percent(0.5, judgement, 3000)
    assert worst >= 10
    assert percent / 100 * 3000 * worst * 0.001 <= 1.0


def test_healthy_evidence_grows_faster_than_suspicious_evidence() -> None:
    healthy = _judged([(WindowStats(100, 0, 0, 40, 66), WindowStats(2900, 15, 0, 40, 66))] * 3)
    suspicious = _judged([(WindowStats(100, 2, 0, 40, 66), WindowStats(2900, 15, 0, 40, 66))] * 3)
    assert RAMP.next_percent(3.3, healthy, 3000) > RAMP.next_percent(3.3, suspicious, 3000)


def test_a_clean_service_is_not_held_to_the_split_cap() -> None:
    # Neither version has erred: the split cap (under 2 % here) would only slow the count test down, so
    # only the exposure budget and the doubling rule bound the share.
    clean = _judged([(WindowStats(100, 0, 0, 40, 66, 100), WindowStats(2900, 0, 0, 40, 66, 100))] * 3)
    assert clean.verdict is Verdict.CONTINUE
    c = RampConfig()
    split_cap = 100 * c.split_penalty / (clean.evidence.pass_margin_ratio + c.split_penalty)
    percent = RAMP.next_percent(3.3, clean, 3000)
    assert split_cap < percent <= 100 * c.growth * 300 / 3000


def test_the_ramp_is_a_pure_function() -> None:
    judgement = _judged([(WindowStats(40, 1), WindowStats(2960, 15))])
    assert {RAMP.next_percent(1.0, judgement, 3000) for _ in range(5)} == {
        RAMP.next_percent(1.0, judgement, 3000)
    }


def test_errors_to_detect_follows_wald() -> None:
    # ln(100) / (ln r - 1 + 1/r): about 7 errors for a 4x regression, 2 for 50x, 64 for 1.5x.
    assert errors_to_detect(4.0, 100) == pytest.approx(7.24, abs=0.01)
    assert errors_to_detect(50.0, 100) == pytest.approx(1.57, abs=0.01)
    assert errors_to_detect(1.5, 100) == pytest.approx(63.9, abs=0.1)


def test_config_mistakes_are_explained() -> None:
    with pytest.raises(ValueError, match="max_percent"):
        RampConfig(max_percent=100)
    with pytest.raises(ValueError, match="positive"):
        RampConfig(growth=0)
    with pytest.raises(ValueError, match="clean_margin_ratio"):
        RampConfig(clean_margin_ratio=1)
    with pytest.raises(ValueError, match="patient_budget"):
        RampConfig(patient_budget=0)
    with pytest.raises(ValueError, match="min_period_requests"):
        RampConfig(min_period_requests=-1)
    with pytest.raises(ValueError, match="odds"):
        RampConfig(patient_odds=0.5)
    with pytest.raises(ValueError, match="min_growth"):
        RampConfig(min_growth=-0.1)


TRUSTING = AdaptiveRamp()  # picks its trusted configuration from the judge's evidence


def test_exposure_stays_at_the_latency_probe_until_the_tail_is_judged_clean_twice() -> None:
    # Clean counts, but no period had enough canary requests to judge p90: a slow tail could still be
    # hiding, so the next period carries no more than the probe.
    probe = RampConfig.for_trusted_history().latency_probe_requests
    assert probe is not None
    unjudged = _with_history([(WindowStats(15, 0, 0, 40, None), WindowStats(2985, 15, 0, 40, 66))] * 2)
    assert unjudged.evidence.latency.tail_clean_periods == 0
    assert TRUSTING.next_percent(0.5, unjudged, 3000) / 100 * 3000 <= probe + 1e-9
    judged = _with_history([(WindowStats(40, 0, 0, 40, 66), WindowStats(2960, 15, 0, 40, 66))] * 2)
    assert judged.evidence.latency.tail_clean_periods == 2
    assert TRUSTING.next_percent(1.3, judged, 3000) / 100 * 3000 > probe


def test_the_baseline_keeps_enough_requests_to_judge_the_tail_at_low_traffic() -> None:
    # 3 requests/s: a 90 % canary would leave the baseline 18 requests a period, too few for its p90, and a
    # tail that slows later would never be judged again. The share leaves the baseline the probe.
    probe = RampConfig.for_trusted_history().latency_probe_requests
    assert probe is not None
    per_period = 180
    healthy = [(WindowStats(60, 0, 0, 40, 66), WindowStats(120, 0, 0, 40, 66))] * 3
    judgement = _with_history(healthy)
    assert judgement.verdict is Verdict.CONTINUE and judgement.evidence.latency.tail_clean_periods >= 2
    floorless = AdaptiveRamp(trusted=replace(RampConfig.for_trusted_history(), latency_probe_requests=None))
    assert floorless.next_percent(60.0, judgement, per_period) == pytest.approx(90.0)
    share = TRUSTING.next_percent(60.0, judgement, per_period)
    assert share == pytest.approx(100 * (1 - probe / per_period))
    # Where the traffic carries the probe many times over, the floor does not bind.
    for busy in (1_000, 6_000):
        assert TRUSTING.next_percent(60.0, judgement, busy) == floorless.next_percent(60.0, judgement, busy)


def _with_history(
    periods: list[tuple[WindowStats, WindowStats]], errors: int = 21_600, trust: bool = True
) -> Judgement:
    judge = Judge(JudgeConfig(history_fail=trust), BaselineHistory(4_320_000, errors))
    for canary, baseline in periods:
        judgement = judge.observe(canary, baseline)
    return judgement


def test_a_trusted_baseline_history_lets_the_share_grow_past_the_split_cap() -> None:
    c = RampConfig.for_trusted_history()
    healthy = [(WindowStats(900, 5, 0, 40, 66, 100), WindowStats(2100, 10, 0, 40, 66, 100))] * 2
    untrusted = _with_history(healthy, trust=False)
    trusted = _with_history(healthy)
    assert trusted.verdict is Verdict.CONTINUE and untrusted.verdict is Verdict.CONTINUE
    assert TRUSTING.next_percent(30.0, untrusted, 3000) <= c.max_percent
    assert c.max_percent < TRUSTING.next_percent(30.0, trusted, 3000) <= c.max_percent_with_history


def test_a_severe_regression_in_sight_spends_the_smaller_budget() -> None:
    # One error in 15 canary requests against a 0.1 % history: 50x is the worst plausible regression, so
    # the next period is sized with severe_budget, not budget.
    judgement = _with_history([(WindowStats(15, 1, 0, 40, 66), WindowStats(2985, 3, 0, 40, 66))], 4320)
    worst = TRUSTING.worst_plausible_ratio(judgement)
    assert worst >= RampConfig().severe_ratio
    # (without the floor on a period's requests, which both would hit here)
    floorless = replace(RampConfig.for_trusted_history(), min_period_requests=None)
    severe, lenient = (
        AdaptiveRamp(trusted=floorless),
        AdaptiveRamp(trusted=replace(floorless, severe_budget=None)),
    )
    assert severe.next_percent(0.5, judgement, 3000) < lenient.next_percent(0.5, judgement, 3000)


def test_the_trusting_ramp_stays_narrow_while_the_baseline_rises_above_its_history() -> None:
    # A day at 1 %, today's baseline at 1.6 %: the drift watch sees the rise, and the baseline (whose counts
    # discount the history's fail evidence) must keep at least as much traffic as the canary.
    c = RampConfig.for_trusted_history()
    canary = WindowStats(600, 6, 0, 40, 66, 100)
    risen = _with_history([(canary, WindowStats(2400, 39, 0, 40, 66, 100))] * 2, errors=43_200)
    steady = _with_history([(canary, WindowStats(2400, 24, 0, 40, 66, 100))] * 2, errors=43_200)
    assert risen.verdict is Verdict.CONTINUE and steady.verdict is Verdict.CONTINUE
    assert risen.evidence.history.drift_rise_e_value > 1 >= steady.evidence.history.drift_rise_e_value
    assert TRUSTING.next_percent(40.0, risen, 3000) <= c.max_percent
    assert TRUSTING.next_percent(40.0, steady, 3000) > c.max_percent


def test_a_canary_that_looks_worse_gets_smaller_steps_where_traffic_allows() -> None:
    # A 0.5 % history and a canary at 2.5 %: the fail evidence is past patient_odds but not the threshold.
    # A bad release costs errors, not minutes, so with traffic to spare the next period is smaller than the
    # ordinary budget would allow; at 2 requests/s there is no traffic to spare and patience stays off.
    worse = _with_history([(WindowStats(200, 5, 0, 40, 66, 100), WindowStats(2800, 14, 0, 40, 66, 100))])
    c = RampConfig.for_trusted_history()
    assert c.patient_odds <= worse.evidence.fail_e_value < worse.evidence.fail_threshold
    impatient = AdaptiveRamp(trusted=replace(c, patient_budget=None))
    assert TRUSTING.next_percent(6.0, worse, 3000) < impatient.next_percent(6.0, worse, 3000)
    assert TRUSTING.next_percent(6.0, worse, 120) == impatient.next_percent(6.0, worse, 120)
    # A healthy-looking canary keeps the ordinary budget.
    fine = _with_history([(WindowStats(200, 1, 0, 40, 66, 100), WindowStats(2800, 14, 0, 40, 66, 100))])
    assert fine.evidence.fail_e_value < c.patient_odds
    assert TRUSTING.next_percent(6.0, fine, 3000) == impatient.next_percent(6.0, fine, 3000)


def test_a_severe_regression_in_sight_cannot_starve_the_test() -> None:
    # One error in the first 4 canary requests at a 0.1 % history: 50x is plausible and the severe budget
    # alone would plan about one request a minute, which decides nothing in 30 minutes.
    judgement = _with_history([(WindowStats(4, 1, 0, 40, 66), WindowStats(2996, 3, 0, 40, 66))], 4320)
    c = RampConfig.for_trusted_history()
    assert c.min_period_requests is not None
    starving = AdaptiveRamp(trusted=replace(c, min_period_requests=None))
    assert starving.next_percent(0.2, judgement, 3000) / 100 * 3000 < c.min_period_requests
    assert TRUSTING.next_percent(0.2, judgement, 3000) / 100 * 3000 == pytest.approx(
        c.min_period_requests, rel=1e-3
    )


def test_a_trusting_ramp_reads_the_worst_plausible_regression_off_the_likelihood_not_the_grid() -> None:
    # 5 errors in 300 canary requests against a 0.5 % history (about 1.5 expected at the null rate): the
    # plausible regressions reach about 4.8x. The prior's grid has 4x and then 6x, so reading it would
    # size the next period for 4x.
    judgement = _with_history([(WindowStats(300, 5, 0, 40, 66), WindowStats(2700, 14, 0, 40, 66))])
    history = judgement.evidence.history
    errors, expected = history.canary_errors_5xx, history.null_expected_errors
    assert errors == 5 and expected == pytest.approx(300 * history.null_rate)
    multiple = TRUSTING.worst_plausible_ratio(judgement) / judgement.evidence.null_ratio
    assert 4.0 < multiple < 6.0

    def log_likelihood(r: float) -> float:
        return errors * math.log(r) - (r - 1) * expected

    best = max(1.0, errors / expected)
    odds = RampConfig.for_trusted_history().rule_out_odds
    assert log_likelihood(best) - log_likelihood(multiple) == pytest.approx(math.log(odds), abs=1e-6)


def test_periods_keep_growing_while_the_verdict_nears() -> None:
    # 6 errors in the first 100 canary requests at a 1 % history: the fail evidence is close to its
    # threshold and the budget alone plans under 8 requests for the next minute, a crawl that a mild
    # regression's slowly growing evidence could outlast. The period still carries min_growth times the
    # canary's requests so far.
    judgement = _with_history([(WindowStats(100, 6, 0, 40, 66), WindowStats(2900, 30, 0, 40, 66))], 43_200)
    assert judgement.verdict is Verdict.CONTINUE
    c = RampConfig.for_trusted_history()
    crawling = AdaptiveRamp(trusted=replace(c, min_growth=0.0))
    per_period = 3000
    assert crawling.next_percent(1.0, judgement, per_period) / 100 * per_period < c.min_growth * 100
    assert TRUSTING.next_percent(1.0, judgement, per_period) / 100 * per_period == pytest.approx(
        c.min_growth * 100, rel=1e-3
    )
