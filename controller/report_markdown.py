"""`controller report EVENTS --format markdown`: the run as Markdown for a CI job summary.

GitHub Actions shows what a step appends to `$GITHUB_STEP_SUMMARY` on the run's page
(https://docs.github.com/en/actions/using-workflows/workflow-commands-for-github-actions#adding-a-job-summary);
examples/ci/ does `python -m controller report events.jsonl --format markdown >> "$GITHUB_STEP_SUMMARY"`.
"""

from __future__ import annotations

from pathlib import Path

from controller import event_types as ev
from controller import lifecycle_events as lev
from controller.report_data import build_timeline, load_events
from controller.report_plan import build_plan_view, is_plan_log, plan_markdown

SHOWN = (
    ev.StepStarted,
    ev.GateFailed,
    ev.HookRan,
    ev.Promoted,
    ev.RolledBack,
    ev.Interrupted,
    ev.ErrorEvent,
    ev.WarningEvent,
    lev.HoldStarted,
    lev.HoldEnded,
    lev.Refused,
    lev.GuardStarted,
    lev.GuardEnded,
    lev.Undone,
)
ICON = {"promoted": "✅", "rolled back": "↩️", "undone": "↩️", "refused": "⛔", "error": "❌"}


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _line(event: ev.Event) -> str:
    if isinstance(event, ev.StepStarted):
        return f"step {event.step}: {event.percent:g}% to the candidate"
    if isinstance(event, ev.HookRan):
        state = "passed" if event.ok else f"FAILED ({event.detail or event.exit_code})"
        return f"{event.hook} hook {state} in {event.seconds:.1f}s: `{event.command}`"
    if isinstance(event, ev.GateFailed):
        return f"gate {event.gate} failed at {event.percent:g}%: {event.reason}"
    return event.text


def markdown(events_path: Path) -> str:
    events = load_events(Path(events_path))
    if is_plan_log(events):
        return plan_markdown(build_plan_view(events), events)
    timeline = build_timeline(events)
    icon = ICON.get(timeline.outcome, "⏳")
    lines = [
        f"## {icon} {timeline.candidate} replacing {timeline.live}: {timeline.outcome}",
        "",
        f"{_cell(timeline.reason) or 'no decision yet'} ({timeline.duration_s:.0f}s)",
        "",
    ]
    ticks = [e for e in events if isinstance(e, ev.TickEvent)]
    if ticks:
        last = ticks[-1]
        lines += [
            "| | requests | 5XX | 5XX rate | p99 |",
            "|---|---:|---:|---:|---:|",
        ]
        for role, w in (("canary (last step)", last.canary), ("baseline", last.baseline)):
            rate = "n/a" if w.error_rate is None else f"{w.error_rate:.2%}"
            p99 = "n/a" if w.p99_ms is None else f"{w.p99_ms:.0f} ms"
            lines.append(f"| {role} | {w.requests} | {w.errors_5xx} | {rate} | {p99} |")
        lines.append("")
    start = events[0].at or 0.0 if events else 0.0
    lines += ["| t | event | what |", "|---:|---|---|"]
    for event in events:
        if isinstance(event, SHOWN):
            t = (event.at or start) - start
            lines.append(f"| {t:.0f}s | {event.kind} | {_cell(_line(event))} |")
    return "\n".join(lines) + "\n"
