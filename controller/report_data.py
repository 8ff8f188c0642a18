"""What a rollout report shows, read from its `--json` event log alone (pure; no matplotlib).

The log is parsed into the typed events of controller/event_types.py: a line that is not one of ours is an
error naming the line, and a field renamed between versions fails here rather than reading as missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from controller import event_types as ev
from controller import lifecycle_events as lev
from controller.errors import ControllerError


class ReportError(ControllerError):
    """An event log that cannot be drawn, or an output the report cannot write (exit code 1)."""


@dataclass(frozen=True)
class Side:
    """One version's window as a tick reports it."""

    requests: int
    error_rate: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class Tick:
    t: float  # seconds since the first event
    percent: float | None
    canary: Side
    baseline: Side


@dataclass(frozen=True)
class Marker:
    t: float
    event: str
    reason: str


DECISION_KINDS = ("gate_failed", "rolled_back", "promoted", "error")


@dataclass
class Timeline:
    """What the chart shows."""

    started_at: float
    ticks: list[Tick] = field(default_factory=list)
    traffic: list[tuple[float, float]] = field(default_factory=list)  # (t, candidate %) at each change
    markers: list[Marker] = field(default_factory=list)
    outcome: str = "in progress"  # promoted | rolled back | error | in progress
    reason: str = ""
    candidate: str = "candidate"
    live: str = "live"
    thresholds: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0


def load_events(path: Path) -> list[ev.Event]:
    """The typed events of an event log, one per non-empty line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot read event log {path}: {exc.strerror or exc}") from exc
    events: list[ev.Event] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReportError(
                f"{path}:{number} is not JSON ({exc.msg}); the report reads the output of "
                "`python -m controller shift --json`, one event per line"
            ) from exc
        if not isinstance(record, dict) or "event" not in record or "at" not in record:
            raise ReportError(f"{path}:{number} is not a controller event (needs 'event' and 'at' fields)")
        try:
            events.append(ev.parse_event(record))
        except ev.EventFormatError as exc:
            raise ReportError(f"{path}:{number}: {exc}") from None
    if not events:
        raise ReportError(f"{path} has no events; write it with `python -m controller shift --json > {path}`")
    return events


def _side(window: ev.Window) -> Side:
    rate = window.error_rate
    if rate is None and window.requests:
        rate = window.errors_5xx / window.requests
    return Side(window.requests, rate if window.requests else None, window.p99_ms)


def _label(slot: str, version: str) -> str | None:
    return " ".join(p for p in (slot, version) if p) or None


def build_timeline(events: list[ev.Event]) -> Timeline:
    events = sorted(events, key=lambda e: e.at or 0.0)
    start = events[0].at or 0.0
    timeline = Timeline(started_at=start)
    timeline.traffic.append((0.0, 0.0))

    def set_traffic(t: float, percent: float | None) -> None:
        if percent is not None and percent != timeline.traffic[-1][1]:
            timeline.traffic.append((t, percent))

    for event in events:
        t = (event.at or start) - start
        timeline.duration_s = max(timeline.duration_s, t)
        match event:
            case ev.RunStarted():
                # The opening event names both releases; later events may repeat only the slot.
                candidate = _label(event.candidate_slot, event.candidate_version)
                timeline.candidate = candidate or timeline.candidate
                timeline.live = _label(event.live_slot, event.live_version) or timeline.live
                # Only the absolute limits can be drawn as lines; relative ones depend on the baseline.
                for key in ("error_rate", "p99_ms"):
                    value = getattr(event.thresholds, key)
                    if value is not None:
                        timeline.thresholds[key] = float(value)
            case ev.StepStarted():
                set_traffic(t, event.percent)
            case ev.TickEvent():
                set_traffic(t, event.percent)
                timeline.ticks.append(Tick(t, event.percent, _side(event.canary), _side(event.baseline)))
            case ev.Promoted() | ev.RolledBack() | ev.ErrorEvent() | ev.GateFailed():
                reason = event.text
                timeline.markers.append(Marker(t, event.kind, reason))
                if isinstance(event, ev.Promoted):
                    set_traffic(t, 100.0)
                    timeline.outcome, timeline.reason = "promoted", reason
                elif isinstance(event, ev.RolledBack):
                    set_traffic(t, 0.0)
                    timeline.outcome, timeline.reason = "rolled back", reason
                elif isinstance(event, ev.ErrorEvent):
                    timeline.outcome, timeline.reason = "error", reason
                elif not timeline.reason:
                    timeline.reason = reason
            case lev.Undone() | lev.Refused():
                timeline.markers.append(Marker(t, event.kind, event.text))
                timeline.outcome = "undone" if isinstance(event, lev.Undone) else "refused"
                timeline.reason = event.text
                if isinstance(event, lev.Undone):
                    set_traffic(t, 0.0)
            case lev.HoldStarted() | lev.HoldEnded() | lev.GuardEnded():
                timeline.markers.append(Marker(t, event.kind, event.text))
    return timeline


def details(event: ev.Event) -> str:
    """One table cell of the HTML page for an event."""
    if isinstance(event, ev.TickEvent):
        parts = [f"{event.percent:g}% canary"]
        for role, window in (("canary", event.canary), ("baseline", event.baseline)):
            side = _side(window)
            rate = "n/a" if side.error_rate is None else f"{side.error_rate:.1%}"
            p99 = "n/a" if side.p99_ms is None else f"{side.p99_ms:.0f} ms"
            parts.append(f"{role}: {side.requests} req, 5xx {rate}, p99 {p99}")
        parts.append(f"{event.verdict}: {event.reason}")
        return "; ".join(parts)
    rest = {k: v for k, v in event.to_dict().items() if k not in ("event", "at", "schema_version")}
    return ", ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in rest.items())
