"""The wave engine (controller/waves.py) with a fake clock: waves in order, bounded concurrency, the bake,
a failure stopping the plan under hold and revert, resuming from records, and interrupts."""

from __future__ import annotations

from controller import plan_events as pev
from controller.engine_io import Emit
from controller.waves import (
    ERROR,
    NOTHING_TO_DO,
    PROMOTED,
    ROLLED_BACK,
    AbortStacks,
    BakeCheck,
    PlanBegin,
    PlanDone,
    PlanInterrupt,
    RevertDone,
    RevertStack,
    StackDone,
    StartStack,
    WatchBake,
    WaveEngine,
    WaveSettings,
)

T0 = 1_700_000_000.0


def engine(waves: list[list[str]], policy: str = "hold", bake_s: float = 600, concurrency: int = 10):
    stacks = [
        pev.PlannedStack(name, number, "us-east-1", f"api-{name}", "r1")
        for number, names in enumerate(waves, start=1)
        for name in names
    ]
    return WaveEngine(WaveSettings("plan1", "checkout", policy, bake_s, concurrency), stacks)


def started(actions: list) -> list[str]:
    return [a.stack for a in actions if isinstance(a, StartStack)]


def emitted(actions: list, cls: type) -> list:
    return [a.event for a in actions if isinstance(a, Emit) and isinstance(a.event, cls)]


def done(actions: list) -> str | None:
    return next((a.outcome for a in actions if isinstance(a, PlanDone)), None)


def test_the_first_wave_starts_alone_and_the_second_waits_for_the_bake_after_its_promotion() -> None:
    e = engine([["use1"], ["euw1", "apse2"]])
    first = e.step(PlanBegin(T0))
    assert started(first) == ["use1"]
    assert emitted(first, pev.PlanStarted)[0].waves == 2
    baking = e.step(StackDone(T0 + 300, "use1", PROMOTED, "all steps passed"))
    assert started(baking) == []
    watch = baking[-1]
    assert isinstance(watch, WatchBake) and watch.until == T0 + 900 and watch.stacks == ("use1",)
    assert emitted(baking, pev.BakeStarted)[0].wave == 1
    assert isinstance(e.step(BakeCheck(T0 + 600))[-1], WatchBake)  # quiet, not over yet
    second = e.step(BakeCheck(T0 + 900))
    assert emitted(second, pev.BakeEnded)[0].outcome == "passed"
    assert started(second) == ["euw1", "apse2"]
    e.step(StackDone(T0 + 1200, "euw1", PROMOTED))
    last = e.step(StackDone(T0 + 1210, "apse2", PROMOTED))
    assert done(last) == "promoted"
    finished = emitted(last, pev.PlanFinished)[0]
    assert finished.promoted == ("use1", "euw1", "apse2") and finished.seconds == 1210


def test_a_wave_rolls_at_most_concurrency_stacks_at_once_and_starts_the_next_as_one_ends() -> None:
    e = engine([[f"s{i}" for i in range(5)]], concurrency=2)
    assert started(e.step(PlanBegin(T0))) == ["s0", "s1"]
    assert started(e.step(StackDone(T0 + 10, "s1", PROMOTED))) == ["s2"]
    assert started(e.step(StackDone(T0 + 20, "s0", NOTHING_TO_DO))) == ["s3"]
    assert started(e.step(StackDone(T0 + 30, "s2", PROMOTED))) == ["s4"]
    e.step(StackDone(T0 + 40, "s3", PROMOTED))
    assert done(e.step(StackDone(T0 + 50, "s4", PROMOTED))) == "promoted"


def test_a_rollback_in_wave_one_stops_the_plan_and_wave_two_never_starts() -> None:
    e = engine([["use1", "use2"], ["euw1"]])
    e.step(PlanBegin(T0))
    failed = e.step(StackDone(T0 + 100, "use1", ROLLED_BACK, "judge: canary worse"))
    abort = [a for a in failed if isinstance(a, AbortStacks)]
    assert abort and "use1 (wave 1) rolled back: judge: canary worse" in abort[0].reason
    assert not abort[0].undo_promoted  # hold: nothing promoted is undone
    last = e.step(StackDone(T0 + 110, "use2", ROLLED_BACK, "aborted"))
    assert started(last) == [] and done(last) == "rolled_back"
    finished = emitted(last, pev.PlanFinished)[0]
    assert finished.rolled_back == ("use1", "use2") and finished.not_started == ("euw1",)
    assert emitted(last, pev.WaveFinished)[0].outcome == "failed"


