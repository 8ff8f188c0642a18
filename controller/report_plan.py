"""The report of a wave plan's event log (`shift --plan --json`): one lane per stack on one time axis.

Each lane is that stack's share of traffic on the candidate (as the single-stack chart's top panel draws
it), its decisions as markers, the bakes between waves as bands across every lane, and the stack's outcome
at its right. `controller report` picks this view when the log holds a plan's events.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from controller import event_types as ev
from controller import plan_events as pev
from controller.report_data import Timeline, build_timeline

OUTCOME_COLORS = {
    "promoted": "#188038",
    "skipped": "#5f6368",
    "nothing_to_do": "#5f6368",
    "reverted": "#c5221f",
    "rolled_back": "#c5221f",
    "undone": "#c5221f",
    "error": "#202124",
}


@dataclass
class Lane:
    stack: str
    wave: int
    region: str
    offset: float  # seconds from the plan's start to the lane's first event
    timeline: Timeline | None  # None: the stack never rolled in this run
    outcome: str = "not started"
    reason: str = ""
    seconds: float = 0.0


@dataclass
class PlanView:
    plan_id: str
    name: str
    started_at: float
    duration_s: float
    outcome: str
    reason: str
    lanes: list[Lane] = field(default_factory=list)
    bakes: list[tuple[int, float, float]] = field(default_factory=list)  # (wave, start, end) from the start
    finished: pev.PlanFinished | None = None


def is_plan_log(events: Sequence[ev.Event]) -> bool:
    return any(isinstance(e, pev.PlanStarted) or e.stack for e in events)


def build_plan_view(events: Sequence[ev.Event]) -> PlanView:
    events = sorted(events, key=lambda e: e.at or 0.0)
    start = events[0].at or 0.0
    started = next((e for e in events if isinstance(e, pev.PlanStarted)), None)
    finished = next((e for e in events if isinstance(e, pev.PlanFinished)), None)
    view = PlanView(
        plan_id=started.plan_id if started else "?",
        name=started.name if started else "plan",
        started_at=start,
        duration_s=(events[-1].at or start) - start,
        outcome=finished.outcome if finished else "in progress",
        reason=finished.reason if finished else "",
        finished=finished,
    )
    planned = list(started.stacks) if started else []
    for e in events:  # a log cut before plan_started still names its stacks
        if e.stack and all(p.stack != e.stack for p in planned):
            planned.append(pev.PlannedStack(e.stack, e.wave or 0, "", "", ""))
    for p in sorted(planned, key=lambda p: (p.wave, planned.index(p))):
        own = [e for e in events if e.stack == p.stack]
        rollout = [e for e in own if not isinstance(e, pev.StackFinished | pev.StackSkipped)]
        lane = Lane(p.stack, p.wave, p.region, 0.0, None)
        if rollout:
            lane.timeline = build_timeline(rollout)
            lane.offset = (rollout[0].at or start) - start
        for e in own:
            if isinstance(e, pev.StackSkipped):
                lane.outcome, lane.reason = "skipped", e.message
            elif isinstance(e, pev.StackFinished):
                lane.outcome, lane.reason, lane.seconds = e.outcome, e.reason, e.seconds
        view.lanes.append(lane)
    opened: dict[int, float] = {}
    for e in events:
        if isinstance(e, pev.BakeStarted) and e.wave is not None:
            opened[e.wave] = (e.at or start) - start
        elif isinstance(e, pev.BakeEnded) and e.wave in opened:
            view.bakes.append((e.wave, opened.pop(e.wave), (e.at or start) - start))
    view.bakes += [(wave, begun, view.duration_s) for wave, begun in opened.items()]
    return view


def title(view: PlanView) -> str:
    took = f"{int(view.duration_s) // 60}:{int(view.duration_s) % 60:02d}"
    waves = len({lane.wave for lane in view.lanes})
    return (
        f"Plan {view.name} ({view.plan_id}): {view.outcome.replace('_', ' ').upper()} after {took}, "
        f"{len(view.lanes)} stack(s) in {waves} wave(s)"
    )


def draw_plan(view: PlanView) -> bytes:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    from controller.report import CANARY_COLOR, _clock, _tick_step, _wrap

    count = max(1, len(view.lanes))
    fig, axes = plt.subplots(
        count, 1, sharex=True, figsize=(11, 1.2 + 0.75 * count), layout="constrained", squeeze=False
    )
    end = max(view.duration_s, 1.0) * 1.02
    try:
        fig.suptitle(_wrap(title(view), 110, 2), fontsize=13, fontweight="bold")
        for ax, lane in zip(axes[:, 0], view.lanes, strict=False):
            if lane.timeline is not None:
                xs = [lane.offset + t for t, _ in lane.timeline.traffic]
                last = max(lane.offset + lane.timeline.duration_s, view.duration_s)  # its state at the end
                ys = [p for _, p in lane.timeline.traffic]
                ax.step([*xs, last], [*ys, ys[-1]], where="post", color=CANARY_COLOR, linewidth=1.8)
                ax.fill_between([*xs, last], [*ys, ys[-1]], step="post", color=CANARY_COLOR, alpha=0.15)
                for marker in lane.timeline.markers:
                    color = (
                        "#c5221f" if marker.event in ("rolled_back", "gate_failed", "undone") else "#188038"
                    )
                    ax.axvline(lane.offset + marker.t, color=color, linewidth=1.2)
            for wave, begun, ended in view.bakes:
                ax.axvspan(begun, ended, color="#1a73e8", alpha=0.08, linewidth=0)
                if lane is view.lanes[0]:
                    ax.annotate(
                        f"bake after wave {wave}", ((begun + ended) / 2, 104), ha="center", fontsize=8
                    )
            color = OUTCOME_COLORS.get(lane.outcome, "#5f6368")
            ax.annotate(
                lane.outcome.replace("_", " "),
                (1.0, 0.5),
                xycoords="axes fraction",
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
                fontweight="bold",
                color=color,
            )
            ax.set_ylabel(f"w{lane.wave} {lane.stack}", rotation=0, ha="right", va="center", fontsize=9)
            ax.set_ylim(0, 115)
            ax.set_yticks([0, 100])
            ax.set_yticklabels(["0", "100%"], fontsize=7)
            ax.spines[["top", "right"]].set_visible(False)
        bottom = axes[-1, 0]
        bottom.set_xlim(0, end)
        bottom.xaxis.set_major_locator(MultipleLocator(_tick_step(end)))
        bottom.xaxis.set_major_formatter(FuncFormatter(_clock))
        bottom.set_xlabel("time since the plan started (m:ss); lanes: traffic on each stack's candidate")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()
    finally:
        plt.close(fig)


def plan_markdown(view: PlanView, events: Sequence[ev.Event]) -> str:
    icon = {"promoted": "✅", "rolled_back": "↩️", "error": "❌", "interrupted": "⏸️"}.get(view.outcome, "⏳")
    lines = [f"## {icon} {title(view)}", "", view.reason or "no decision yet", ""]
    lines += ["| wave | stack | region | outcome | took | why |", "|---:|---|---|---|---:|---|"]
    for lane in view.lanes:
        why = " ".join(lane.reason.replace("|", "\\|").split())
        took = f"{lane.seconds:.0f}s" if lane.seconds else ""
        lines.append(f"| {lane.wave} | {lane.stack} | {lane.region} | {lane.outcome} | {took} | {why} |")
    use = view.finished.control_plane if view.finished else None
    if use is not None:
        lines += [
            "",
            f"AWS calls: {sum(use.calls.values())} ({sum(use.attempts.values())} attempts), "
            f"{use.throttled} throttled, {use.paced_calls} paced ({use.paced_wait_s:.1f}s waiting for quota)",
        ]
    lines += ["", "| t | wave | event | what |", "|---:|---:|---|---|"]
    for e in events:
        if isinstance(e, pev.PLAN_EVENT_TYPES) and not isinstance(e, pev.PlanStarted):
            t = (e.at or view.started_at) - view.started_at
            text = " ".join(e.text.replace("|", "\\|").split())
            who = f"{e.stack}: " if e.stack else ""
            if isinstance(e, pev.StackFinished):
                who = f"{e.stack} {e.outcome.replace('_', ' ')}: "
            lines.append(f"| {t:.0f}s | {e.wave or ''} | {e.kind} | {who}{text} |")
    return "\n".join(lines) + "\n"
