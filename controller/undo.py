"""Undo a promotion: production back on the former live slot and deployment, in one UpdateStage.

At each promotion the controller records, in the production stage's `controller_promoted` variable (beside
the lock, written in the same UpdateStage as the promotion), what it can go back to:

    from=<former slot>,to=<promoted slot>,deployment=<former deployment>,sha=<hex>,rev=<RevisionId>,at=<epoch>

`sha` and `rev` are the former slot's function's CodeSha256 and RevisionId then. `undo` refuses when that
function changed since (new code or configuration: the slot would serve something that was never live), when
production no longer serves the promoted slot, or when a canary is on it (but the former version kept beside
the release by `shift --guard-keep`, which goes in the same UpdateStage). The former deployment is kept
when the promotion cleans up unused snapshots, so undo can return to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from controller.config import ControllerConfig
from controller.errors import AwsError, StateConflict
from controller.events import Events
from controller.holds import fields_of, number_of
from controller.lifecycle_events import Undone
from controller.ports import DeploymentsPort, FunctionsPort, TrafficRouter
from controller.snapshots import remove_unused_snapshots
from controller.traffic import PROMOTED_VARIABLE, is_kept_former


@dataclass(frozen=True)
class PromotionRecord:
    former_slot: str
    promoted_slot: str
    former_deployment: str
    code_sha256: str
    revision_id: str
    at: float

    def encode(self) -> str:
        return (
            f"from={self.former_slot},to={self.promoted_slot},deployment={self.former_deployment},"
            f"sha={self.code_sha256},rev={self.revision_id},at={int(self.at)}"
        )

    @classmethod
    def parse(cls, text: str | None) -> PromotionRecord | None:
        f = fields_of(text)
        at = number_of(f.get("at"))
        if not all(f.get(k) for k in ("from", "to", "deployment", "sha")) or at is None:
            return None
        return cls(f["from"], f["to"], f["deployment"], f["sha"], f.get("rev", ""), at)


def record_promotion(
    cfg: ControllerConfig,
    functions: FunctionsPort,
    former_slot: str,
    promoted_slot: str,
    former_deployment: str,
    at: float,
) -> PromotionRecord:
    """What `undo` needs, read before the promotion (one GetFunctionConfiguration)."""
    identity = functions.identity(cfg.slot(former_slot).function_name)
    return PromotionRecord(
        former_slot, promoted_slot, former_deployment, identity.code_sha256, identity.revision_id, at
    )


def undo(
    cfg: ControllerConfig,
    stages: TrafficRouter,
    deployments: DeploymentsPort,
    functions: FunctionsPort,
    events: Events,
    reason: str,
    clock: Callable[[], float] = time.time,
) -> Undone:
    """Production serves the former live slot again; staging gets the promoted one. Call under the lease.

    A canary that is the former version kept beside the release (`shift --guard-keep`) goes in the same
    UpdateStage; any other canary refuses the undo."""
    began = clock()
    production = stages.get(cfg.production_stage)
    record = PromotionRecord.parse(production.variable(PROMOTED_VARIABLE))
    live = production.variable(cfg.slot_variable)
    if record is None:
        raise StateConflict(
            f"nothing to undo on {cfg.production_stage}: no promotion record ({PROMOTED_VARIABLE}); "
            "only the controller's latest promotion can be undone (run shift to release the other slot)"
        )
    kept = (
        production.canary is not None
        and is_kept_former(production.canary.overrides)
        and production.canary_slot(cfg.slot_variable) == record.former_slot
    )
    if production.canary is not None and not kept:
        raise StateConflict(
            f"a canary is on {cfg.production_stage} ({production.canary.percent:g}%): finish it with promote "
            "or rollback before undo"
        )
    if live != record.promoted_slot:
        raise StateConflict(
            f"{cfg.production_stage} serves {live}, not {record.promoted_slot} which the record says was "
            "promoted: nothing to undo"
        )
    function = cfg.slot(record.former_slot).function_name
    now = functions.identity(function)
    if now.code_sha256 != record.code_sha256 or (
        record.revision_id and now.revision_id != record.revision_id
    ):
        changed = "code" if now.code_sha256 != record.code_sha256 else "configuration"
        raise StateConflict(
            f"refusing to undo: slot {record.former_slot} ({function}) has new {changed} since the promotion "
            f"(code sha256 {record.code_sha256[:12]}... -> {now.code_sha256[:12]}..., revision "
            f"{record.revision_id or '?'} -> {now.revision_id}); it would serve a release that was never "
            "live. Release it with shift instead"
        )
    try:
        stages.switch(
            cfg.production_stage,
            record.former_deployment,
            record.former_slot,
            remove=(PROMOTED_VARIABLE,),
            drop_canary=kept,
        )
    except AwsError as exc:
        raise AwsError(f"undo failed, production unchanged: {exc}") from None
    seconds = clock() - began
    stages.set_slot(cfg.staging_stage, record.promoted_slot)
    done = Undone(
        live_slot=record.former_slot,
        undone_slot=record.promoted_slot,
        deployment_id=record.former_deployment,
        reason=reason,
        seconds=round(seconds, 3),
    )
    events.emit(done)
    remove_unused_snapshots(deployments, events)
    return done
