"""Render a rollout's `--json` event log as a chart (PNG) or a self-contained HTML page.

`python -m controller report EVENTS.jsonl -o FILE.png|.html` calls `render()`. The chart has three
panels sharing the time axis: the candidate's share of traffic, the 5xx rate and the p99 latency of
canary against baseline, with the gate decisions drawn as vertical markers.

Rendering only: the event log is the contract (docs/contracts.md), so a report can be drawn from a
CI artifact long after the rollout, without AWS access.
"""

from __future__ import annotations

import base64
import html
import io
import math
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from controller import event_types as ev
from controller.report_data import (
    Marker,
    ReportError,
    Tick,
    Timeline,
    build_timeline,
    details,
    load_events,
)
from controller.report_plan import build_plan_view, draw_plan, is_plan_log  # noqa: E402
from controller.report_plan import title as plan_title  # noqa: E402

try:
    import matplotlib
except ModuleNotFoundError as missing:  # the `report` extra is not installed: render() says how to get it
    if missing.name != "matplotlib":
        raise
    matplotlib = None
else:
    matplotlib.use("Agg")  # headless: CI runners and `make demo` have no display
    import matplotlib.pyplot as plt  # must follow the backend choice
    from matplotlib.ticker import FuncFormatter, MultipleLocator, PercentFormatter

MISSING_MATPLOTLIB = (
    "the report draws with matplotlib, which is not installed: pip install 'apigw-canary[report]' "
    "(--format markdown needs nothing more)"
)

__all__ = ["ReportError", "Timeline", "build_timeline", "draw", "html_page", "load_events", "render"]

CANARY_COLOR = "#e8710a"
BASELINE_COLOR = "#1a73e8"
FAIL_COLOR = "#c5221f"
PASS_COLOR = "#188038"
ERROR_COLOR = "#202124"

# Events that end or judge a rollout, drawn as vertical markers: (colour, line style, label).
_DECISIONS = {
    "gate_failed": (FAIL_COLOR, "--", "gate failed"),
    "rolled_back": (FAIL_COLOR, "-", "rolled back"),
    "promoted": (PASS_COLOR, "-", "promoted"),
    "error": (ERROR_COLOR, ":", "error"),
}


_ROW_CLASS = {
    "gate_failed": "fail",
    "rolled_back": "fail",
    "error": "fail",
    "promoted": "pass",
    "plan_reverting": "fail",
}


# -- drawing ----------------------------------------------------------------------------------------


def _clock(seconds: float, _pos: object = None) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _title(timeline: Timeline) -> str:
    verdict = {"promoted": "PROMOTED", "rolled back": "ROLLED BACK", "error": "ERROR"}.get(
        timeline.outcome, "IN PROGRESS"
    )
    took = _clock(timeline.duration_s)
    return f"Rollout of {timeline.candidate} (live: {timeline.live}): {verdict} after {took}"


def _wrap(text: str, width: int = 125, lines: int = 2) -> str:
    """At most `lines` lines of `width` characters (the full reason is in the HTML table)."""
    wrapped = textwrap.wrap(text, width) or [""]
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][: width - 1].rstrip() + "…"
    return "\n".join(wrapped)


