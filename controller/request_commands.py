"""`approve`, `abort`, `pause`, `resume`: ask the running `shift` (on any machine) to act at its next tick.

Each writes the production stage's `controller_request` variable (controller/holds.py) after checking that
the request makes sense now; a request that does not (no rollout held for approval, nothing running) is a
one-line error and changes nothing. `shift` answers within one `--interval`; `status` shows the hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from controller.aws.lock import Lease, default_holder, holder_is_dead_local
from controller.config import ControllerConfig
from controller.domain import Outcome
from controller.engine_io import ABORT, APPROVE, PAUSE, RESUME
from controller.errors import StateConflict
from controller.events import Events
from controller.holds import REQUEST_VARIABLE, HoldState, RequestRecord
from controller.lifecycle_events import RequestSent
from controller.ports import TrafficRouter

WHAT = {
    APPROVE: "promote the held canary",
    ABORT: "roll the rollout back (undo it while guarding)",
    PAUSE: "hold the canary at its share; gates keep judging",
    RESUME: "go on with the paused rollout",
}


def send(
    cfg: ControllerConfig,
    stages: TrafficRouter,
    action: str,
    events: Events,
    clock: Callable[[], float] = time.time,
) -> Outcome:
    production = stages.get(cfg.production_stage)
    now = clock()
    lease = Lease.parse(production.variable("controller_lock"))
    running = lease is not None and lease.expires > now and not holder_is_dead_local(lease.holder)
    hold = HoldState.read(production)
    stage = cfg.production_stage
    if not running:
        raise StateConflict(
            f"no shift is running on {stage} (lock free or expired): nothing to {action}"
            + ("; run rollback to remove the canary" if production.canary is not None else "")
        )
    if action == APPROVE and (hold is None or hold.kind != "approval"):
        raise StateConflict(f"the rollout on {stage} is not waiting for approval (see status); nothing sent")
    if action == RESUME and (hold is None or hold.kind != "pause"):
        raise StateConflict(f"the rollout on {stage} is not paused (see status); nothing sent")
    if action == PAUSE and (production.canary is None or hold is not None):
        why = "already held" if hold is not None else "has no canary to hold"
        raise StateConflict(f"the rollout on {stage} {why}; nothing sent")
    record = RequestRecord(action, default_holder(), now)
    stages.set_variable(stage, REQUEST_VARIABLE, record.encode())
    assert lease is not None
    message = f"asked {lease.holder} to {WHAT[action]}; it acts at its next tick"
    events.emit(RequestSent(action=action, by=record.by, holder=lease.holder, message=message))
    return Outcome.NOTHING_TO_DO
