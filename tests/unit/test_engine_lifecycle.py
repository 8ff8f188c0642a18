"""The engine's lifecycle around the steps, with a fake clock: every hook point in order, the approval hold,
pause and resume, abort, and the post-promotion guard that undoes a release."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from test_engine import POLICY, T0, kinds, period

from controller import lifecycle_events as lev
from controller.domain import Outcome, PeriodSample, WindowStats
from controller.engine import (
    ABORT,
    APPROVE,
    HOOK_POINTS,
    PAUSE,
    RESUME,
    Begin,
    Emit,
    Engine,
    EngineSettings,
    Hold,
    HookFinished,
    Prepare,
    Prepared,
    Promote,
    RollBack,
    RunHook,
    SetShare,
    Tick,
    Undo,
    UserRequest,
    Wait,
)
from controller.gates import builtin_gates
from controller.guard import GuardTest
from controller.strategies import FixedSteps


def engine(hooks=(), **settings) -> Engine:
    gates = builtin_gates(POLICY.thresholds, judge=False, adaptive=False)
    config = EngineSettings(60, 0.0, frozenset(hooks), prepare=True, tick_s=30, **settings)
    return Engine(config, FixedSteps(POLICY), gates)


def to_last_step(e: Engine, at: float = T0) -> list:
    """Begin, prepare, and pass the 10 % step: the engine is at its 100 % decision."""
    e.step(Begin(at))
    e.step(Prepared(at))
    return e.step(Tick(at + 120, (period(at), period(at + 60))))


def events_of(actions: list, cls: type) -> list:
    return [a.event for a in actions if isinstance(a, Emit) and isinstance(a.event, cls)]


def live(start: float, requests: int = 1000, errors: int = 0) -> PeriodSample:
    """A period after the promotion: production serves the new release alone (no canary)."""
    return PeriodSample(start, WindowStats(0, 0), WindowStats(requests, errors, p99_ms=40))


def test_every_hook_point_fires_once_in_the_documented_order_on_a_promoted_run() -> None:
    e = engine(HOOK_POINTS)
    ran: list[str] = []

    def feed(actions: list, at: float) -> list:
        while actions and isinstance(actions[-1], RunHook | Prepare):
            last = actions[-1]
            if isinstance(last, Prepare):
                actions = e.step(Prepared(at))
                continue
            ran.append(last.hook)
            actions = e.step(HookFinished(at, last.hook, ok=True))
        return actions

    feed(e.step(Begin(T0)), T0)
    feed(e.step(Tick(T0 + 120, (period(T0), period(T0 + 60)))), T0 + 120)
    feed(e.step(Tick(T0 + 150, ())), T0 + 150)
    assert ran == ["confirm-rollout", "pre-traffic", "post-step", "post-step", "confirm-promotion",
                   "post-promotion"]  # fmt: skip
    assert e.done and e.outcome is Outcome.PROMOTED


def test_a_failing_confirm_rollout_hook_stops_before_anything_changes() -> None:
    e = engine({"confirm-rollout", "on-rollback"})
    assert e.step(Begin(T0)) == [RunHook("confirm-rollout", 0.0, 0)]
    actions = e.step(HookFinished(T0 + 1, "confirm-rollout", ok=False, reason="change freeze"))
    assert kinds(actions) == ["GateFailed", "Refused", "Refuse"]  # no Prepare, no RollBack, no on-rollback
    assert e.done and e.outcome is Outcome.ROLLED_BACK


def test_a_failing_confirm_promotion_hook_rolls_back_then_runs_on_rollback() -> None:
    e = engine({"confirm-promotion", "on-rollback"})
    to_last_step(e)
    actions = e.step(Tick(T0 + 150, ()))
    assert actions[-1] == RunHook("confirm-promotion", 100.0, 2, actions[-1].reason)
    actions = e.step(HookFinished(T0 + 151, "confirm-promotion", ok=False, reason="ticket closed"))
    assert kinds(actions) == ["GateFailed", "RollBack", "RunHook"]
    assert actions[-1].hook == "on-rollback" and actions[-1].reason == "ticket closed"
    e.step(HookFinished(T0 + 152, "on-rollback", ok=True))
    assert e.done and e.outcome is Outcome.ROLLED_BACK


def test_approval_holds_at_the_last_step_until_approved_then_promotes() -> None:
    e = engine(approval=True, approval_timeout_s=600)
    to_last_step(e)
    actions = e.step(Tick(T0 + 150, ()))
    assert kinds(actions) == ["TickEvent", "HoldStarted", "Hold", "Wait"]
    assert actions[2] == Hold("approval", T0 + 750)
    held = e.step(Tick(T0 + 180, (period(T0 + 120),)))
    assert kinds(held) == ["TickEvent", "Wait"]  # gates judged, share kept
    actions = e.step(Tick(T0 + 210, (), request=UserRequest(APPROVE, "alice")))
    assert kinds(actions) == ["HoldEnded", "Hold", "Promote"]
    assert events_of(actions, lev.HoldEnded)[0].action == "approved"
    assert e.done and e.outcome is Outcome.PROMOTED


def test_an_abort_while_held_for_approval_rolls_back() -> None:
    e = engine({"on-rollback"}, approval=True)
    to_last_step(e)
    e.step(Tick(T0 + 150, ()))
    actions = e.step(Tick(T0 + 180, (), request=UserRequest(ABORT, "bob")))
    assert kinds(actions) == ["HoldEnded", "Hold", "RollBack", "RunHook"]
    assert actions[2] == RollBack("aborted by bob", 100.0)


def test_no_approval_within_the_timeout_rolls_back() -> None:
    e = engine(approval=True, approval_timeout_s=60)
    to_last_step(e)
    e.step(Tick(T0 + 150, ()))
    actions = e.step(Tick(T0 + 210, ()))
    assert isinstance(actions[-1], RollBack) and "no approval within 60s" in actions[-1].reason
    assert events_of(actions, lev.HoldEnded)[0].action == "timed_out"


def test_a_failing_gate_while_held_still_rolls_back() -> None:
    e = engine(approval=True)
    to_last_step(e)
    e.step(Tick(T0 + 150, ()))
    actions = e.step(Tick(T0 + 240, (period(T0 + 120, canary=100, errors=40),)))
    assert isinstance(actions[-1], RollBack)
    assert events_of(actions, lev.HoldEnded)[0].action == "rolled_back"


def test_pause_holds_the_share_past_its_bake_and_resume_finishes_the_bake_where_it_stopped() -> None:
    e = engine()
    e.step(Begin(T0))
    e.step(Prepared(T0))
    actions = e.step(Tick(T0 + 60, (period(T0),), request=UserRequest(PAUSE, "carol")))
    assert kinds(actions) == ["HoldStarted", "Hold", "Wait"] and actions[1] == Hold("pause")
    for at in (T0 + 120, T0 + 300, T0 + 600):  # the 2 m bake is long over: still 10 %
        held = e.step(Tick(at, (period(at - 60),)))
        assert not any(isinstance(a, SetShare | Promote) for a in held)
    actions = e.step(Tick(T0 + 660, (), request=UserRequest(RESUME, "carol")))
    assert kinds(actions) == ["HoldEnded", "Hold", "Wait"]
    assert e.state.step_started_at == T0 + 600  # paused 600 s: the bake has 60 s left
    actions = e.step(Tick(T0 + 720, (period(T0 + 600), period(T0 + 660))))
    assert SetShare(100.0) in actions


def test_the_guard_undoes_a_release_that_turns_bad_after_the_promotion() -> None:
    e = engine({"on-rollback", "post-promotion"}, guard_s=600)
    to_last_step(e)
    actions = e.step(Tick(T0 + 150, ()))
    assert kinds(actions) == ["TickEvent", "Promote", "GuardStarted", "Wait"]
    wait = actions[-1]
    assert isinstance(wait, Wait) and wait.promoted and wait.fetch_from == T0 + 180
    e.step(Tick(T0 + 240, (live(T0 + 180),)))
    actions = e.step(Tick(T0 + 300, (live(T0 + 240, errors=80),)))
    assert kinds(actions)[-3:] == ["GuardEnded", "Undo", "RunHook"]  # on-rollback, never post-promotion
    assert isinstance(actions[-2], Undo) and actions[-1].hook == "on-rollback"
    e.step(HookFinished(T0 + 301, "on-rollback", ok=True))
    assert e.outcome is Outcome.UNDONE


def test_the_guard_is_held_to_todays_rate_when_the_former_version_errs_more_than_its_history() -> None:
    built: list[GuardTest] = []
    handed: list[Sequence[WindowStats]] = []

    def guard(
        reference: WindowStats, today: WindowStats | None = None, beside: Sequence[WindowStats] = ()
    ) -> GuardTest:
        built.append(GuardTest(reference, today=today))
        handed.append(beside)
        return built[-1]

    gates = builtin_gates(POLICY.thresholds, judge=False, adaptive=False)
    settings = EngineSettings(60, 0.0, frozenset(), prepare=True, tick_s=30, guard_s=600)
    e = Engine(settings, FixedSteps(POLICY), gates, None, guard)
    e.step(Begin(T0, reference=WindowStats(1_000_000, 1_000)))  # 0.1 % over the day before
    e.step(Prepared(T0))
    risen = [
        PeriodSample(t, WindowStats(100, 1, p99_ms=40), WindowStats(900, 9, p99_ms=40)) for t in (T0, T0 + 60)
    ]
    e.step(Tick(T0 + 120, tuple(risen)))  # 1 % today, beside the canary
    e.step(Tick(T0 + 150, ()))
    assert len(built) == 1 and built[0].reference.requests == 1_000_000
    assert built[0].allowed == pytest.approx(2 * 0.01)  # 2x (the default ratio) today's 1 %, not 0.1 %
    # And the former version's periods beside the canary, oldest first (`--guard-slow` reads them).
    assert list(handed[0]) == [sample.baseline for sample in risen]
    # A release erring at today's rate stays promoted.
    for minute in range(3, 10):
        actions = e.step(Tick(T0 + 60 * minute + 60, (live(T0 + 60 * minute, errors=10),)))
        assert not any(isinstance(a, Undo) for a in actions)


@pytest.mark.parametrize(
    ("day_p99_ms", "reference_p99_ms"),
    [(120.0, 120.0), (30.0, 40.0), (None, 40.0)],
    ids=["the day's tail is slower", "the tail beside the canary is slower", "no p99 read with the day"],
)
def test_the_guards_p99_reference_is_the_higher_of_the_days_and_the_one_beside_the_canary(
    day_p99_ms: float | None, reference_p99_ms: float
) -> None:
    built: list[GuardTest] = []

    def guard(
        reference: WindowStats, today: WindowStats | None = None, beside: Sequence[WindowStats] = ()
    ) -> GuardTest:
        built.append(GuardTest(reference, today=today))
        return built[-1]

    gates = builtin_gates(POLICY.thresholds, judge=False, adaptive=False)
    settings = EngineSettings(60, 0.0, frozenset(), prepare=True, tick_s=30, guard_s=600)
    e = Engine(settings, FixedSteps(POLICY), gates, None, guard)
    e.step(Begin(T0, reference=WindowStats(1_000_000, 1_000, p99_ms=day_p99_ms)))
    e.step(Prepared(T0))
    beside = [
        PeriodSample(t, WindowStats(100, 0, p99_ms=40), WindowStats(900, 0, p99_ms=40)) for t in (T0, T0 + 60)
    ]
    e.step(Tick(T0 + 120, tuple(beside)))
    e.step(Tick(T0 + 150, ()))
    assert len(built) == 1 and built[0].reference.p99_ms == reference_p99_ms
    assert built[0].p99_limit_ms == reference_p99_ms * 1.5 + 25
    # A release whose tail sits at the day's usual p99 is not undone for it (the limit: 1.5x + 25 ms).
    slow = [PeriodSample(T0 + 60 * m, WindowStats(0, 0), WindowStats(1000, 0, p99_ms=110)) for m in (3, 4, 5)]
    undone = any(isinstance(a, Undo) for sample in slow for a in e.step(Tick(sample.start + 60, (sample,))))
    assert undone is (reference_p99_ms == 40.0)


def test_a_quiet_guard_passes_then_the_post_promotion_hook_runs() -> None:
    e = engine({"post-promotion"}, guard_s=120)
    to_last_step(e)
    e.step(Tick(T0 + 150, ()))
    e.step(Tick(T0 + 240, (live(T0 + 180, errors=1),)))
    actions = e.step(Tick(T0 + 300, (live(T0 + 240),)))
    assert kinds(actions)[-2:] == ["GuardEnded", "RunHook"] and actions[-1].hook == "post-promotion"
    actions = e.step(HookFinished(T0 + 310, "post-promotion", ok=False, reason="contract failed"))
    assert kinds(actions) == ["WarningEvent"]
    assert e.outcome is Outcome.PROMOTED_HOOK_FAILED  # reported, exit non-zero, nothing undone


def test_the_guard_test_stays_quiet_at_the_former_rate_and_fails_a_tenfold_rate() -> None:
    reference = WindowStats(100_000, 100)  # 0.1 % before the rollout
    quiet = GuardTest(reference)
    assert not any(quiet.observe(WindowStats(1000, 1)).failed for _ in range(200))
    bad = GuardTest(reference)
    results = [bad.observe(WindowStats(1000, 10)) for _ in range(10)]
    assert results[-1].failed and "5XX rate above" in results[-1].reason


def test_the_guard_fails_a_slower_release_on_p99_in_its_second_slow_period() -> None:
    guard = GuardTest(WindowStats(10_000, 0, p99_ms=100))
    assert not guard.observe(WindowStats(500, 0, p99_ms=400)).failed
    result = guard.observe(WindowStats(500, 0, p99_ms=380))
    assert result.failed and "p99 380 ms above 175 ms" in result.reason
    assert "slowest period left out" in result.reason


def test_one_minute_every_version_would_have_been_slow_in_does_not_undo_a_release() -> None:
    guard = GuardTest(WindowStats(10_000, 0, p99_ms=100))
    periods = [WindowStats(3000, 0, p99_ms=ms) for ms in (100, 240, 102, 98, 101)]
    assert not any(guard.observe(p).failed for p in periods)
    assert guard.observe(WindowStats(3000, 0, p99_ms=240)).failed is False  # 2 of 6: the mean stays under


def test_the_guard_judges_a_thin_periods_p90_not_its_slowest_request() -> None:
    guard = GuardTest(WindowStats(10_000, 0, p99_ms=100))
    cold_start = WindowStats(60, 0, p50_ms=90, p90_ms=100, p99_ms=900)
    assert not guard.observe(cold_start).failed
    slow = WindowStats(60, 0, p50_ms=380, p90_ms=400, p99_ms=900)
    assert not guard.observe(slow).failed  # the slowest period left out
    result = guard.observe(slow)
    assert result.failed and "p90" in result.reason
