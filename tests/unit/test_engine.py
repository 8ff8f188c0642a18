"""The engine as a pure state machine: inputs in, actions out, no clock and no AWS."""

from __future__ import annotations

import pytest
from judgements import judgement

from controller import event_types as ev
from controller.domain import AlarmReading, Judgement, Outcome, PeriodSample, Verdict, WindowStats
from controller.engine import (
    Begin,
    Emit,
    Engine,
    EngineSettings,
    HookFinished,
    Interrupt,
    Leave,
    Promote,
    RollBack,
    RunHook,
    SetShare,
    Tick,
    Wait,
)
from controller.gates import Thresholds, builtin_gates
from controller.judge.outliers import NO_OUTLIERS
from controller.strategies import FixedSteps, Policy
from controller.strategy import build_plan

T0 = 600_000.0  # a period boundary
POLICY = Policy(
    build_plan("canary10-5m", None, "2m"), Thresholds(min_requests=10), interval_s=60, period_s=60
)


class ScriptedJudge:
    uses_history = trusts_history = carries_lasting_noise = caps_outliers = False
    outliers = NO_OUTLIERS

    def __init__(self, verdicts: list[Verdict] | None = None) -> None:
        self.seen: list[WindowStats] = []
        self.verdicts = verdicts or []

    def observe(self, canary: WindowStats, baseline: WindowStats) -> Judgement:
        self.seen.append(canary)
        verdict = (
            self.verdicts[len(self.seen) - 1] if len(self.seen) <= len(self.verdicts) else Verdict.CONTINUE
        )
        return judgement(verdict)


def engine(
    hooks: frozenset[str] = frozenset(), lag: float = 60.0, judge=None, on_interrupt="rollback"
) -> Engine:
    gates = builtin_gates(POLICY.thresholds, judge=judge is not None, adaptive=False)
    return Engine(EngineSettings(60, lag, hooks, on_interrupt), FixedSteps(POLICY), gates, judge)


def period(start: float, canary: int = 100, errors: int = 0) -> PeriodSample:
    return PeriodSample(start, WindowStats(canary, errors, p99_ms=40), WindowStats(900, 0, p99_ms=40))


def kinds(actions: list) -> list[str]:
    return [type(a.event).__name__ if isinstance(a, Emit) else type(a).__name__ for a in actions]


def test_a_fresh_rollout_sets_the_first_share_announces_it_and_waits() -> None:
    actions = engine().step(Begin(T0))
    assert kinds(actions) == ["SetShare", "StepStarted", "Wait"]
    assert actions[0] == SetShare(10.0)
    wait = actions[-1]
    assert isinstance(wait, Wait) and wait.until == T0 + 60 and wait.percent == 10.0


def test_the_pre_traffic_hook_runs_before_any_traffic_moves_and_a_failure_rolls_back_at_zero() -> None:
    e = engine(frozenset({"pre-traffic"}))
    assert e.step(Begin(T0)) == [RunHook("pre-traffic", 0.0, 0)]
    actions = e.step(HookFinished(T0 + 5, "pre-traffic", ok=False, reason="smoke failed"))
    assert kinds(actions) == ["GateFailed", "RollBack"]
    assert actions[-1] == RollBack("smoke failed", 0.0)
    assert e.done


def test_a_passing_pre_traffic_hook_starts_the_first_step_when_it_ends() -> None:
    e = engine(frozenset({"pre-traffic"}))
    e.step(Begin(T0))
    actions = e.step(HookFinished(T0 + 30, "pre-traffic", ok=True))
    assert actions[0] == SetShare(10.0)
    assert e.state.step_started_at == T0 + 30


def test_a_resumed_rollout_skips_the_pre_traffic_hook() -> None:
    e = engine(frozenset({"pre-traffic"}))
    assert kinds(e.step(Begin(T0, resumed_percent=10.0))) == ["SetShare", "StepStarted", "Wait"]


def test_a_passed_step_runs_the_post_step_hook_before_moving_on() -> None:
    e = engine(frozenset({"post-step"}))
    e.step(Begin(T0))
    samples = (period(T0), period(T0 + 60))
    actions = e.step(Tick(T0 + 120, samples))
    assert kinds(actions) == ["TickEvent", "RunHook"]
    assert actions[-1] == RunHook("post-step", 10.0, 1)
    after = e.step(HookFinished(T0 + 125, "post-step", ok=True))
    assert after[0] == SetShare(100.0)


def test_the_last_step_passing_promotes() -> None:
    e = engine()
    e.step(Begin(T0))
    e.step(Tick(T0 + 120, (period(T0), period(T0 + 60))))
    actions = e.step(Tick(T0 + 120, ()))  # the 100 % step has no bake: its first tick decides
    assert isinstance(actions[-1], Promote) and e.done


