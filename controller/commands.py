"""`status`, `promote` and `rollback`: one-shot commands, idempotent and safe to run at any time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from controller.aws.lock import Lease, StageLock
from controller.aws.stage import METRICS_SOURCE_VARIABLE, StageState
from controller.config import ControllerConfig
from controller.domain import Outcome
from controller.errors import AwsError, StateConflict
from controller.event_types import (
    CanaryView,
    LockView,
    NothingToDo,
    Promoted,
    StageView,
    StatusShown,
    WarningEvent,
)
from controller.events import Events
from controller.holds import HoldState
from controller.ports import AlarmsSource, DeploymentsPort, FunctionsPort, TrafficRouter
from controller.traffic import PROMOTED_VARIABLE, is_kept_former, roll_back
from controller.traffic import promote as promote_canary
from controller.undo import PromotionRecord, record_promotion


@dataclass(frozen=True)
class View:
    """Production and staging as the controller sees them."""

    production: StageState
    staging: StageState
    live: str | None
    staging_slot: str | None
    canary_slot: str | None

    @property
    def phase(self) -> str:
        if self.production.canary is not None:
            if is_kept_former(self.production.canary.overrides):
                return "guarding a promotion (the former version kept beside it)"
            return "rollout in progress"
        if self.live is not None and self.live == self.staging_slot:
            return "promotion unfinished (staging serves the live slot; run promote)"
        return "idle"


def read_view(cfg: ControllerConfig, stages: TrafficRouter) -> View:
    production = stages.get(cfg.production_stage)
    staging = stages.get(cfg.staging_stage)
    var = cfg.slot_variable
    return View(
        production, staging, production.variable(var), staging.variable(var), production.canary_slot(var)
    )


def status(
    cfg: ControllerConfig,
    stages: TrafficRouter,
    alarms: AlarmsSource,
    events: Events,
    clock: Callable[[], float] = time.time,
) -> Outcome:
    view = read_view(cfg, stages)
    prod, canary = view.production, view.production.canary
    lease = Lease.parse(prod.variable("controller_lock"))
    try:
        states = alarms.states() if alarms.names else {}
        alarm_error = None
    except AwsError as exc:
        states, alarm_error = {}, str(exc)

    def label(slot: str | None) -> str:
        if slot is None:
            return "(no slot variable)"
        version = next((s.version_label for s in cfg.slots if s.name == slot), "")
        return f"{slot} {version}".strip()

    lines = [
        f"{cfg.api_name} ({cfg.api_id}, {cfg.region}): {view.phase}",
        f"  {cfg.production_stage}: serves {label(view.live)}, deployment {prod.deployment_id}",
    ]
    if canary is not None:
        lines.append(
            f"    canary: {canary.percent:g}% on {label(view.canary_slot)}, deployment {canary.deployment_id}"
        )
    lines.append(
        f"  {cfg.staging_stage}: serves {label(view.staging_slot)}, deployment {view.staging.deployment_id}"
    )
    if view.phase == "idle":
        lines.append(f"  next shift: {label(view.staging_slot)} replaces {label(view.live)}")
    lines.append(f"  lock: {lease.describe(clock()) if lease else 'free'}")
    hold = HoldState.read(prod)
    if hold is not None:
        lines.append(f"  held: {hold.describe(clock())}")
    record = PromotionRecord.parse(prod.variable(PROMOTED_VARIABLE))
    if record is not None and canary is None and view.live == record.promoted_slot:
        lines.append(
            f"  undo: would put {label(record.former_slot)} back (deployment {record.former_deployment})"
        )
    if alarm_error:
        lines.append(f"  alarms: unavailable ({alarm_error})")
    for name in alarms.names:
        lines.append(f"  alarm {name}: {states.get(name, 'MISSING')}")
    source = prod.variable(METRICS_SOURCE_VARIABLE)
    if source:
        lines.append(f"  metrics source: {source} (API Gateway's canary dimension showed no requests)")
    events.emit(
        StatusShown(
            lines=tuple(lines),
            phase=view.phase,
            api_id=cfg.api_id,
            production=StageView(
                cfg.production_stage,
                view.live,
                prod.deployment_id,
                None
                if canary is None
                else CanaryView(canary.percent, view.canary_slot, canary.deployment_id),
            ),
            staging=StageView(cfg.staging_stage, view.staging_slot, view.staging.deployment_id),
            lock=None if lease is None else LockView(lease.holder, lease.expires),
            alarms={name: states.get(name, "MISSING") for name in alarms.names},
            metrics_source=source,
            hold=None if hold is None else hold.kind,
        )
    )
    return Outcome.NOTHING_TO_DO


def rollback(
    cfg: ControllerConfig, stages: TrafficRouter, deployments: DeploymentsPort, events: Events
) -> Outcome:
    """Remove the canary: production serves its live slot 100%. Needs no lock: it is the emergency brake.

    A shift running elsewhere notices the canary is gone at its next tick and stops without touching it.
    The canary's deployment goes too when it is a controller snapshot no stage uses any more.
    """
    view = read_view(cfg, stages)
    canary = view.production.canary
    if canary is None:
        message = f"no canary on {cfg.production_stage}: it serves {view.live} 100% already"
        events.emit(NothingToDo(message=message, live_slot=view.live))
        return Outcome.NOTHING_TO_DO
    kept = is_kept_former(canary.overrides)
    what = "the former version kept beside the promoted release" if kept else "canary"
    roll_back(
        cfg,
        stages,
        deployments,
        events,
        live_slot=view.live,
        candidate_slot=view.canary_slot,
        reason=f"manual rollback ({what} was at {canary.percent:g}%)",
        percent=canary.percent,
        # The former version's deployment stays: `undo` goes back to it.
        deployment_id=None if kept else canary.deployment_id,
    )
    return Outcome.ROLLED_BACK


def promote(
    cfg: ControllerConfig,
    stages: TrafficRouter,
    deployments: DeploymentsPort,
    lock: StageLock,
    events: Events,
    functions: FunctionsPort | None = None,
    clock: Callable[[], float] = time.time,
) -> Outcome:
    """Production adopts the canary's deployment and slot, the canary goes, staging gets the old live slot,
    and the controller's snapshots no stage uses any more are deleted.

    Without a canary there is nothing to promote (so running it twice does not swap back), except finishing a
    promotion that stopped between its two calls (production and staging on the same slot).
    """
    view = read_view(cfg, stages)
    prod, canary = view.production, view.production.canary
    if canary is None:
        if view.live is not None and view.live == view.staging_slot:
            former = cfg.other_slot(view.live)
            stages.set_slot(cfg.staging_stage, former)
            events.emit(
                Promoted(
                    live_slot=view.live,
                    candidate_slot=view.live,
                    staging_slot=former,
                    reason="finished an interrupted promotion: staging now serves the former live slot",
                )
            )
            return Outcome.PROMOTED
        message = f"no canary on {cfg.production_stage}: nothing to promote (start one with shift)"
        events.emit(NothingToDo(message=message, live_slot=view.live))
        return Outcome.NOTHING_TO_DO
    if is_kept_former(canary.overrides):
        raise StateConflict(
            f"the canary on {cfg.production_stage} ({canary.percent:g}%) is the former version kept beside a "
            "guarded promotion (shift --guard-keep) whose run stopped, not a release: run rollback to give "
            "the promoted release all of production, or undo to go back to the former version"
        )
    candidate = view.canary_slot
    if (
        candidate is None
        or candidate not in cfg.slot_names
        or candidate == view.live
        or not canary.deployment_id
    ):
        raise StateConflict(
            f"the canary on {cfg.production_stage} ({canary.percent:g}%, slot override {candidate!r}) "
            "was not made "
            "by this controller; promote it by hand or run rollback"
        )
    lock.acquire(prod)
    try:
        former = view.live or cfg.other_slot(candidate)
        record = None
        if functions is not None:
            try:
                record = record_promotion(
                    cfg, functions, former, candidate, prod.deployment_id, clock()
                ).encode()
            except AwsError as exc:
                events.emit(WarningEvent(message=f"promoting without an undo record: {exc}"))
        promote_canary(
            cfg,
            stages,
            deployments,
            events,
            candidate=candidate,
            former_live=former,
            deployment_id=canary.deployment_id,
            reason=f"manual promotion (canary was at {canary.percent:g}%)",
            record=record,
            former_deployment=prod.deployment_id,
        )
    finally:
        lock.release()
    return Outcome.PROMOTED
