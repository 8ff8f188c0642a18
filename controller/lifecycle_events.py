"""The events of a rollout's lifecycle beyond its steps: holds (approval, pause), the post-promotion guard,
undo, and a rollout refused before it changed anything. Registered with the others in event_types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from controller.event_types import Event, Window


@dataclass(frozen=True, kw_only=True)
class HoldStarted(Event):
    """The canary stays at its share: waiting for `approve` (kind approval) or `resume` (kind pause)."""

    kind: ClassVar[str] = "hold_started"
    hold: str  # approval | pause
    percent: float
    step: int
    message: str
    timeout_s: float | None = None  # approval: rolled back after this long
    by: str = ""  # pause: who asked


@dataclass(frozen=True, kw_only=True)
class HoldEnded(Event):
    kind: ClassVar[str] = "hold_ended"
    hold: str  # approval | pause
    action: str  # approved | aborted | resumed | timed_out | rolled_back
    percent: float
    message: str
    by: str = ""
    seconds: float = 0.0  # how long it was held


@dataclass(frozen=True, kw_only=True)
class Refused(Event):
    """The rollout stopped before it changed anything in AWS (a failing confirm-rollout hook)."""

    kind: ClassVar[str] = "refused"
    reason: str


@dataclass(frozen=True, kw_only=True)
class GuardStarted(Event):
    kind: ClassVar[str] = "guard_started"
    duration_s: float
    reference: Window  # the former live version before the rollout (or during it, without history)
    allowed_error_rate: float
    message: str
    kept_percent: float = 0.0  # `--guard-keep`: the former version's share of production beside the release


@dataclass(frozen=True, kw_only=True)
class GuardChecked(Event):
    kind: ClassVar[str] = "guard_check"
    window: Window  # the promoted release since the promotion
    e_value: float
    verdict: str  # CONTINUE | FAIL
    reason: str
    left_s: float


@dataclass(frozen=True, kw_only=True)
class GuardEnded(Event):
    kind: ClassVar[str] = "guard_ended"
    verdict: str  # PASS | FAIL | STOPPED
    reason: str
    window: Window


@dataclass(frozen=True, kw_only=True)
class Undone(Event):
    """Production serves the former live slot again (`undo`, or the guard)."""

    kind: ClassVar[str] = "undone"
    live_slot: str  # serves production now (the former live slot)
    undone_slot: str  # the promoted release, idle on staging now
    deployment_id: str
    reason: str
    seconds: float  # from the request to the stage update's answer


@dataclass(frozen=True, kw_only=True)
class RequestSent(Event):
    """`approve`, `abort`, `pause` or `resume` asked the running shift to act."""

    kind: ClassVar[str] = "request_sent"
    action: str
    by: str
    holder: str  # the running shift's lock holder
    message: str


LIFECYCLE_EVENT_TYPES: tuple[type[Event], ...] = (
    HoldStarted,
    HoldEnded,
    Refused,
    GuardStarted,
    GuardChecked,
    GuardEnded,
    Undone,
    RequestSent,
)