def test_revert_undoes_every_promotion_of_the_plan_latest_wave_first_after_a_failure_in_wave_two() -> None:
    e = engine([["use1"], ["euw1", "apse2"]], policy="revert", bake_s=0)
    e.step(PlanBegin(T0, done={"use0": T0 - 50}))
    wave2 = e.step(StackDone(T0 + 100, "use1", PROMOTED))
    assert started(wave2) == ["euw1", "apse2"]  # no bake configured
    e.step(StackDone(T0 + 200, "apse2", PROMOTED))
    reverting = e.step(StackDone(T0 + 210, "euw1", ROLLED_BACK, "5XX rate"))
    assert [a.stack for a in reverting if isinstance(a, RevertStack)] == ["apse2", "use1"]
    assert emitted(reverting, pev.PlanReverting)[0].stacks == ("apse2", "use1")
    assert done(e.step(RevertDone(T0 + 220, "apse2", True))) is None
    last = e.step(RevertDone(T0 + 230, "use1", True))
    assert done(last) == "rolled_back"
    assert emitted(last, pev.PlanFinished)[0].reverted == ("use1", "apse2")


def test_under_revert_the_abort_also_undoes_a_stack_promoted_but_still_guarded() -> None:
    e = engine([["a", "b"]], policy="revert")
    e.step(PlanBegin(T0))
    abort = [x for x in e.step(StackDone(T0 + 10, "a", ROLLED_BACK, "bad")) if isinstance(x, AbortStacks)]
    assert abort[0].undo_promoted


def test_a_stack_error_ends_the_plan_in_error_and_a_failed_revert_too() -> None:
    e = engine([["a"], ["b"]], policy="revert", bake_s=0)
    e.step(PlanBegin(T0))
    e.step(StackDone(T0 + 10, "a", PROMOTED))
    reverting = e.step(StackDone(T0 + 20, "b", ERROR, "lock held"))
    assert [x.stack for x in reverting if isinstance(x, RevertStack)] == ["a"]
    last = e.step(RevertDone(T0 + 30, "a", False, "slot a has new code"))
    assert done(last) == "error"
    assert emitted(last, pev.PlanFinished)[0].failed == ("b", "a")


def test_a_rerun_skips_stacks_promoted_for_this_release_and_resumes_the_bake_from_their_record() -> None:
    e = engine([["use1"], ["euw1"]], bake_s=600)
    first = e.step(PlanBegin(T0, done={"use1": T0 - 200}))
    assert emitted(first, pev.StackSkipped)[0].stack == "use1"
    assert started(first) == []
    watch = first[-1]
    assert isinstance(watch, WatchBake) and watch.until == T0 + 400  # 600 s after the recorded promotion
    assert started(e.step(BakeCheck(T0 + 400))) == ["euw1"]


def test_a_rerun_long_after_the_bake_goes_straight_to_the_next_wave() -> None:
    e = engine([["use1"], ["euw1"]], bake_s=600)
    first = e.step(PlanBegin(T0, done={"use1": T0 - 3600}))
    assert emitted(first, pev.BakeEnded)[0].outcome == "passed"
    assert started(first) == ["euw1"]


def test_an_alarm_during_the_bake_stops_the_plan_before_the_next_wave() -> None:
    e = engine([["use1"], ["euw1"]], policy="revert")
    e.step(PlanBegin(T0))
    e.step(StackDone(T0 + 100, "use1", PROMOTED))
    failed = e.step(BakeCheck(T0 + 200, ("use1: use1-canary-5xx",)))
    assert emitted(failed, pev.BakeEnded)[0].outcome == "failed"
    assert [x.stack for x in failed if isinstance(x, RevertStack)] == ["use1"]
    assert started(failed) == []


def test_an_interrupt_during_the_bake_ends_the_plan_without_touching_anything() -> None:
    e = engine([["use1"], ["euw1"]])
    e.step(PlanBegin(T0))
    e.step(StackDone(T0 + 100, "use1", PROMOTED))
    last = e.step(PlanInterrupt(T0 + 150))
    assert done(last) == "interrupted"
    assert not [a for a in last if isinstance(a, RevertStack | StartStack)]


def test_an_interrupt_in_a_wave_starts_nothing_more_and_ends_when_the_running_stacks_stop() -> None:
    e = engine([["a", "b", "c"]], concurrency=2)
    e.step(PlanBegin(T0))
    assert e.step(PlanInterrupt(T0 + 5)) == []
    assert started(e.step(StackDone(T0 + 6, "a", "interrupted"))) == []
    last = e.step(StackDone(T0 + 7, "b", "interrupted"))
    assert done(last) == "interrupted"
    assert emitted(last, pev.PlanFinished)[0].not_started == ("c",)


def test_every_plan_event_names_its_wave_and_stack_events_their_stack() -> None:
    e = engine([["use1"], ["euw1"]], bake_s=0)
    actions = e.step(PlanBegin(T0)) + e.step(StackDone(T0 + 1, "use1", PROMOTED))
    actions += e.step(StackDone(T0 + 2, "euw1", PROMOTED))
    for event in (a.event for a in actions if isinstance(a, Emit)):
        if isinstance(event, pev.WaveStarted | pev.WaveFinished):
            assert event.wave in (1, 2)
        if isinstance(event, pev.StackFinished):
            assert (event.stack, event.wave) in (("use1", 1), ("euw1", 2))
