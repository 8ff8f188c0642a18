"""The pure state machine: decide(state, observation, policy) with a fake clock and synthetic metrics."""

from __future__ import annotations

from controller.gates import Thresholds
from controller.rollout import Action, Observation, Policy, RolloutState, decide, next_tick_at
from controller.stats import WindowStats
from controller.strategy import build_plan

T0 = 1_000.0
POLICY = Policy(build_plan("recipe", None, None), Thresholds(min_requests=50), interval_s=60, period_s=60)
HEALTHY = WindowStats(500, 0, p99_ms=40)
BASE = WindowStats(4500, 0, p99_ms=40)


def obs(at: float, canary: WindowStats = HEALTHY, baseline: WindowStats = BASE, **kw) -> Observation:
    return Observation(at=T0 + at, canary=canary, baseline=baseline, **kw)


def test_a_healthy_step_keeps_baking_until_its_bake_time_is_over() -> None:
    decision = decide(RolloutState(0, T0), obs(60), POLICY)
    assert decision.action is Action.WAIT
    assert decision.bake_left_s == 60
    assert decision.verdict == "CONTINUE"


def test_a_healthy_step_advances_to_the_next_percent_when_the_bake_is_over() -> None:
    decision = decide(RolloutState(0, T0), obs(120), POLICY)
    assert decision.action is Action.ADVANCE
    assert decision.next_step_index == 1
    assert decision.verdict == "PASS"


def test_the_last_step_passing_means_promote() -> None:
    assert decide(RolloutState(3, T0), obs(120), POLICY).action is Action.PROMOTE


def test_a_failing_gate_rolls_back_at_once_even_mid_bake() -> None:
    decision = decide(RolloutState(0, T0), obs(30, WindowStats(100, 20, p99_ms=40)), POLICY)
    assert decision.action is Action.ROLLBACK
    assert decision.verdict == "FAIL"
    assert [g.gate for g in decision.failed_gates] == ["error_rate", "error_rate_vs_baseline"]


def test_an_alarm_in_alarm_rolls_back() -> None:
    decision = decide(RolloutState(1, T0), obs(10, alarms_in_alarm=("rollback",)), POLICY)
    assert decision.action is Action.ROLLBACK
    assert "rollback" in decision.reason


def test_no_data_is_not_a_pass_the_bake_extends() -> None:
    decision = decide(RolloutState(0, T0), obs(130, WindowStats(0, 0), WindowStats(0, 0)), POLICY)
    assert decision.action is Action.WAIT
    assert "waiting for 0/50 canary requests" in decision.reason


def test_too_few_requests_after_the_extension_fail_safe_to_rollback() -> None:
    # recipe bake 120 s; default extension = max(bake, 3 periods, 2 intervals) = 180 s.
    still_waiting = decide(RolloutState(0, T0), obs(299, WindowStats(20, 0)), POLICY)
    assert still_waiting.action is Action.WAIT
    decision = decide(RolloutState(0, T0), obs(300, WindowStats(20, 0)), POLICY)
    assert decision.action is Action.ROLLBACK
    assert "no data is not a pass" in decision.reason
    assert not decision.failed_gates


def test_an_explicit_extension_limit_is_honoured() -> None:
    policy = Policy(POLICY.plan, POLICY.thresholds, 60, 60, max_extension_s=10)
    assert decide(RolloutState(0, T0), obs(130, WindowStats(0, 0)), policy).action is Action.ROLLBACK


def test_a_step_without_bake_passes_on_its_first_tick_without_data() -> None:
    policy = Policy(build_plan("canary10-5m", None, None), Thresholds(), 60, 60)
    decision = decide(RolloutState(1, T0), obs(0, WindowStats(0, 0), WindowStats(0, 0)), policy)
    assert decision.action is Action.PROMOTE


def test_a_step_without_bake_still_honours_alarms() -> None:
    policy = Policy(build_plan("all-at-once", None, None), Thresholds(), 60, 60)
    decision = decide(RolloutState(0, T0), obs(0, WindowStats(0, 0), alarms_in_alarm=("x",)), policy)
    assert decision.action is Action.ROLLBACK


