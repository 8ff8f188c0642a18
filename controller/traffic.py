"""Production's two ways out of a canary, shared by `shift` and the one-shot commands.

`roll_back`: remove the canary, production serves its live slot 100 %. `promote`: production adopts the
canary's deployment and slot in one UpdateStage, staging moves to the former live slot. Each emits its event
and deletes the controller's snapshots no stage uses any more (controller/snapshots.py). With `shift
--guard-keep`, `keep_former` then puts the former version back on a share of production as the stage's
canary, marked so that no command takes it for a release, and `release_former` removes it when the guard ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller.config import ControllerConfig
from controller.errors import AwsError
from controller.event_types import Promoted, RolledBack
from controller.events import Events
from controller.ports import DeploymentsPort, TrafficRouter
from controller.snapshots import remove_unused_snapshots

PROMOTED_VARIABLE = "controller_promoted"  # the record `undo` reads (controller/undo.py)
# Among the canary's stage-variable overrides: this canary is the former version kept beside a promoted
# release while the guard watches it (`shift --guard-keep`), not a release on its way in.
KEPT_VARIABLE = "controller_kept"
KEPT_VALUE = "former"


@dataclass
class Slots:
    live: str
    candidate: str
    live_deployment: str
    candidate_deployment: str


def roll_back(
    cfg: ControllerConfig,
    stages: TrafficRouter,
    deployments: DeploymentsPort,
    events: Events,
    *,
    live_slot: str | None,
    candidate_slot: str | None,
    reason: str,
    percent: float | None,
    deployment_id: str | None,
) -> None:
    """Remove the canary; its deployment goes too when it is a controller snapshot no stage uses."""
    try:
        stages.remove_canary(cfg.production_stage)
    except AwsError as exc:
        raise AwsError(
            f"rollback failed ({exc}); run `python -m controller rollback` to remove the canary"
        ) from None
    events.emit(
        RolledBack(live_slot=live_slot, candidate_slot=candidate_slot, reason=reason, percent=percent)
    )
    if deployment_id:
        remove_unused_snapshots(deployments, events, only={deployment_id})


def keep_former(
    cfg: ControllerConfig, stages: TrafficRouter, former_slot: str, former_deployment: str, percent: float
) -> None:
    """After a promotion: the former version serves `percent` of production beside the promoted release, as
    the stage's canary, marked so that `promote` does not take it for a release."""
    try:
        stages.create_canary(
            cfg.production_stage, former_deployment, former_slot, percent, {KEPT_VARIABLE: KEPT_VALUE}
        )
    except AwsError as exc:
        raise AwsError(f"promoted, but could not keep {percent:g}% on the former version: {exc}") from None


def release_former(cfg: ControllerConfig, stages: TrafficRouter) -> None:
    """The guard is over: the promoted release serves all of production."""
    try:
        stages.remove_canary(cfg.production_stage)
    except AwsError as exc:
        raise AwsError(
            f"the former version still serves a share of production ({exc}); run `python -m controller "
            "rollback` to remove it (the promoted release stays)"
        ) from None


def is_kept_former(canary_overrides: Mapping[str, str]) -> bool:
    return canary_overrides.get(KEPT_VARIABLE) == KEPT_VALUE


def promote(
    cfg: ControllerConfig,
    stages: TrafficRouter,
    deployments: DeploymentsPort,
    events: Events,
    *,
    candidate: str,
    former_live: str,
    deployment_id: str,
    reason: str,
    record: str | None = None,
    former_deployment: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> None:
    """Call under the lease, so no other run's fresh snapshot can be caught between create and canary.

    `record` (controller/undo.py) goes on production in the same UpdateStage; `former_deployment` is kept
    when unused snapshots are deleted, so `undo` can go back to it; `extra`: more variables for the same
    UpdateStage (a plan's record, controller/plan_record.py)."""
    variables = {**({PROMOTED_VARIABLE: record} if record else {}), **(extra or {})} or None
    promoted = stages.promote_canary(cfg.production_stage, deployment_id, candidate, variables)
    if not record and promoted.variable(PROMOTED_VARIABLE):
        # An older record would point undo at the wrong slot.
        stages.remove_variable(cfg.production_stage, PROMOTED_VARIABLE)
    stages.set_slot(cfg.staging_stage, former_live)
    events.emit(
        Promoted(
            live_slot=candidate,
            candidate_slot=candidate,
            staging_slot=former_live,
            deployment_id=deployment_id,
            reason=reason,
        )
    )
    remove_unused_snapshots(deployments, events, keep={former_deployment} if former_deployment else set())
