"""The events of a wave plan (`shift --plan`): the plan, its waves, each stack's start and end, the bakes,
a revert, and `plan validate` / `status --plan`. Each stack's own rollout events carry `stack` and `wave`.
Registered with the others in event_types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from controller.event_types import Event


@dataclass(frozen=True)
class PlannedStack:
    stack: str
    wave: int
    region: str
    api_id: str
    release: str  # the release id (controller/plan_record.py)


@dataclass(frozen=True)
class ControlPlaneUsage:
    """The plan's AWS calls: per operation (once per call, and per HTTP attempt), throttling answers seen,
    and the calls that waited for a token of the account's rate quotas (controller/aws/pacing.py)."""

    calls: Mapping[str, int] = field(default_factory=dict)
    attempts: Mapping[str, int] = field(default_factory=dict)
    throttled: int = 0
    paced_calls: int = 0
    paced_wait_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class PlanStarted(Event):
    kind: ClassVar[str] = "plan_started"
    plan_id: str
    name: str
    policy: str  # hold | revert
    bake_s: float
    concurrency: int
    waves: int
    stacks: tuple[PlannedStack, ...]
    message: str


@dataclass(frozen=True, kw_only=True)
class WaveStarted(Event):
    kind: ClassVar[str] = "wave_started"
    name: str
    stacks: tuple[str, ...]
    skipped: tuple[str, ...] = ()  # promoted for this release by an earlier run
    message: str


@dataclass(frozen=True, kw_only=True)
class StackSkipped(Event):
    """A stack already promoted for this release (a rerun): not rolled again."""

    kind: ClassVar[str] = "stack_skipped"
    promoted_at: float
    message: str


@dataclass(frozen=True, kw_only=True)
class StackFinished(Event):
    kind: ClassVar[str] = "stack_finished"
    # promoted | nothing_to_do | rolled_back | undone | interrupted | error | promoted_hook_failed |
    # not_started | reverted | revert_failed
    outcome: str
    reason: str
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class WaveFinished(Event):
    kind: ClassVar[str] = "wave_finished"
    outcome: str  # promoted | failed | interrupted
    message: str


@dataclass(frozen=True, kw_only=True)
class BakeStarted(Event):
    """The wave is promoted; its alarms are watched this long before the next wave starts."""

    kind: ClassVar[str] = "bake_started"
    until: float
    seconds: float
    message: str


@dataclass(frozen=True, kw_only=True)
class BakeEnded(Event):
    kind: ClassVar[str] = "bake_ended"
    outcome: str  # passed | failed | interrupted
    reason: str


@dataclass(frozen=True, kw_only=True)
class PlanReverting(Event):
    kind: ClassVar[str] = "plan_reverting"
    stacks: tuple[str, ...]
    reason: str


@dataclass(frozen=True, kw_only=True)
class PlanFinished(Event):
    kind: ClassVar[str] = "plan_finished"
    plan_id: str
    outcome: str  # promoted | rolled_back | error | interrupted
    reason: str
    promoted: tuple[str, ...] = ()  # by this run
    skipped: tuple[str, ...] = ()  # promoted for this release before this run
    rolled_back: tuple[str, ...] = ()
    reverted: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()  # an error (AWS, lock, hook after promotion, a refused revert)
    not_started: tuple[str, ...] = ()
    seconds: float = 0.0
    control_plane: ControlPlaneUsage | None = None


@dataclass(frozen=True, kw_only=True)
class PlanChecked(Event):
    """`plan validate FILE`: the plan, or one line per mistake."""

    kind: ClassVar[str] = "plan_checked"
    path: str
    lines: tuple[str, ...]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackStatus:
    stack: str
    wave: int
    region: str
    state: str  # promoted | rolling | rolled_back | reverted | pending | nothing_to_do
    detail: str


@dataclass(frozen=True, kw_only=True)
class PlanStatusShown(Event):
    kind: ClassVar[str] = "plan_status"
    plan_id: str
    phase: str
    lines: tuple[str, ...]
    stacks: tuple[StackStatus, ...]


PLAN_EVENT_TYPES: tuple[type[Event], ...] = (
    PlanStarted,
    WaveStarted,
    StackSkipped,
    StackFinished,
    WaveFinished,
    BakeStarted,
    BakeEnded,
    PlanReverting,
    PlanFinished,
    PlanChecked,
    PlanStatusShown,
)
