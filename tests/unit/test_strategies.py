"""The two strategy types, as pure functions of what one tick shows them (fake clock, synthetic windows)."""

from __future__ import annotations

from dataclasses import dataclass

from judgements import judgement

from controller.domain import AlarmReading, GateResult, Judgement, PeriodSample, Verdict
from controller.gates import GateInput, Thresholds, builtin_gates, evaluate
from controller.stats import WindowStats
from controller.strategies import Action, Adaptive, FixedSteps, Policy, Share, StepView
from controller.strategy import build_plan

T0 = 1_000.0
POLICY = Policy(build_plan("recipe", None, None), Thresholds(min_requests=50), interval_s=60, period_s=60)
HEALTHY = WindowStats(500, 0, p99_ms=40)
BASE = WindowStats(4500, 0, p99_ms=40)


def gates_for(
    policy: Policy, canary: WindowStats, baseline: WindowStats, firing=(), known=True, judged=None
) -> tuple[GateResult, ...]:
    reading = AlarmReading(tuple((name, "ALARM") for name in firing), known)
    built_in = builtin_gates(policy.thresholds, judge=True, adaptive=policy.plan.adaptive)
    return evaluate(built_in, GateInput(canary, baseline, reading, judged))


def view(
    at: float,
    share: Share,
    canary: WindowStats = HEALTHY,
    baseline: WindowStats = BASE,
    policy: Policy = POLICY,
    firing: tuple[str, ...] = (),
    known: bool = True,
    judged: Judgement | None = None,
    judged_now: tuple[PeriodSample, ...] = (),
    last_evidence_at: float = T0,
) -> StepView:
    return StepView(
        at=T0 + at,
        share=share,
        step_started_at=T0,
        rollout_started_at=T0,
        canary=canary,
        gates=gates_for(policy, canary, baseline, firing, known, judged),
        alarms_known=known,
        judgement=judged,
        judged_now=judged_now,
        last_evidence_at=last_evidence_at,
    )


FIXED = FixedSteps(POLICY)
FIRST = FIXED.first_share(None, 0, False)


def step(n: int, policy: Policy = POLICY) -> Share:
    steps = policy.plan.steps
    return Share(steps[n].percent, n + 1, len(steps), steps[n].bake_s)


def test_a_healthy_step_keeps_baking_until_its_bake_time_is_over() -> None:
    decision = FIXED.decide(view(60, FIRST))
    assert decision.action is Action.WAIT
    assert decision.bake_left_s == 60
    assert decision.verdict == "CONTINUE"


def test_a_healthy_step_advances_to_the_next_share_when_the_bake_is_over() -> None:
    decision = FIXED.decide(view(120, FIRST))
    assert decision.action is Action.ADVANCE
    assert decision.next_share == step(1)
    assert decision.verdict == "PASS"


def test_the_last_step_passing_means_promote() -> None:
    assert FIXED.decide(view(120, step(3))).action is Action.PROMOTE


def test_a_failing_gate_rolls_back_at_once_even_mid_bake() -> None:
    decision = FIXED.decide(view(30, FIRST, WindowStats(100, 20, p99_ms=40)))
    assert decision.action is Action.ROLLBACK
    assert decision.verdict == "FAIL"
    assert [g.gate for g in decision.failed_gates] == ["error_rate", "error_rate_vs_baseline"]


def test_an_alarm_in_alarm_rolls_back() -> None:
    decision = FIXED.decide(view(10, step(1), firing=("rollback",)))
    assert decision.action is Action.ROLLBACK
    assert "rollback" in decision.reason


def test_no_data_is_not_a_pass_the_bake_extends() -> None:
    decision = FIXED.decide(view(130, FIRST, WindowStats(0, 0), WindowStats(0, 0)))
    assert decision.action is Action.WAIT
    assert "waiting for 0/50 canary requests" in decision.reason


def test_too_few_requests_after_the_extension_fail_safe_to_rollback() -> None:
    # recipe bake 120 s; default extension = max(bake, 3 periods, 2 intervals) = 180 s.
    assert FIXED.decide(view(299, FIRST, WindowStats(20, 0))).action is Action.WAIT
    decision = FIXED.decide(view(300, FIRST, WindowStats(20, 0)))
    assert decision.action is Action.ROLLBACK
    assert "no data is not a pass" in decision.reason
    assert not decision.failed_gates


def test_an_explicit_extension_limit_is_honoured() -> None:
    policy = Policy(POLICY.plan, POLICY.thresholds, 60, 60, max_extension_s=10)
    decision = FixedSteps(policy).decide(view(130, FIRST, WindowStats(0, 0), policy=policy))
    assert decision.action is Action.ROLLBACK


def test_a_step_without_bake_passes_on_its_first_tick_without_data() -> None:
    policy = Policy(build_plan("canary10-5m", None, None), Thresholds(), 60, 60)
    decision = FixedSteps(policy).decide(
        view(0, step(1, policy), WindowStats(0, 0), WindowStats(0, 0), policy)
    )
    assert decision.action is Action.PROMOTE