def test_one_slow_request_in_thin_periods_does_not_roll_back_a_fixed_step() -> None:
    """Two periods of 20 canary requests, the first with one cold start: their p99s average 74 ms against a
    40 ms limit, their p90s 10 ms. The gates judge the p90 there (controller/stats.py `TailLatency`)."""
    cold = PeriodSample(
        T0, WindowStats(20, 0, p50_ms=10, p90_ms=10, p99_ms=138), WindowStats(900, 0, p99_ms=10)
    )
    warm = PeriodSample(T0 + 60, WindowStats(20, 0, p50_ms=10, p90_ms=10, p99_ms=10), cold.baseline)
    e = engine()
    e.step(Begin(T0))
    actions = e.step(Tick(T0 + 120, (cold, warm)))
    assert "RollBack" not in kinds(actions), actions
    slow = PeriodSample(T0, WindowStats(20, 0, p50_ms=90, p90_ms=95, p99_ms=99), cold.baseline)
    e = engine()
    e.step(Begin(T0))
    assert kinds(e.step(Tick(T0 + 60, (slow,))))[-1] == "RollBack"


def test_a_failing_gate_rolls_back_with_one_gate_failed_event_per_gate() -> None:
    e = engine()
    e.step(Begin(T0))
    actions = e.step(Tick(T0 + 60, (period(T0, canary=100, errors=30),)))
    assert kinds(actions) == ["TickEvent", "GateFailed", "GateFailed", "RollBack"]
    gates = [a.event.gate for a in actions if isinstance(a, Emit) and isinstance(a.event, ev.GateFailed)]
    assert gates == ["error_rate", "error_rate_vs_baseline"]


def test_the_judge_reads_each_settled_period_once_and_only_after_the_lag() -> None:
    judge = ScriptedJudge()
    e = engine(judge=judge, lag=60)
    e.step(Begin(T0))
    e.step(Tick(T0 + 60, (period(T0, canary=11),)))
    assert judge.seen == []  # [T0, T0+60) settles one period later
    e.step(Tick(T0 + 90, (period(T0, canary=11),)))
    assert judge.seen == []
    e.step(Tick(T0 + 120, (period(T0, canary=12), period(T0 + 60, canary=13))))
    assert [w.requests for w in judge.seen] == [12]  # the late datapoint counted, the period read once
    e.step(Tick(T0 + 180, (period(T0 + 60, canary=13), period(T0 + 120, canary=14))))
    assert [w.requests for w in judge.seen] == [12, 13]


def test_the_next_fetch_starts_at_the_first_whole_period_of_canary_traffic_the_judge_has_yet_to_read() -> (
    None
):
    judge = ScriptedJudge()
    e = engine(judge=judge, lag=60)
    (*_, wait) = e.step(Begin(T0 + 30))
    # The period the share was set in may hold another run's canary traffic (the dimension is the stage's).
    assert isinstance(wait, Wait) and wait.fetch_from == T0 + 60
    (*_, wait) = e.step(Tick(T0 + 150, (period(T0, canary=99), period(T0 + 60))))
    assert wait.fetch_from == T0 + 60  # settled only at T0 + 180
    e.step(Tick(T0 + 180, (period(T0, canary=99), period(T0 + 60, canary=7))))
    assert [w.requests for w in judge.seen] == [7]  # never the period before the canary's first share


def test_a_judge_fail_rolls_back_through_the_judge_gate() -> None:
    e = engine(judge=ScriptedJudge([Verdict.FAIL]), lag=0)
    e.step(Begin(T0))
    actions = e.step(Tick(T0 + 60, (period(T0),)))
    failed = [a.event for a in actions if isinstance(a, Emit) and isinstance(a.event, ev.GateFailed)]
    assert [f.gate for f in failed] == ["judge"]
    assert isinstance(actions[-1], RollBack)


def test_an_interrupt_rolls_back_by_default_and_leaves_the_canary_when_asked() -> None:
    e = engine()
    e.step(Begin(T0))
    actions = e.step(Interrupt(T0 + 10))
    assert actions[-1] == RollBack("interrupted (SIGINT/SIGTERM)", 10.0, Outcome.INTERRUPTED)
    left = engine(on_interrupt="leave")
    left.step(Begin(T0))
    assert left.step(Interrupt(T0 + 10))[-1] == Leave(10.0)


def test_unknown_alarm_states_are_reported_on_the_tick() -> None:
    e = engine()
    e.step(Begin(T0))
    actions = e.step(Tick(T0 + 60, (period(T0),), AlarmReading(known=False)))
    (tick,) = [a.event for a in actions if isinstance(a, Emit)]
    assert any(g.gate == "alarms" and g.status == "NO_DATA" for g in tick.gates)


def test_a_finished_engine_refuses_more_input() -> None:
    e = engine(frozenset({"pre-traffic"}))
    e.step(Begin(T0))
    e.step(HookFinished(T0, "pre-traffic", ok=False, reason="no"))
    with pytest.raises(RuntimeError):
        e.step(Tick(T0 + 60))
