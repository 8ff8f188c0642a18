"""`status --plan FILE`: where every stack of a plan stands for the current release, and the plan's phase.

Read only: each stack's production and staging stages and both slots' functions (its release id,
controller/plan_record.py). A stack is promoted when its record says so for this release and production
still serves the promoted slot; rolling while a canary is on production; rolled back or reverted when its
record says so for this release; pending otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from controller.aws.lock import Lease
from controller.domain import Outcome
from controller.events import Events
from controller.plan_app import PlanStack, read_releases
from controller.plan_events import PlanStatusShown, StackStatus
from controller.plan_file import Plan
from controller.plan_record import PlanRecord

PROMOTED, ROLLING, PENDING, NOTHING = "promoted", "rolling", "pending", "nothing_to_do"
DONE = (PROMOTED, NOTHING)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def stack_status(stack: PlanStack, now: float) -> tuple[StackStatus, float | None]:
    """The stack's state, and when it was promoted for this release (None if it was not)."""
    cfg = stack.cfg
    production, staging = stack.production(), stack.app.stages.get(cfg.staging_stage)
    live, idle = production.variable(cfg.slot_variable), staging.variable(cfg.slot_variable)
    record = PlanRecord.read(production)

    def status(state: str, detail: str) -> StackStatus:
        return StackStatus(stack.name, stack.wave, cfg.region, state, detail)

    if record is not None and record.promoted_for(stack.release, production, cfg.slot_variable):
        return status(PROMOTED, f"serves {live} since {_when(record.at)}"), record.at
    if production.canary is not None:
        lease = Lease.parse(production.variable("controller_lock"))
        holder = f", {lease.describe(now)}" if lease else ", no controller holds it"
        slot = production.canary_slot(cfg.slot_variable)
        return status(ROLLING, f"canary {production.canary.percent:g}% on {slot}{holder}"), None
    if record is not None and record.release == stack.release and record.state != "promoted":
        return status(record.state, f"{record.state.replace('_', ' ')} at {_when(record.at)}"), None
    if live == idle:
        return status(NOTHING, f"production and staging both serve {live}"), None
    return status(PENDING, f"next: {idle} replaces {live}"), None


def phase(plan: Plan, states: dict[str, StackStatus], promoted: dict[str, float], now: float) -> str:
    failed = [
        f"{s.stack} {s.state.replace('_', ' ')} (wave {s.wave})"
        for s in states.values()
        if s.state in ("rolled_back", "reverted")
    ]
    if failed and not any(s.state == ROLLING for s in states.values()):
        return f"stopped: {', '.join(failed)}; a rerun retries them"
    for wave in plan.waves:
        mine = [states[s.name] for s in wave.stacks]
        if all(s.state in DONE for s in mine):
            continue
        if any(s.state == ROLLING for s in mine):
            return f"wave {wave.number} rolling"
        if wave.number > 1:
            before = [promoted[s.name] for s in plan.waves[wave.number - 2].stacks if s.name in promoted]
            if before and max(before) + plan.bake_s > now:
                left = max(before) + plan.bake_s - now
                return f"baking wave {wave.number - 1}: wave {wave.number} starts in {left:.0f}s (when rerun)"
        return f"wave {wave.number} next"
    return "done: every stack promoted for this release"


def show(
    plan: Plan, stacks: list[PlanStack], events: Events, clock: Callable[[], float] = time.time
) -> Outcome:
    plan_id = read_releases(stacks)
    now = clock()
    states: dict[str, StackStatus] = {}
    promoted: dict[str, float] = {}
    for stack in stacks:
        state, at = stack_status(stack, now)
        states[stack.name] = state
        if at is not None:
            promoted[stack.name] = at
    where = phase(plan, states, promoted, now)
    lines = [f"plan {plan.name} ({plan_id}), policy {plan.policy}: {where}"]
    for wave in plan.waves:
        lines.append(f"  wave {wave.number} ({wave.name}):")
        for ref in wave.stacks:
            s = states[ref.name]
            lines.append(f"    {s.stack} ({s.region}): {s.state.replace('_', ' ')}: {s.detail}")
    events.emit(
        PlanStatusShown(
            plan_id=plan_id,
            phase=where,
            lines=tuple(lines),
            stacks=tuple(states[s.name] for _, s in plan.stacks),
        )
    )
    return Outcome.NOTHING_TO_DO