def _tick_step(span_s: float) -> float:
    """A round number of seconds between time ticks, so the m:ss labels are evenly spaced."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span_s / step <= 12:
            return float(step)
    return 7200.0


def _series(ticks: list[Tick], role: str, attr: str) -> tuple[list[float], list[float]]:
    """Times and values; a window without data is NaN, so the line breaks instead of bridging it."""
    values = [getattr(getattr(tick, role), attr) for tick in ticks]
    return [tick.t for tick in ticks], [math.nan if v is None else v for v in values]


def draw(timeline: Timeline) -> bytes:
    """The chart as PNG bytes."""
    fig, (ax_pct, ax_err, ax_p99) = plt.subplots(
        3, 1, sharex=True, figsize=(11, 8.5), height_ratios=(1, 1.3, 1.3), layout="constrained"
    )
    try:
        fig.suptitle(_title(timeline), fontsize=14, fontweight="bold")
        end = max(timeline.duration_s, 1.0)

        # Traffic on the candidate: a staircase, held until the end of the log.
        xs = [t for t, _ in timeline.traffic] + [end * 1.07]
        ys = [p for _, p in timeline.traffic] + [timeline.traffic[-1][1]]
        ax_pct.step(xs, ys, where="post", color=CANARY_COLOR, linewidth=2.2)
        ax_pct.fill_between(xs, ys, step="post", color=CANARY_COLOR, alpha=0.15)
        for (t, p), next_t in zip(timeline.traffic[1:], xs[2:], strict=False):
            if next_t - t > end * 0.04 and 0 < p < 100:  # label steps wide enough to hold text
                ax_pct.annotate(f"{p:g}%", (t, p), xytext=(3, 3), textcoords="offset points", fontsize=9)
        ax_pct.set_ylim(0, 110)
        ax_pct.set_yticks([0, 25, 50, 75, 100])
        ax_pct.yaxis.set_major_formatter(PercentFormatter(100))
        ax_pct.set_ylabel("traffic on\ncandidate")

        labels = {"canary": f"canary ({timeline.candidate})", "baseline": f"baseline ({timeline.live})"}
        colors = {"canary": CANARY_COLOR, "baseline": BASELINE_COLOR}
        for ax, attr, threshold_key in (
            (ax_err, "error_rate", "error_rate"),
            (ax_p99, "p99_ms", "p99_ms"),
        ):
            for role in ("baseline", "canary"):
                ts, vs = _series(timeline.ticks, role, attr)
                # Baseline wider underneath, so it still shows where the two lines coincide (often at 0).
                width = 3.5 if role == "baseline" else 1.8
                ax.plot(
                    ts,
                    vs,
                    marker="o",
                    markersize=5,
                    linewidth=width,
                    color=colors[role],
                    label=labels[role],
                    alpha=0.75 if role == "baseline" else 1.0,
                    zorder=4,  # above the decision lines, which often fall on the last window
                )
            threshold = timeline.thresholds.get(threshold_key)
            if threshold is not None:
                ax.axhline(
                    threshold,
                    color=FAIL_COLOR,
                    linewidth=1,
                    linestyle=(0, (4, 3)),
                    alpha=0.7,
                    label="gate threshold",
                )
            ax.set_ylim(bottom=0)
            ax.legend(loc="upper left", fontsize=9, framealpha=0.9)
        # With few windows, say how many canary requests each rate stands on: 3 of 10 is not 3 of 1000.
        measured = [tick for tick in timeline.ticks if tick.canary.error_rate is not None]
        if len(measured) <= 12:
            for tick in measured:
                ax_err.annotate(
                    f"{tick.canary.requests} req",
                    (tick.t, tick.canary.error_rate),
                    xytext=(-5, 6),
                    textcoords="offset points",
                    ha="right",
                    fontsize=8,
                    color=CANARY_COLOR,
                    zorder=5,
                )
        ax_err.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        ax_err.set_ylabel("5xx error rate")
        ax_p99.set_ylabel("p99 latency (ms)")
        # Give a flat-zero error panel some height so "0 %" reads as a measurement, not a missing line.
        if ax_err.get_ylim()[1] < 0.01:
            ax_err.set_ylim(0, 0.01)
        for ax in (ax_err, ax_p99):
            # Lift zero off the axis line: a healthy release's 0 % must be visible, not hidden in the spine.
            top = ax.get_ylim()[1]
            # ... and leave headroom so the highest point is not clipped by the frame.
            ax.set_ylim(-0.03 * top, top * 1.08)

        # Step changes as faint guides through the metric panels, to read each window against its step.
        for t, _ in timeline.traffic[1:]:
            for ax in (ax_err, ax_p99):
                ax.axvline(t, color="#9aa0a6", linestyle=":", linewidth=1)
        for marker in timeline.markers:
            color, style, text = _DECISIONS[marker.event]
            for ax in (ax_pct, ax_err, ax_p99):
                ax.axvline(marker.t, color=color, linestyle=style, linewidth=1.6, alpha=0.9, zorder=2)
        # Label decisions once, inside the top panel left of their line, staggered in height so
        # markers close in time (gate failed, then rolled back) do not overwrite each other.
        labelled: list[Marker] = []
        for marker in timeline.markers:
            # Several gates failing on one tick are one decision: label it once.
            if any(m.event == marker.event and abs(m.t - marker.t) < end * 0.02 for m in labelled):
                continue
            index = len(labelled)
            labelled.append(marker)
            color, _, text = _DECISIONS[marker.event]
            ax_pct.annotate(
                text,
                (marker.t, 0.80 - 0.13 * (index % 2)),  # below the 100 % line
                xycoords=("data", "axes fraction"),
                xytext=(-4, 0),
                textcoords="offset points",
                ha="right",
                va="top",
                fontsize=9,
                fontweight="bold",
                color=color,
                bbox={"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
            )
        if timeline.reason:
            ax_pct.set_title(
                _wrap(f"Decision: {timeline.reason}"),
                fontsize=10.5,
                loc="left",
                color=FAIL_COLOR if timeline.outcome in ("rolled back", "error") else PASS_COLOR,
            )

        for ax in (ax_pct, ax_err, ax_p99):
            ax.grid(True, axis="y", alpha=0.3)
            ax.spines[["top", "right"]].set_visible(False)
        # Room after the last event so the state the rollout ended in (0 % or 100 %) is visible.
        ax_p99.set_xlim(0, end * 1.07)
        ax_p99.xaxis.set_major_locator(MultipleLocator(_tick_step(end)))
        ax_p99.xaxis.set_major_formatter(FuncFormatter(_clock))
        started = datetime.fromtimestamp(timeline.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        ax_p99.set_xlabel(f"time since start (m:ss), started {started}")

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        return buffer.getvalue()
    finally:
        plt.close(fig)


def html_page(timeline: Timeline, events: list[ev.Event], png: bytes) -> str:
    """A self-contained page: the chart inlined as base64 and every event in a table; no external assets."""
    return page(_title(timeline), timeline.reason, timeline.started_at, events, png)


def page(heading: str, decision: str, started_at: float, events: list[ev.Event], png: bytes) -> str:
    rows = []
    for event in sorted(events, key=lambda e: e.at or 0.0):
        kind = event.kind
        css = _ROW_CLASS.get(kind, "")
        rows.append(
            f'<tr class="{css}"><td>{_clock((event.at or 0.0) - started_at)}</td>'
            f"<td>{html.escape(kind)}</td><td>{html.escape(details(event))}</td></tr>"
        )
    title = html.escape(heading)
    reason = f"<p><strong>Decision:</strong> {html.escape(decision)}</p>" if decision else ""
    image = base64.b64encode(png).decode("ascii")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1250px; color: #202124; }}
img {{ max-width: 100%; border: 1px solid #dadce0; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9em; }}
th, td {{ text-align: left; padding: 4px 8px; border-bottom: 1px solid #e8eaed; vertical-align: top; }}
td:first-child {{ font-variant-numeric: tabular-nums; white-space: nowrap; }}
tr.fail td {{ background: #fce8e6; }} tr.pass td {{ background: #e6f4ea; }}
</style></head>
<body>
<h1>{title}</h1>
{reason}
<img alt="{title}" src="data:image/png;base64,{image}">
<h2>Events</h2>
<table><thead><tr><th>time</th><th>event</th><th>details</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""


def render(events_path: Path, output: Path) -> None:
    """Draw the event log at `events_path` into `output` (.png or .html, chosen by the suffix)."""
    if matplotlib is None:
        raise ReportError(MISSING_MATPLOTLIB)
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in (".png", ".html", ".htm"):
        raise ReportError(f"cannot write {output}: the report writes .png or .html files")
    events = load_events(Path(events_path))
    if is_plan_log(events):  # one lane per stack
        view = build_plan_view(events)
        png = draw_plan(view)
        text = page(plan_title(view), view.reason, view.started_at, events, png)
    else:
        timeline = build_timeline(events)
        png = draw(timeline)
        text = html_page(timeline, events, png)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".png":
            output.write_bytes(png)
        else:
            output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write {output}: {exc.strerror or exc}") from exc