def test_unknown_alarm_states_never_let_a_step_pass() -> None:
    decision = decide(RolloutState(0, T0), obs(500, alarms_known=False), POLICY)
    assert decision.action is Action.WAIT
    assert "alarms" in decision.reason


def test_ticks_land_exactly_on_the_end_of_the_bake() -> None:
    policy = Policy(build_plan(None, "10,100", "90s"), Thresholds(), interval_s=60, period_s=60)
    state = RolloutState(0, T0)
    assert next_tick_at(state, T0, policy) == T0 + 60
    assert next_tick_at(state, T0 + 60, policy) == T0 + 90
    assert next_tick_at(state, T0 + 90, policy) == T0 + 150


# -- adaptive (judge + ramp) --------------------------------------------------------------------------------

from dataclasses import dataclass  # noqa: E402
from enum import Enum  # noqa: E402

from controller.rollout import AdaptiveState, decide_adaptive  # noqa: E402

ADAPTIVE = Policy(
    build_plan("adaptive", None, "10m"), Thresholds(min_requests=50), interval_s=10, period_s=60
)


class _V(Enum):
    CONTINUE = 1
    PASS = 2
    FAIL = 3


@dataclass(frozen=True)
class _J:
    verdict: _V
    reason: str = "judge says so"


def a_state(percent: float = 5.0) -> AdaptiveState:
    return AdaptiveState(started_at=T0, percent=percent, percent_since=T0, last_evidence_at=T0)


def test_adaptive_moves_to_the_ramps_next_share() -> None:
    decision = decide_adaptive(a_state(5), obs(120, judgement=_J(_V.CONTINUE)), ADAPTIVE, proposal=12.5)
    assert (decision.action, decision.next_percent) == (Action.ADVANCE, 12.5)


def test_adaptive_keeps_the_share_while_the_ramp_holds_it() -> None:
    decision = decide_adaptive(a_state(5), obs(120, judgement=_J(_V.CONTINUE)), ADAPTIVE, proposal=5.0)
    assert decision.action is Action.WAIT


def test_adaptive_promotes_when_the_judge_passes() -> None:
    decision = decide_adaptive(a_state(20), obs(300, judgement=_J(_V.PASS)), ADAPTIVE, proposal=100.0)
    assert decision.action is Action.PROMOTE


def test_adaptive_rolls_back_when_the_judge_fails() -> None:
    decision = decide_adaptive(a_state(20), obs(300, judgement=_J(_V.FAIL, "worse")), ADAPTIVE, proposal=0.0)
    assert decision.action is Action.ROLLBACK
    assert [g.gate for g in decision.failed_gates] == ["judge"]


def test_adaptive_still_rolls_back_on_an_alarm() -> None:
    decision = decide_adaptive(a_state(), obs(30, alarms_in_alarm=("rollback",)), ADAPTIVE, proposal=None)
    assert decision.action is Action.ROLLBACK


def test_adaptive_without_judged_canary_traffic_fails_safe() -> None:
    # default limit: max(5 periods, 3 intervals) = 300 s without a judged period of canary traffic
    assert decide_adaptive(a_state(), obs(299, WindowStats(0, 0)), ADAPTIVE, None).action is Action.WAIT
    decision = decide_adaptive(a_state(), obs(300, WindowStats(0, 0)), ADAPTIVE, None)
    assert decision.action is Action.ROLLBACK and "no data is not a pass" in decision.reason


def test_adaptive_rolls_back_when_the_judge_stays_undecided_past_the_limit() -> None:
    state = AdaptiveState(started_at=T0, percent=20, percent_since=T0, last_evidence_at=T0 + 590)
    decision = decide_adaptive(state, obs(600, judgement=_J(_V.CONTINUE)), ADAPTIVE, proposal=None)
    assert decision.action is Action.ROLLBACK and "did not decide within 600s" in decision.reason
