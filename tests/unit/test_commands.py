"""status, promote and rollback against in-memory stages: idempotent and safe at any time."""

from __future__ import annotations

import pytest
from controller_fakes import FakeAlarms, FakeClock, FakeDeployments, FakeStages, config

from controller import commands
from controller.aws.lock import LOCK_VARIABLE, Lease, StageLock
from controller.domain import Outcome
from controller.errors import LockHeldError, StateConflict
from controller.events import Recorder

CFG = config()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stages(clock: FakeClock) -> FakeStages:
    return FakeStages(clock)


@pytest.fixture
def deployments(stages: FakeStages) -> FakeDeployments:
    return FakeDeployments(stages)


def lock(stages: FakeStages, clock: FakeClock) -> StageLock:
    return StageLock(stages, "production", 60, holder="me:1", clock=clock)


def canary_on_snapshot(stages: FakeStages, deployments: FakeDeployments, percent: float) -> str:
    """A canary for green on a snapshot the controller made, as `shift` leaves it."""
    snapshot = deployments.create("apigw-canary green v2 2026-01-01T00:00:00Z").id
    stages.create_canary("production", snapshot, "green", percent)
    return snapshot


def test_rollback_removes_canary_and_keeps_live_slot(stages: FakeStages, deployments) -> None:
    canary_on_snapshot(stages, deployments, 50.0)
    events = Recorder()
    assert commands.rollback(CFG, stages, deployments, events) is Outcome.ROLLED_BACK
    prod = stages.get("production")
    assert prod.canary is None and prod.variable("slot") == "blue" and prod.deployment_id == "dep-live"
    assert commands.rollback(CFG, stages, deployments, events) is Outcome.NOTHING_TO_DO
    assert events.names() == ["rolled_back", "deployment", "nothing_to_do"]


def test_rollback_deletes_the_canarys_snapshot_once_no_stage_uses_it(stages, deployments) -> None:
    snapshot = canary_on_snapshot(stages, deployments, 50.0)
    commands.rollback(CFG, stages, deployments, Recorder())
    assert set(stages.deployments) == {"dep-live", "dep-new"}
    assert ("delete_deployment", snapshot) in stages.log


def test_rollback_of_a_canary_on_a_terraform_deployment_deletes_no_deployment(stages, deployments) -> None:
    stages.create_canary("production", "dep-new", "green", 50.0)  # made by an older controller
    assert commands.rollback(CFG, stages, deployments, Recorder()) is Outcome.ROLLED_BACK
    assert set(stages.deployments) == {"dep-live", "dep-new"}


def test_rollback_works_even_while_another_controller_holds_the_lock(stages: FakeStages, clock) -> None:
    stages.create_canary("production", "dep-new", "green", 50.0)
    stages.set_variable("production", LOCK_VARIABLE, Lease("other:1", clock() + 300).encode())
    assert commands.rollback(CFG, stages, FakeDeployments(stages), Recorder()) is Outcome.ROLLED_BACK
    assert stages.get("production").canary is None


def test_promote_adopts_the_canary_and_moves_staging_to_the_former_live_slot(
    stages, deployments, clock
) -> None:
    snapshot = canary_on_snapshot(stages, deployments, 25.0)
    assert commands.promote(CFG, stages, deployments, lock(stages, clock), Recorder()) is Outcome.PROMOTED
    prod, staging = stages.get("production"), stages.get("staging")
    assert (prod.canary, prod.variable("slot"), prod.deployment_id) == (None, "green", snapshot)
    assert staging.variable("slot") == "blue"
    assert LOCK_VARIABLE not in prod.variables


def test_promote_twice_does_not_swap_back(stages, deployments, clock) -> None:
    canary_on_snapshot(stages, deployments, 100.0)
    commands.promote(CFG, stages, deployments, lock(stages, clock), Recorder())
    events = Recorder()
    assert commands.promote(CFG, stages, deployments, lock(stages, clock), events) is Outcome.NOTHING_TO_DO
    assert stages.get("production").variable("slot") == "green"
    assert events.names() == ["nothing_to_do"]


def test_promote_finishes_a_promotion_that_stopped_between_its_two_calls(stages, deployments, clock) -> None:
    snapshot = canary_on_snapshot(stages, deployments, 100.0)
    stages.promote_canary("production", snapshot, "green")  # crashed before staging moved
    assert commands.promote(CFG, stages, deployments, lock(stages, clock), Recorder()) is Outcome.PROMOTED
    assert stages.get("staging").variable("slot") == "blue"


def test_promote_refuses_while_a_live_controller_holds_the_lock(stages, deployments, clock) -> None:
    stages.create_canary("production", "dep-new", "green", 25.0)
    stages.set_variable("production", LOCK_VARIABLE, Lease("other:1", clock() + 300).encode())
    with pytest.raises(LockHeldError, match="other:1"):
        commands.promote(CFG, stages, deployments, lock(stages, clock), Recorder())
    assert stages.get("production").canary is not None


def test_promote_refuses_a_canary_it_did_not_make(stages, deployments, clock) -> None:
    stages.create_canary("production", "dep-x", "blue", 25.0)  # override = the live slot
    with pytest.raises(StateConflict, match="not made by this controller"):
        commands.promote(CFG, stages, deployments, lock(stages, clock), Recorder())


def test_promote_deletes_the_controllers_previous_snapshots_that_no_stage_uses(
    stages, deployments, clock
) -> None:
    previous = canary_on_snapshot(stages, deployments, 100.0)
    commands.promote(CFG, stages, deployments, lock(stages, clock), Recorder())
    stages.set_slot("staging", "blue")
    # The next release: blue on a new snapshot; green's snapshot serves production until the promotion.
    current = deployments.create("apigw-canary blue v1 2026-01-02T00:00:00Z").id
    stages.create_canary("production", current, "blue", 100.0)
    events = Recorder()
    assert commands.promote(CFG, stages, deployments, lock(stages, clock), events) is Outcome.PROMOTED
    # The former live deployment stays while `undo` may go back to it; Terraform's are never touched.
    assert set(stages.deployments) == {"dep-live", "dep-new", previous, current}
    stages.set_slot("staging", "green")
    third = deployments.create("apigw-canary green v3 2026-01-03T00:00:00Z").id
    stages.create_canary("production", third, "green", 100.0)
    events = Recorder()
    assert commands.promote(CFG, stages, deployments, lock(stages, clock), events) is Outcome.PROMOTED
    assert set(stages.deployments) == {"dep-live", "dep-new", current, third}
    deleted = [e["deployment_id"] for e in events.records if e["event"] == "deployment"]
    assert deleted == [previous]


def test_promote_succeeds_with_a_warning_when_old_snapshots_cannot_be_deleted(
    stages, deployments, clock
) -> None:
    stages.deployments["dep-old"] = "apigw-canary blue v0 2025-12-31T00:00:00Z"
    canary_on_snapshot(stages, deployments, 100.0)
    deployments.fail_on.add("delete")
    events = Recorder()
    assert commands.promote(CFG, stages, deployments, lock(stages, clock), events) is Outcome.PROMOTED
    assert events.names() == ["promoted", "warning"]
    assert "dep-old" in events.records[-1]["message"] and "dep-old" in stages.deployments


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
