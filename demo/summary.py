"""The demo's closing table: one row per rollout, from its event log and the traffic seen meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from controller import event_types as ev
from demo.traffic import TrafficSnapshot, VersionStats
from demo.undo import UndoSummary

# What the controller's notifications (`--notify webhook:URL`, decisions only) must bring to the receiver.
EXPECTED_NOTIFICATIONS = ("promoted", "undone", "rolled_back")
# The controller's exit codes (docs/contracts.md) as the decision they stand for.
DECISIONS = {0: "promoted", 3: "rolled back", 1: "error", 2: "usage error"}


@dataclass(frozen=True)
class RunSummary:
    name: str
    expected: str  # the decision the demo wants from this run
    decision: str
    reason: str
    steps: int  # traffic steps the controller started
    max_percent: float  # highest canary share reached before the decision
    duration_s: float
    traffic: dict[str, VersionStats]  # requests and errors per version while the run lasted
    failed: int  # requests with no HTTP answer while the run lasted
    live: str = ""  # "blue v1.0.0": the release production served when the run started
    candidate: str = ""  # "green v2.0.0": the release the run shifted to

    @property
    def as_expected(self) -> bool:
        return self.decision == self.expected


@dataclass(frozen=True)
class Notification:
    """One notification the receiver got: the event it reports and its title."""

    event: str
    title: str
    at: float


@dataclass
class Outcome:
    rows: list[RunSummary | UndoSummary] = field(default_factory=list)  # in the order they ran
    phases: list[dict[str, Any]] = field(default_factory=list)  # {"step": title, "seconds": s}
    requests_served: int = 0
    charts: list[Path] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    receiver_url: str = ""

    @property
    def runs(self) -> list[RunSummary]:
        return [row for row in self.rows if isinstance(row, RunSummary)]

    @property
    def undo(self) -> UndoSummary | None:
        return next((row for row in self.rows if isinstance(row, UndoSummary)), None)

    @property
    def notified(self) -> bool:
        return set(EXPECTED_NOTIFICATIONS) <= {n.event for n in self.notifications}

    @property
    def ok(self) -> bool:
        decisions = [run.decision for run in self.runs]
        undo = self.undo
        return (
            decisions == ["promoted", "rolled back"]
            and undo is not None
            and undo.as_expected
            and self.notified
        )


def _reason(events: list[ev.Event]) -> str:
    gates = [e for e in events if isinstance(e, ev.GateFailed) and e.reason]
    if gates:
        # One line per rollback: the first gate that measured something (alarms only name themselves),
        # and how many more gates agreed.
        lead = next((g for g in gates if g.gate != "alarms"), gates[0])
        others = sorted({g.gate for g in gates if g is not lead})
        more = f" (also failed: {', '.join(others)})" if others else ""
        return f"{lead.gate}: {lead.reason}{more}"
    for kind in (ev.RolledBack, ev.Promoted, ev.ErrorEvent):
        for event in reversed(events):
            if isinstance(event, kind) and event.text != event.kind:
                return event.text
    return ""


def summarize(
    name: str,
    expected: str,
    events: list[ev.Event],
    exit_code: int | None,
    traffic: TrafficSnapshot,
) -> RunSummary:
    """`traffic` is the difference of the generator's snapshots taken around the run."""
    kinds = [event.kind for event in events]
    if "promoted" in kinds:
        decision = "promoted"
    elif "rolled_back" in kinds:
        decision = "rolled back"
    else:
        decision = DECISIONS.get(exit_code, f"exit {exit_code}") if exit_code is not None else "interrupted"
    times = [event.at for event in events if event.at is not None]
    percents = [event.percent for event in events if isinstance(event, ev.StepStarted | ev.TickEvent)]
    started = next((event for event in events if isinstance(event, ev.RunStarted)), None)
    return RunSummary(
        name=name,
        expected=expected,
        decision=decision,
        reason=_reason(events),
        steps=kinds.count("step_started"),
        max_percent=max(percents, default=0.0),
        duration_s=(max(times) - min(times)) if times else 0.0,
        traffic=traffic.by_version,
        failed=traffic.failed,
        live="" if started is None else f"{started.live_slot} {started.live_version}".strip(),
        candidate="" if started is None else f"{started.candidate_slot} {started.candidate_version}".strip(),
    )


def _versions(traffic: dict[str, VersionStats], failed: int) -> tuple[str, str, str]:
    """The version, requests and 5xx cells: one line per version that answered, and one for no answer."""
    versions = sorted(traffic.items())
    names = "\n".join(version for version, _ in versions) or "-"
    requests = "\n".join(str(stats.requests) for _, stats in versions) or "-"
    errors = (
        "\n".join(f"[red]{stats.errors_5xx}[/red]" if stats.errors_5xx else "0" for _, stats in versions)
        or "-"
    )
    if failed:
        names, requests, errors = f"{names}\nno answer", f"{requests}\n{failed}", f"{errors}\n-"
    return names, requests, errors


def table(rows: Sequence[RunSummary | UndoSummary]) -> Table:
    """One block per rollout or undo, in the order they ran; one line per version that answered meanwhile."""
    out = Table(title="Demo summary", show_lines=True, title_style="bold")
    out.add_column("run")
    out.add_column("steps", justify="right")
    out.add_column("took", justify="right")
    out.add_column("version")
    out.add_column("requests", justify="right")
    out.add_column("5xx", justify="right")
    out.add_column("decision")
    for row in rows:
        if isinstance(row, UndoSummary):
            mark = "[green]✔[/green]" if row.as_expected else "[red]✘[/red]"
            took = "-" if row.answered_s is None else f"{row.answered_s:.2f} s"
            out.add_row(f"undo: back to {row.former}", "-", took, *_versions(row.traffic, row.failed),
                        f"{row.decision} {mark}")  # fmt: skip
            continue
        mark = "[green]✔[/green]" if row.as_expected else f"[red]✘ expected {row.expected}[/red]"
        out.add_row(
            row.name,
            f"{row.steps} (to {row.max_percent:g}%)",
            f"{row.duration_s:.0f} s",
            *_versions(row.traffic, row.failed),
            f"{row.decision} {mark}",
        )
    # The reasons are sentences; they read better under the table than folded into a narrow column.
    out.caption = "\n".join(
        row.line()
        if isinstance(row, UndoSummary)
        else f"{row.name}: {row.decision} — {row.reason or 'no reason given'}"
        for row in rows
    )
    out.caption_justify = "left"
    return out
