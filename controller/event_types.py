"""The rollout's events, one dataclass per kind, and their JSON form.

Every event serialises as `{"event": KIND, "schema_version": 1, "at": <epoch s>, ...fields}`; the JSON Schema
of all of them is generated from these classes (`controller.event_schema`) and published as
docs/events.schema.json. Readers (the human view, `controller report`, the demo) parse JSON lines back into
these types with `parse_event`, so a renamed field fails loudly instead of reading as missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from controller.domain import WindowStats

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Window:
    """One version's metrics over a window, as events carry them."""

    requests: int
    errors_5xx: int
    errors_4xx: int = 0
    error_rate: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    slow_requests: int | None = None  # beyond the slow-request threshold (None: not read)

    @classmethod
    def of(cls, stats: WindowStats) -> Window:
        rate = stats.error_rate
        return cls(
            stats.requests,
            stats.errors_5xx,
            stats.errors_4xx,
            None if rate is None else round(rate, 6),
            _round(stats.p50_ms),
            _round(stats.p90_ms),
            _round(stats.p99_ms),
            stats.slow_requests,
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass(frozen=True)
class GateOutcome:
    gate: str
    status: str  # PASS | FAIL | NO_DATA
    reason: str
    shadow: bool = False


@dataclass(frozen=True)
class JudgeSummary:
    verdict: str  # CONTINUE | PASS | FAIL
    reason: str
    fail_e_value: float | None = None
    pass_e_value: float | None = None


@dataclass(frozen=True)
class Thresholds:
    error_rate: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class CanaryView:
    percent: float
    slot: str | None
    deployment_id: str | None


@dataclass(frozen=True)
class StageView:
    stage: str
    slot: str | None
    deployment_id: str
    canary: CanaryView | None = None


@dataclass(frozen=True)
class LockView:
    holder: str
    expires: float


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event; `at` is stamped by the sink that writes it (epoch seconds)."""

    kind: ClassVar[str] = "event"
    at: float | None = None
    # Set on the events of a plan's stacks (`shift --plan`): which stack and which wave (1-based) it is about.
    stack: str | None = None
    wave: int | None = None

    def to_dict(self) -> dict[str, Any]:
        body = {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "at" and not (f.name in _PLAN_FIELDS and getattr(self, f.name) is None)
        }
        return {"event": self.kind, "schema_version": SCHEMA_VERSION, "at": self.at, **body}

    @property
    def text(self) -> str:
        """A one-line description for logs and summaries (its reason or message when it has one)."""
        return str(getattr(self, "reason", None) or getattr(self, "message", None) or self.kind)


_PLAN_FIELDS = ("stack", "wave")  # left out of a single stack's events


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    api_name: str
    stage: str
    strategy: str
    live_slot: str
    candidate_slot: str
    live_version: str = ""
    candidate_version: str = ""
    candidate_deployment: str = ""
    steps: tuple[float, ...] = ()
    bakes_s: tuple[float, ...] = ()
    interval_s: float = 60.0
    bake_s: float = 0.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    resumed_from: float | None = None
    holder: str = ""
    gates: tuple[str, ...] = ()  # every gate, one line each (built-ins and a gates file's)


@dataclass(frozen=True, kw_only=True)
class StepStarted(Event):
    kind: ClassVar[str] = "step_started"
    step: int
    steps: int | None  # None: the adaptive ramp decides how many
    percent: float
    bake_s: float | None  # None: adaptive


@dataclass(frozen=True, kw_only=True)
class TickEvent(Event):
    kind: ClassVar[str] = "tick"
    step: int
    percent: float
    canary: Window
    baseline: Window
    verdict: str  # CONTINUE | PASS | FAIL
    reason: str
    bake_left_s: float
    alarms: Mapping[str, str] = field(default_factory=dict)
    gates: tuple[GateOutcome, ...] = ()
    judge: JudgeSummary | None = None
    aws_calls: Mapping[str, int] = field(default_factory=dict)
    aws_attempts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class GateFailed(Event):
    kind: ClassVar[str] = "gate_failed"
    step: int
    percent: float
    gate: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class BaselineHistoryRead(Event):
    kind: ClassVar[str] = "baseline_history"
    window_s: float
    requests: int
    errors_5xx: int
    error_rate: float | None
    used: bool
    trusted: bool
    # The live version's per-period 5XX noise beyond binomial (a coefficient of variation, at the upper
    # bound the default judge carries; None without a per-period history), and the longest sum of periods
    # (2-16) over which it clearly varies more than independent periods would (1: none, as the judge
    # assumes).
    noise_cv: float | None = None
    noise_lasts_periods: int = 1
    # Whether the judge carries that lasting noise in its tests (JudgeConfig.lasting_noise): each period's
    # noise at the lasting scale's CV, and a pass margin that may widen past 2x.
    noise_carried: bool = False
    # Periods of the history its noise model cannot explain (spikes beyond the negative binomial's 1e-5
    # tail around their neighbours), the share of periods the judge allows for them (an upper bound; 0
    # without any), and whether its fail test caps each period's evidence for that share
    # (JudgeConfig.outlier_cap).
    outlier_periods: int = 0
    outlier_share: float = 0.0
    outliers_capped: bool = False
    # The latency (ms) above which the judge's slow-request test counts a request as slow: `--slow-ms`, else
    # the live version's p99 over this window, rounded up (None: no slow-request test).
    slow_threshold_ms: float | None = None


@dataclass(frozen=True, kw_only=True)
class MetricsSourceChosen(Event):
    kind: ClassVar[str] = "metrics_source"
    source: str  # apigateway_canary | lambda_per_slot
    reason: str


@dataclass(frozen=True, kw_only=True)
class HookRan(Event):
    kind: ClassVar[str] = "hook"
    hook: str
    command: str  # the command, or the webhook's URL
    exit_code: int | None  # a command's; None: timed out, or a webhook
    seconds: float
    percent: float
    ok: bool = True
    detail: str = ""  # why it failed; a webhook's HTTP status
    attempts: int = 1  # a webhook's tries


@dataclass(frozen=True, kw_only=True)
class RolledBack(Event):
    kind: ClassVar[str] = "rolled_back"
    live_slot: str | None
    candidate_slot: str | None
    reason: str
    percent: float | None


@dataclass(frozen=True, kw_only=True)
class Promoted(Event):
    kind: ClassVar[str] = "promoted"
    live_slot: str
    candidate_slot: str
    staging_slot: str
    reason: str
    deployment_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Interrupted(Event):
    kind: ClassVar[str] = "interrupted"
    message: str
    percent: float | None
    action: str  # rollback | leave


@dataclass(frozen=True, kw_only=True)
class LockEvent(Event):
    kind: ClassVar[str] = "lock"
    message: str
    holder: str


@dataclass(frozen=True, kw_only=True)
class WarningEvent(Event):
    kind: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True, kw_only=True)
class NothingToDo(Event):
    kind: ClassVar[str] = "nothing_to_do"
    message: str
    live_slot: str | None


@dataclass(frozen=True, kw_only=True)
class DeploymentChanged(Event):
    kind: ClassVar[str] = "deployment"
    action: str  # created | deleted
    deployment_id: str
    description: str
    message: str


@dataclass(frozen=True, kw_only=True)
class PlanShown(Event):
    kind: ClassVar[str] = "plan"
    lines: tuple[str, ...]
    live_slot: str
    candidate_slot: str
    steps: tuple[float, ...] = ()
    bakes_s: tuple[float, ...] = ()
    start_step: int = 1
    alarms: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class StatusShown(Event):
    kind: ClassVar[str] = "status"
    lines: tuple[str, ...]
    phase: str
    api_id: str
    production: StageView
    staging: StageView
    lock: LockView | None = None
    alarms: Mapping[str, str] = field(default_factory=dict)
    metrics_source: str | None = None
    hold: str | None = None  # approval | pause: a running shift is held


@dataclass(frozen=True, kw_only=True)
class ErrorEvent(Event):
    kind: ClassVar[str] = "error"
    message: str
    exit_code: int


@dataclass(frozen=True, kw_only=True)
class GatesChecked(Event):
    kind: ClassVar[str] = "gates_checked"
    path: str
    gates: tuple[str, ...]
    problems: tuple[str, ...] = ()


EVENT_TYPES: tuple[type[Event], ...] = (
    RunStarted,
    StepStarted,
    TickEvent,
    GateFailed,
    BaselineHistoryRead,
    MetricsSourceChosen,
    HookRan,
    RolledBack,
    Promoted,
    Interrupted,
    LockEvent,
    WarningEvent,
    NothingToDo,
    DeploymentChanged,
    PlanShown,
    StatusShown,
    ErrorEvent,
    GatesChecked,
)

from controller.lifecycle_events import LIFECYCLE_EVENT_TYPES  # noqa: E402 - they subclass Event above
from controller.plan_events import PLAN_EVENT_TYPES  # noqa: E402 - likewise

EVENT_TYPES = (*EVENT_TYPES, *LIFECYCLE_EVENT_TYPES, *PLAN_EVENT_TYPES)
BY_KIND: dict[str, type[Event]] = {cls.kind: cls for cls in EVENT_TYPES}


class EventFormatError(ValueError):
    """A JSON event that is not one of ours (unknown kind, missing field, wrong shape)."""


def parse_event(record: Mapping[str, Any]) -> Event:
    """The typed event of one JSON object; fields this version does not know are ignored."""
    kind = record.get("event")
    cls = BY_KIND.get(str(kind))
    if cls is None:
        raise EventFormatError(f"unknown event kind {kind!r}")
    try:
        return _build(cls, record)
    except (TypeError, ValueError, KeyError) as exc:
        raise EventFormatError(f"{kind} event: {exc}") from None


def _build(cls: type, record: Mapping[str, Any]) -> Any:
    import typing

    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in record:
            continue
        values[f.name] = _convert(hints[f.name], record[f.name])
    return cls(**values)


def _convert(hint: Any, value: Any) -> Any:
    import types
    import typing

    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object for {hint.__name__}, got {type(value).__name__}")
        return _build(hint, value)
    if origin is tuple:
        return tuple(_convert(args[0], v) for v in value)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value
