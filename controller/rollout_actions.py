"""What the runner does for the engine's actions beyond a share change: prepare (lease, snapshot, 0 % canary),
run a hook, show a hold on the stage, promote (with the record `undo` reads), undo, and read a tick.

Each is one function over the run's ports; controller/runner.py stays a thin loop over the engine.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from controller.aws.deployments import Deployment
from controller.aws.stage import StageState
from controller.config import ControllerConfig
from controller.engine_io import HookFinished, Input, Interrupt, RunHook, Tick, Wait
from controller.errors import AwsError, StateConflict
from controller.event_types import LockEvent, WarningEvent
from controller.events import Events
from controller.holds import HOLD_VARIABLE, REQUEST_VARIABLE, HoldState, pending_request
from controller.hooks import HookPayload
from controller.observer import Observer
from controller.ports import DeploymentsPort, FunctionsPort, HookRunner, Lock, TrafficRouter
from controller.preflight import check_unchanged
from controller.snapshots import announce_snapshot, create_snapshot
from controller.traffic import Slots, promote
from controller.undo import record_promotion


@dataclass
class RunPorts:
    """The ports and settings every action needs."""

    cfg: ControllerConfig
    stages: TrafficRouter
    deployments: DeploymentsPort
    lock: Lock
    events: Events
    clock: Callable[[], float]
    functions: FunctionsPort | None = None


def prepare(
    p: RunPorts,
    slots: Slots,
    production: StageState,
    staging: StageState,
    fresh: bool,
    then: Callable[[], None],
) -> Deployment | None:
    """Take the lease; on a fresh run snapshot the definition and put the candidate on production at 0 %.
    `then` announces the run once its snapshot is known (before the snapshot's own event)."""
    confirmed, taken_over = p.lock.acquire(production)
    if taken_over is not None:
        message = f"took over the stale lock of {getattr(taken_over, 'holder', taken_over)}"
        p.events.emit(LockEvent(message=message, holder=p.lock.holder))
    try:
        check_unchanged(p.cfg, p.stages, production, staging, confirmed)
        if not fresh:
            then()
            return None
        # Never staging's deployment: Terraform replaces it at the next definition change, and AWS
        # refuses to delete a deployment production points at. Nothing is on the stage yet.
        label = p.cfg.slot(slots.candidate).version_label
        snapshot = create_snapshot(p.deployments, slots.candidate, label, p.clock())
        slots.candidate_deployment = snapshot.id
        then()
        announce_snapshot(p.events, snapshot, slots.candidate)
        p.stages.create_canary(
            p.cfg.production_stage, snapshot.id, slots.candidate, 0.0, p.cfg.canary_overrides
        )
        return snapshot
    except BaseException:
        p.lock.release()
        raise


def payload(p: RunPorts, action: RunHook, slots: Slots) -> HookPayload:
    cfg = p.cfg
    return HookPayload(
        hook=action.hook,
        api_id=cfg.api_id,
        api_name=cfg.api_name,
        stage=cfg.production_stage,
        region=cfg.region,
        production_url=cfg.production_url,
        staging_url=cfg.staging_url,
        percent=action.percent,
        step=action.step,
        live_slot=slots.live,
        candidate_slot=slots.candidate,
        live_version=cfg.slot(slots.live).version_label,
        candidate_version=cfg.slot(slots.candidate).version_label,
        reason=action.reason,
        holder=p.lock.holder,
    )


def run_hook(
    p: RunPorts,
    action: RunHook,
    slots: Slots,
    target: str,
    runner: HookRunner,
    timeout_s: float,
    stop: threading.Event,
) -> Input:
    if p.lock.expires is not None:  # no lease before confirm-rollout passes
        p.lock.extend_for(timeout_s)
    result = runner(action.hook, target, payload(p, action, slots), timeout_s, stop)
    p.events.emit(result.event(action.percent))
    if stop.is_set():
        return Interrupt(p.clock())  # interrupted, not failed
    return HookFinished(p.clock(), action.hook, result.ok, "" if result.ok else result.describe())


def show_hold(p: RunPorts, kind: str, until: float | None) -> None:
    """The hold on the production stage, for `status` and the approve/resume commands (controller/holds)."""
    if kind:
        value = HoldState(kind, p.clock(), until).encode()
        p.stages.set_variable(p.cfg.production_stage, HOLD_VARIABLE, value)
    elif p.stages.get(p.cfg.production_stage).variable(HOLD_VARIABLE):
        p.stages.remove_variable(p.cfg.production_stage, HOLD_VARIABLE)


def promote_now(p: RunPorts, slots: Slots, reason: str, extra: Mapping[str, str] | None = None) -> None:
    """Promote, with the record `undo` reads (a warning, and no undo, when it cannot be read); `extra`:
    more production variables written in the same UpdateStage (a plan's record)."""
    record = None
    if p.functions is not None:
        try:
            record = record_promotion(
                p.cfg, p.functions, slots.live, slots.candidate, slots.live_deployment, p.clock()
            ).encode()
        except AwsError as exc:
            p.events.emit(WarningEvent(message=f"promoting without an undo record: {exc}"))
    promote(
        p.cfg,
        p.stages,
        p.deployments,
        p.events,
        candidate=slots.candidate,
        former_live=slots.live,
        deployment_id=slots.candidate_deployment,
        reason=reason,
        record=record,
        former_deployment=slots.live_deployment,
        extra=extra,
    )


def observe(p: RunPorts, wait: Wait, slots: Slots, observer: Observer, since: float) -> Tick:
    """Renew the lease, check production is as the engine left it, take a user's request, read metrics."""
    stage = p.lock.renew()
    check_stage(p.cfg, stage, slots, wait)
    record = pending_request(stage, since)
    if record is not None:
        p.stages.remove_variable(p.cfg.production_stage, REQUEST_VARIABLE)
    tick = observer.observe(p.clock(), wait.fetch_from)
    return Tick(tick.at, tick.samples, tick.alarms, tick.user_metrics, record and record.as_input())


def check_stage(cfg: ControllerConfig, stage: StageState, slots: Slots, wait: Wait) -> None:
    canary = stage.canary
    if wait.promoted:
        live = stage.variable(cfg.slot_variable)
        if wait.percent > 0:  # --guard-keep: the former version beside the release, as the stage's canary
            kept = canary is not None and stage.canary_slot(cfg.slot_variable) == slots.live
            if live == slots.candidate and kept and math.isclose(canary.percent, wait.percent, abs_tol=0.01):
                return
            expected = f"{slots.candidate} live and {wait.percent:g}% on {slots.live} beside it"
        elif canary is None and live == slots.candidate:
            return
        else:
            expected = f"{slots.candidate} live and no canary"
        found = f"{live}" + ("" if canary is None else f" and a canary of {canary.percent:g}%")
        raise StateConflict(
            f"production changed under the guard (expected {expected}, found {found}); someone ran undo, "
            "rollback or a new rollout: stopping"
        )
    slot = stage.canary_slot(cfg.slot_variable)
    if (
        canary is None
        or slot != slots.candidate
        or not math.isclose(canary.percent, wait.percent, abs_tol=0.01)
    ):
        found = "no canary" if canary is None else f"canary {canary.percent:g}% for {slot}"
        raise StateConflict(
            f"production changed under the controller (expected canary {wait.percent:g}% for "
            f"{slots.candidate}, found {found}); someone ran rollback or promote: stopping without "
            "touching the stage"
        )
