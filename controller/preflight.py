"""What `shift` checks before it changes anything: which slot is live, which is the candidate, the alarms.

Each check raises a `ControllerError` whose one line says what to do, before any stage is touched.
"""

from __future__ import annotations

from controller.aws.stage import StageState
from controller.config import ControllerConfig
from controller.errors import StateConflict
from controller.event_types import NothingToDo
from controller.events import Events
from controller.ports import AlarmsSource, TrafficRouter
from controller.traffic import Slots, is_kept_former


def resolve_slots(
    cfg: ControllerConfig, production: StageState, staging: StageState, events: Events
) -> Slots | None:
    """Live = production's slot, candidate = staging's; None (and an event) when there is nothing to do."""
    var = cfg.slot_variable
    live, candidate = production.variable(var), staging.variable(var)
    known = cfg.slot_names
    for stage, slot in ((cfg.production_stage, live), (cfg.staging_stage, candidate)):
        if slot is None:
            raise StateConflict(f"stage {stage} has no {var!r} stage variable; apply the module first")
        if slot not in known:
            raise StateConflict(
                f"stage {stage} serves slot {slot!r}, which is not in controller_config.slots {known}"
            )
    assert live is not None and candidate is not None
    if live == candidate and production.canary is None:
        events.emit(
            NothingToDo(
                message=f"production and staging both serve {live}: nothing to shift (if a promotion was "
                "interrupted, `python -m controller promote` finishes it)",
                live_slot=live,
            )
        )
        return None
    canary_slot = production.canary_slot(var)
    if production.canary is not None and is_kept_former(production.canary.overrides):
        raise StateConflict(
            f"production's canary ({production.canary.percent:g}% on {canary_slot}) is the former version "
            "kept beside a guarded promotion (--guard-keep) whose run stopped, not a release to resume: run "
            "`python -m controller rollback` to give the promoted release all of production, or `undo`"
        )
    if production.canary is not None and canary_slot != candidate:
        found = canary_slot or "no slot override"
        raise StateConflict(
            f"production already has a canary at {production.canary.percent:g}% for {found}, not for the "
            f"candidate {candidate}; run `python -m controller rollback` first"
        )
    slots = Slots(live, candidate, production.deployment_id, staging.deployment_id)
    if production.canary is not None and production.canary.deployment_id:
        slots.candidate_deployment = production.canary.deployment_id  # resume exactly what is on the stage
    return slots


def check_alarms(alarms: AlarmsSource, quiet_required: bool) -> dict[str, str]:
    """Every watched alarm exists; and none is firing before a fresh rollout moves any traffic."""
    if not alarms.names:
        return {}
    states = alarms.states()
    missing = [name for name in alarms.names if name not in states]
    if missing:
        raise StateConflict(
            f"alarm(s) the gates watch do not exist: {', '.join(missing)}; a gate on a missing alarm would "
            "never fire (re-apply the module, or fix --gate-alarm / the gates file)"
        )
    firing = [name for name, state in states.items() if state == "ALARM"]
    if quiet_required and firing:
        raise StateConflict(
            f"alarm(s) already in ALARM before any traffic moved: {', '.join(firing)}; fix production first"
        )
    return states


def check_unchanged(
    cfg: ControllerConfig,
    stages: TrafficRouter,
    production: StageState,
    staging: StageState,
    now: StageState,
) -> None:
    """The stages were read before the lease was ours: another run may have finished in between."""
    later = stages.get(cfg.staging_stage)
    var = cfg.slot_variable
    before = (production.deployment_id, production.variable(var), production.canary, staging.variable(var))
    after = (now.deployment_id, now.variable(var), now.canary, later.variable(var))
    if before != after or staging.deployment_id != later.deployment_id:
        raise StateConflict(
            "the stages changed while this run was starting (another controller?); rerun shift"
        )