def test_a_step_without_bake_still_honours_alarms() -> None:
    policy = Policy(build_plan("all-at-once", None, None), Thresholds(), 60, 60)
    tick = view(0, step(0, policy), WindowStats(0, 0), policy=policy, firing=("x",))
    assert FixedSteps(policy).decide(tick).action is Action.ROLLBACK


def test_unknown_alarm_states_never_let_a_step_pass() -> None:
    decision = FIXED.decide(view(500, FIRST, known=False))
    assert decision.action is Action.WAIT
    assert "alarms" in decision.reason


def test_ticks_land_exactly_on_the_end_of_the_bake() -> None:
    policy = Policy(build_plan(None, "10,100", "90s"), Thresholds(), interval_s=60, period_s=60)
    first = FixedSteps(policy).first_share(None, 0, False)
    wake = FixedSteps(policy).next_wake
    assert wake(T0, first, T0, 1) == T0 + 60
    assert wake(T0 + 60, first, T0, 2) == T0 + 90
    assert wake(T0 + 90, first, T0, 3) == T0 + 150


def test_a_step_without_bake_is_ticked_at_once() -> None:
    policy = Policy(build_plan("all-at-once", None, None), Thresholds(), 60, 60)
    assert FixedSteps(policy).next_wake(T0, step(0, policy), T0, 0) == T0


def test_a_resumed_rollout_continues_at_the_first_step_at_or_above_its_share() -> None:
    assert FIXED.first_share(25.0, 0, False) == step(1)
    assert FIXED.first_share(30.0, 0, False) == step(2)


# -- adaptive (judge + ramp) --------------------------------------------------------------------------------

ADAPTIVE = Policy(
    build_plan("adaptive", None, "10m"), Thresholds(min_requests=50), interval_s=10, period_s=60
)
PERIOD = (PeriodSample(T0, HEALTHY, BASE),)


@dataclass
class FixedRamp:
    """A ramp that proposes one share, whatever the evidence."""

    proposal: float
    first: float = 5.0

    def initial_percent(self, requests_per_period: float, trusts_history: bool = False) -> float:
        return self.first

    def next_percent(self, current: float, judged: Judgement, requests_per_period: float) -> float:
        return self.proposal


def adaptive(proposal: float) -> Adaptive:
    return Adaptive(ADAPTIVE, FixedRamp(proposal))


def test_adaptive_starts_at_the_ramps_first_share() -> None:
    assert adaptive(5).first_share(None, 1000, True) == Share(5.0, 1)


def test_adaptive_moves_to_the_ramps_next_share() -> None:
    tick = view(120, Share(5, 1), policy=ADAPTIVE, judged=judgement(Verdict.CONTINUE), judged_now=PERIOD)
    decision = adaptive(12.5).decide(tick)
    assert (decision.action, decision.next_share) == (Action.ADVANCE, Share(12.5, 2))


def test_adaptive_keeps_the_share_while_the_ramp_holds_it() -> None:
    tick = view(120, Share(5, 1), policy=ADAPTIVE, judged=judgement(Verdict.CONTINUE), judged_now=PERIOD)
    assert adaptive(5).decide(tick).action is Action.WAIT


def test_adaptive_does_not_ask_the_ramp_when_the_judge_read_nothing_new() -> None:
    tick = view(120, Share(5, 1), policy=ADAPTIVE, judged=judgement(Verdict.CONTINUE))
    assert adaptive(50).decide(tick).action is Action.WAIT


def test_adaptive_promotes_when_the_judge_passes() -> None:
    tick = view(300, Share(20, 3), policy=ADAPTIVE, judged=judgement(Verdict.PASS), judged_now=PERIOD)
    assert adaptive(100).decide(tick).action is Action.PROMOTE


def test_adaptive_rolls_back_when_the_judge_fails() -> None:
    tick = view(
        300, Share(20, 3), policy=ADAPTIVE, judged=judgement(Verdict.FAIL, "worse"), judged_now=PERIOD
    )
    decision = adaptive(0).decide(tick)
    assert decision.action is Action.ROLLBACK
    assert [g.gate for g in decision.failed_gates] == ["judge"]


def test_adaptive_still_rolls_back_on_an_alarm() -> None:
    decision = adaptive(5).decide(view(30, Share(5, 1), policy=ADAPTIVE, firing=("rollback",)))
    assert decision.action is Action.ROLLBACK


def test_adaptive_without_judged_canary_traffic_fails_safe() -> None:
    # default limit: max(5 periods, 3 intervals) = 300 s without a judged period of canary traffic
    quiet = WindowStats(0, 0)
    assert adaptive(5).decide(view(299, Share(5, 1), quiet, policy=ADAPTIVE)).action is Action.WAIT
    decision = adaptive(5).decide(view(300, Share(5, 1), quiet, policy=ADAPTIVE))
    assert decision.action is Action.ROLLBACK and "no data is not a pass" in decision.reason


def test_adaptive_rolls_back_when_the_judge_stays_undecided_past_the_limit() -> None:
    tick = view(
        600, Share(20, 4), policy=ADAPTIVE, judged=judgement(Verdict.CONTINUE), last_evidence_at=T0 + 590
    )
    decision = adaptive(20).decide(tick)
    assert decision.action is Action.ROLLBACK and "did not decide within 600s" in decision.reason
