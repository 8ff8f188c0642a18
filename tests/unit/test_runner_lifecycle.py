"""`shift`'s lifecycle through the runner, in a fake world: requests written on the stage by the commands,
the confirm-rollout hook before any change, the guard's undo, and `undo` with its refusal."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from rollout_world import CFG, World

from controller import request_commands
from controller.aws.functions import FunctionIdentity
from controller.domain import BaselineHistory, Outcome
from controller.errors import StateConflict
from controller.events import Recorder
from controller.holds import HOLD_VARIABLE, REQUEST_VARIABLE
from controller.traffic import PROMOTED_VARIABLE
from controller.undo import undo


@dataclass
class FakeFunctions:
    """GetFunctionConfiguration's answers per function name."""

    identities: dict[str, FunctionIdentity] = field(
        default_factory=lambda: {
            slot.function_name: FunctionIdentity(f"{slot.name}-sha", f"{slot.name}-rev-1", "$LATEST")
            for slot in CFG.slots
        }
    )

    def identity(self, function_name: str) -> FunctionIdentity:
        return self.identities[function_name]


def at_time(world: World, when: float, do) -> None:
    """Run `do()` once, the first time the fake clock passes `when` (a user at another machine)."""
    start, done = world.clock(), []

    def on_sleep(now: float) -> None:
        if not done and now - start >= when:
            done.append(now)
            do()

    world.clock.on_sleep = on_sleep


def test_a_failing_confirm_rollout_hook_changes_nothing_on_the_stages(world: World) -> None:
    before = (world.production(), world.staging())
    world.hook_exit["confirm-rollout"] = 1
    outcome = world.run(confirm_rollout="./change-freeze.sh", on_rollback="echo never")
    assert outcome is Outcome.ROLLED_BACK
    assert world.stages.log == [] and (world.production(), world.staging()) == before  # not even the lock
    assert [h[0] for h in world.hooks] == ["confirm-rollout"]
    assert world.of("refused") and not world.of("rolled_back")


def test_approval_held_then_approved_from_another_machine_promotes(world: World) -> None:
    held: list[str] = []

    def approve() -> None:
        held.append(world.production().variables[HOLD_VARIABLE])
        request_commands.send(CFG, world.stages, "approve", Recorder(), world.clock)

    at_time(world, 600, approve)
    outcome = world.run(approval=True, approval_timeout_s=3600)
    assert outcome is Outcome.PROMOTED
    assert held and held[0].startswith("kind=approval,")
    names = [r["event"] for r in world.events.records]
    assert names.index("hold_started") < names.index("hold_ended") < names.index("promoted")
    assert world.of("hold_ended")[0]["action"] == "approved"
    assert HOLD_VARIABLE not in world.production().variables
    assert REQUEST_VARIABLE not in world.production().variables


def test_approve_is_refused_when_no_rollout_waits_for_approval(world: World) -> None:
    with pytest.raises(StateConflict, match="no shift is running"):
        request_commands.send(CFG, world.stages, "approve", Recorder(), world.clock)
    assert world.stages.log == []


def test_pause_then_resume_holds_the_share_then_finishes(world: World) -> None:
    seen: list[float] = []

    def pause() -> None:
        request_commands.send(CFG, world.stages, "pause", Recorder(), world.clock)

    def resume() -> None:
        seen.append(world.production().canary.percent)
        request_commands.send(CFG, world.stages, "resume", Recorder(), world.clock)

    at_time(world, 200, pause)
    original = world.clock.on_sleep

    def both(now: float) -> None:
        original(now)
        if world.of("hold_started") and not seen and now - world.of("hold_started")[0]["at"] > 900:
            resume()

    world.clock.on_sleep = both
    assert world.run() is Outcome.PROMOTED
    assert [r["action"] for r in world.of("hold_ended")] == ["resumed"]
    assert seen == [world.of("hold_started")[0]["percent"]]  # the share held for 15 minutes


def test_the_guard_undoes_a_release_whose_error_rate_rises_after_the_promotion(world: World) -> None:
    functions = FakeFunctions()

    def turn_bad(now: float) -> None:
        if world.of("promoted"):
            world.traffic.live_error_rate = 0.2  # production's traffic: the promoted release now

    world.clock.on_sleep = turn_bad
    outcome = world.shift(_options(world, guard_s=600, on_rollback="echo undone"), functions=functions)
    assert outcome is Outcome.UNDONE
    (undone,) = world.of("undone")
    assert undone["live_slot"] == "blue" and undone["undone_slot"] == "green"
    assert world.production().variables["slot"] == "blue" and world.staging().variables["slot"] == "green"
    assert world.of("guard_ended")[0]["verdict"] == "FAIL"
    assert [h[0] for h in world.hooks] == ["on-rollback"]


def test_the_guard_holds_the_release_to_the_tail_the_live_version_showed_over_its_day(world: World) -> None:
    day = world.traffic.history(0.0, 60.0)  # the fake's day, read as `shift` reads it
    assert day.latency_p99_ms is not None and day.latency_p99_ms < 100
    slower_day = BaselineHistory(day.requests, day.errors_5xx, day.per_period, latency_p99_ms=300.0)
    world.traffic.history = lambda start, end: slower_day
    assert world.shift(_options(world, guard_s=120)) is Outcome.PROMOTED
    # Beside the canary the live version's p99 was the fake's ~50 ms; its day's, 300 ms: the higher one.
    (started,) = world.of("guard_started")
    assert started["reference"]["p99_ms"] == 300.0
    assert "p99 (allowed 475 ms)" in started["message"]  # 300 ms x --max-p99-ratio 1.5 + 25 ms
    assert world.of("guard_ended")[0]["verdict"] == "PASS"


def test_undo_puts_the_former_slot_back_and_is_refused_once_that_slot_has_new_code(world: World) -> None:
    functions = FakeFunctions()
    assert world.shift(_options(world), functions=functions) is Outcome.PROMOTED
    record = world.production().variables[PROMOTED_VARIABLE]
    assert record.startswith("from=blue,to=green,deployment=dep-live,sha=blue-sha,rev=blue-rev-1,")
    events = Recorder(world.clock)
    undo(CFG, world.stages, world.deployments, functions, events, "manual undo", world.clock)
    prod = world.production()
    assert prod.variables["slot"] == "blue" and prod.deployment_id == "dep-live"
    assert PROMOTED_VARIABLE not in prod.variables
    # The next release promotes green again; then blue is re-applied with new code: undo must refuse.
    world.stages.set_slot("staging", "green")
    assert world.shift(_options(world), functions=functions) is Outcome.PROMOTED
    blue = CFG.slot("blue").function_name
    functions.identities[blue] = FunctionIdentity("new-sha", "blue-rev-2", "$LATEST")
    before = world.production()
    with pytest.raises(StateConflict, match="has new code since the promotion"):
        undo(CFG, world.stages, world.deployments, functions, Recorder(), "manual undo")
    assert world.production() == before


def _options(world: World, **extra):
    from controller.gates import Thresholds
    from controller.shift_options import ShiftOptions
    from controller.strategies import Policy
    from controller.strategy import build_plan

    policy = Policy(build_plan("recipe", None, None), Thresholds(min_requests=50), interval_s=30, period_s=60)
    return ShiftOptions(policy=policy, **extra)
