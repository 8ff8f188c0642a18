"""The rollout engine's vocabulary: its inputs, its actions, its settings (controller/engine.py runs them).

Inputs carry their time; actions are what the runner (or the benchmark) does for the engine. Hook points, in
the order a rollout reaches them (docs/controller.md lists each one's payload):

    confirm-rollout -> (lease, snapshot, 0 % canary) -> pre-traffic -> [step -> post-step]... ->
    (approval hold) -> confirm-promotion -> promote -> (guard) -> post-promotion
    on-rollback: after any roll back or undo (a gate, a hook, an abort, an interrupt, an error)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controller import event_types as ev
from controller.domain import AlarmReading, Outcome, PeriodSample, WindowStats
from controller.gates import GateValue

CONFIRM_ROLLOUT = "confirm-rollout"
PRE_TRAFFIC = "pre-traffic"
POST_STEP = "post-step"
CONFIRM_PROMOTION = "confirm-promotion"
POST_PROMOTION = "post-promotion"
ON_ROLLBACK = "on-rollback"
HOOK_POINTS = (CONFIRM_ROLLOUT, PRE_TRAFFIC, POST_STEP, CONFIRM_PROMOTION, POST_PROMOTION, ON_ROLLBACK)

# What a user asks a running rollout through `python -m controller approve|abort|pause|resume`.
APPROVE, ABORT, PAUSE, RESUME = "approve", "abort", "pause", "resume"
REQUESTS = (APPROVE, ABORT, PAUSE, RESUME)

# -- inputs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Begin:
    at: float
    resumed_percent: float | None = None  # the canary's share when a run resumes one; None or 0: fresh
    requests_per_period: float = 0.0  # the stage's recent traffic, to size an adaptive first share
    reference: WindowStats | None = None  # the live version before the rollout (the guard's reference)


@dataclass(frozen=True)
class Prepared:
    """The runner took the lease and put the candidate on production at 0 % (after a `Prepare`)."""

    at: float


@dataclass(frozen=True)
class UserRequest:
    """A user's approve, abort, pause or resume, read from the production stage at a tick."""

    action: str
    by: str = ""


@dataclass(frozen=True)
class Tick:
    at: float
    samples: tuple[PeriodSample, ...] = ()  # complete periods (any already seen are replaced: late data)
    alarms: AlarmReading = field(default_factory=AlarmReading)
    user_metrics: Mapping[str, Sequence[GateValue]] = field(default_factory=dict)
    request: UserRequest | None = None  # handled before the tick's data


@dataclass(frozen=True)
class HookFinished:
    at: float
    hook: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class Interrupt:
    at: float


@dataclass(frozen=True)
class Failed:
    """An AWS call failed mid-rollout (after botocore's retries): roll back, then the on-rollback hook."""

    at: float
    reason: str


Input = Begin | Prepared | Tick | HookFinished | Interrupt | Failed

# -- actions -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepare:
    """Take the lease and put the candidate on production at 0 % (a fresh run), then answer `Prepared`."""


@dataclass(frozen=True)
class SetShare:
    percent: float


@dataclass(frozen=True)
class RunHook:
    hook: str
    percent: float
    step: int
    reason: str = ""  # why: the rollback's or the promotion's reason


@dataclass(frozen=True)
class Emit:
    event: ev.Event


@dataclass(frozen=True)
class Wait:
    until: float
    fetch_from: float  # the oldest period start the next Tick needs
    # The canary's share the stage must still have; while guarding (`promoted`), the former version's share
    # kept beside the promoted release (`--guard-keep`; 0: none, no canary on the stage).
    percent: float
    promoted: bool = False  # guarding: production serves the new slot


@dataclass(frozen=True)
class Hold:
    """Say on the production stage that the rollout is held (`status` shows it); kind "" clears it."""

    kind: str  # approval | pause | ""
    until: float | None = None


@dataclass(frozen=True)
class Promote:
    reason: str
    # `--guard-keep`: the share of production the former version keeps beside the promoted release while
    # the guard watches it (the stage's canary, pointed at the former slot); 0: the release takes it all.
    keep_percent: float = 0.0


@dataclass(frozen=True)
class ReleaseFormer:
    """The guard is over: remove the share the former version kept beside the promoted release."""


@dataclass(frozen=True)
class RollBack:
    reason: str
    percent: float
    outcome: Outcome = Outcome.ROLLED_BACK  # INTERRUPTED when a signal asked for it


@dataclass(frozen=True)
class Undo:
    """Put production back on the former live slot (the guard found the promoted release worse)."""

    reason: str
    kept: bool = False  # the former version kept a share beside the release (its canary goes with the undo)


@dataclass(frozen=True)
class Refuse:
    """Stop before anything changed (a failing confirm-rollout hook)."""

    reason: str


@dataclass(frozen=True)
class Leave:
    percent: float


EngineAction = (
    Prepare
    | SetShare
    | RunHook
    | Emit
    | Wait
    | Hold
    | Promote
    | ReleaseFormer
    | RollBack
    | Undo
    | Refuse
    | Leave
)


@dataclass(frozen=True)
class EngineSettings:
    period_s: float
    metrics_lag_s: float  # a period is read by the judge this long after it ends (CloudWatch's delay)
    hooks: frozenset[str] = frozenset()  # the hook points configured (HOOK_POINTS)
    on_interrupt: str = "rollback"  # or "leave"
    prepare: bool = False  # ask the runner to `Prepare` (lease, snapshot, 0 % canary) before the first share
    approval: bool = False  # hold at the last step until approved (`shift --approval before-promotion`)
    approval_timeout_s: float = 3600.0  # then roll back
    guard_s: float = 0.0  # judge the promoted release this long, and undo it on a regression (0: off)
    guard_keep_percent: float = 0.0  # the former version's share beside the release while guarding
    tick_s: float = 60.0  # between ticks while held or guarding
