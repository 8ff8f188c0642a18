"""status, promote and rollback against in-memory stages: idempotent and safe at any time."""

from __future__ import annotations

import pytest
from controller_fakes import FakeAlarms, FakeClock, FakeStages, config

from controller import commands
from controller.aws.lock import LOCK_VARIABLE, Lease, StageLock
from controller.errors import LockHeldError, StateConflict
from controller.events import Recorder
from controller.runner import Outcome

CFG = config()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stages(clock: FakeClock) -> FakeStages:
    return FakeStages(clock)


def lock(stages: FakeStages, clock: FakeClock) -> StageLock:
    return StageLock(stages, "production", 60, holder="me:1", clock=clock)


def test_rollback_removes_canary_and_keeps_live_slot(stages: FakeStages) -> None:
    stages.create_canary("production", "dep-new", "green", 50.0)
    events = Recorder()
    assert commands.rollback(CFG, stages, events) is Outcome.ROLLED_BACK
    prod = stages.get("production")
    assert prod.canary is None and prod.variable("slot") == "blue" and prod.deployment_id == "dep-live"
    assert commands.rollback(CFG, stages, events) is Outcome.NOTHING_TO_DO
    assert events.names() == ["rolled_back", "nothing_to_do"]


def test_rollback_works_even_while_another_controller_holds_the_lock(stages: FakeStages, clock) -> None:
    stages.create_canary("production", "dep-new", "green", 50.0)
    stages.set_variable("production", LOCK_VARIABLE, Lease("other:1", clock() + 300).encode())
    assert commands.rollback(CFG, stages, Recorder()) is Outcome.ROLLED_BACK
    assert stages.get("production").canary is None


def test_promote_adopts_the_canary_and_moves_staging_to_the_former_live_slot(stages, clock) -> None:
    stages.create_canary("production", "dep-new", "green", 25.0)
    assert commands.promote(CFG, stages, lock(stages, clock), Recorder()) is Outcome.PROMOTED
    prod, staging = stages.get("production"), stages.get("staging")
    assert (prod.canary, prod.variable("slot"), prod.deployment_id) == (None, "green", "dep-new")
    assert staging.variable("slot") == "blue"
    assert LOCK_VARIABLE not in prod.variables


def test_promote_twice_does_not_swap_back(stages, clock) -> None:
    stages.create_canary("production", "dep-new", "green", 100.0)
    commands.promote(CFG, stages, lock(stages, clock), Recorder())
    events = Recorder()
    assert commands.promote(CFG, stages, lock(stages, clock), events) is Outcome.NOTHING_TO_DO
    assert stages.get("production").variable("slot") == "green"
    assert events.names() == ["nothing_to_do"]


def test_promote_finishes_a_promotion_that_stopped_between_its_two_calls(stages, clock) -> None:
    stages.create_canary("production", "dep-new", "green", 100.0)
    stages.promote_canary("production", "dep-new", "green")  # crashed before staging moved
    assert commands.promote(CFG, stages, lock(stages, clock), Recorder()) is Outcome.PROMOTED
    assert stages.get("staging").variable("slot") == "blue"


def test_promote_refuses_while_a_live_controller_holds_the_lock(stages, clock) -> None:
    stages.create_canary("production", "dep-new", "green", 25.0)
    stages.set_variable("production", LOCK_VARIABLE, Lease("other:1", clock() + 300).encode())
    with pytest.raises(LockHeldError, match="other:1"):
        commands.promote(CFG, stages, lock(stages, clock), Recorder())
    assert stages.get("production").canary is not None


def test_promote_refuses_a_canary_it_did_not_make(stages, clock) -> None:
    stages.create_canary("production", "dep-x", "blue", 25.0)  # override = the live slot
    with pytest.raises(StateConflict, match="not made by this controller"):
        commands.promote(CFG, stages, lock(stages, clock), Recorder())


def test_status_reports_slots_canary_lock_and_alarms(stages, clock) -> None:
    stages.create_canary("production", "dep-new", "green", 10.0)
    stages.set_variable("production", LOCK_VARIABLE, Lease("ci:7", clock() + 90).encode())
    alarms = FakeAlarms(CFG.watched_alarms)
    alarms.state["apigw-canary-rollback"] = "ALARM"
    del alarms.state["apigw-canary-canary-p99"]
    events = Recorder()
    assert commands.status(CFG, stages, alarms, events, clock) is Outcome.NOTHING_TO_DO
    (record,) = events.records
    assert record["phase"] == "rollout in progress"
    assert record["production"]["canary"] == {"percent": 10.0, "slot": "green", "deployment_id": "dep-new"}
    assert record["lock"]["holder"] == "ci:7"
    assert record["alarms"]["apigw-canary-rollback"] == "ALARM"
    assert record["alarms"]["apigw-canary-canary-p99"] == "MISSING"
    assert stages.log[-1][0] == "create_canary"  # status changed nothing
