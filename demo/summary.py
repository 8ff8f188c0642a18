"""The demo's closing table: one row per rollout, from its event log and the traffic seen meanwhile."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table

from controller import event_types as ev
from demo.traffic import TrafficSnapshot, VersionStats

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

    @property
    def as_expected(self) -> bool:
        return self.decision == self.expected


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
    )


def table(runs: list[RunSummary]) -> Table:
    """One block per run, one line per version that answered while it lasted."""
    out = Table(title="Demo summary", show_lines=True, title_style="bold")
    out.add_column("run")
    out.add_column("steps", justify="right")
    out.add_column("took", justify="right")
    out.add_column("version")
    out.add_column("requests", justify="right")
    out.add_column("5xx", justify="right")
    out.add_column("decision")
    for run in runs:
        mark = "[green]✔[/green]" if run.as_expected else f"[red]✘ expected {run.expected}[/red]"
        versions = sorted(run.traffic.items())
        names = "\n".join(version for version, _ in versions) or "-"
        requests = "\n".join(str(stats.requests) for _, stats in versions) or "-"
        errors = (
            "\n".join(f"[red]{stats.errors_5xx}[/red]" if stats.errors_5xx else "0" for _, stats in versions)
            or "-"
        )
        if run.failed:
            names, requests, errors = f"{names}\nno answer", f"{requests}\n{run.failed}", f"{errors}\n-"
        out.add_row(
            run.name,
            f"{run.steps} (to {run.max_percent:g}%)",
            f"{run.duration_s:.0f} s",
            names,
            requests,
            errors,
            f"{run.decision} {mark}",
        )
    # The reasons are sentences; they read better under the table than folded into a narrow column.
    out.caption = "\n".join(f"{run.name}: {run.decision} — {run.reason or 'no reason given'}" for run in runs)
    out.caption_justify = "left"
    return out
