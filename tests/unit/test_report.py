"""`controller.report` draws a rollout from a recorded `--json` event log (tests/fixtures/events)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from controller import event_types as ev
from controller.report import ReportError, build_timeline, load_events, render

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    # Width and height sit at fixed offsets of the IHDR chunk.
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize("log", ["promoted.jsonl", "rolled_back.jsonl"])
def test_a_recorded_event_log_renders_to_a_png_chart(tmp_path, log):
    out = tmp_path / "nested" / "run.png"
    render(FIXTURES / log, out)
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    width, height = _png_size(data)
    assert width > 800 and height > 600


def test_the_html_report_is_one_self_contained_page_with_the_chart_and_every_event(tmp_path):
    out = tmp_path / "run.html"
    render(FIXTURES / "rolled_back.jsonl", out)
    page = out.read_text(encoding="utf-8")
    image = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert image and base64.b64decode(image.group(1)).startswith(PNG_MAGIC)
    # No external assets: nothing is fetched when the artifact is opened offline.
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page
    events = load_events(FIXTURES / "rolled_back.jsonl")
    assert page.count("<tr class=") == len(events)
    assert "ROLLED BACK" in page
    assert "canary 5xx rate 26.9% &gt; 5.0%" in page


def test_event_text_is_escaped_in_the_html_page(tmp_path):
    log = tmp_path / "events.jsonl"
    bad = {"event": "error", "at": 10.0, "message": "<script>alert(1)</script>", "exit_code": 1}
    log.write_text(json.dumps(bad) + "\n")
    render(log, tmp_path / "run.html")
    page = (tmp_path / "run.html").read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_the_timeline_of_a_promotion_climbs_the_steps_and_ends_at_full_traffic():
    timeline = build_timeline(load_events(FIXTURES / "promoted.jsonl"))
    assert [p for _, p in timeline.traffic] == [0.0, 10.0, 50.0, 100.0]
    assert timeline.outcome == "promoted"
    assert timeline.candidate == "green v2.0.0"
    assert timeline.live == "blue v1.0.0"
    assert [m.event for m in timeline.markers] == ["promoted"]
    assert len(timeline.ticks) == 6
    assert timeline.thresholds == {"error_rate": 0.05, "p99_ms": 800.0}


def test_the_timeline_of_a_rollback_marks_the_failed_gate_and_returns_traffic_to_zero():
    timeline = build_timeline(load_events(FIXTURES / "rolled_back.jsonl"))
    assert timeline.outcome == "rolled back"
    assert [m.event for m in timeline.markers] == ["gate_failed", "rolled_back"]
    assert timeline.traffic[-1][1] == 0.0
    assert "5xx rate" in timeline.reason
    last = timeline.ticks[-1]
    assert last.canary.error_rate == pytest.approx(0.269, abs=0.001)
    assert last.baseline.error_rate == 0.0
    assert last.canary.p99_ms > last.baseline.p99_ms
    assert timeline.thresholds == {"error_rate": 0.05, "p99_ms": 800.0}


def test_a_window_without_requests_has_no_error_rate_rather_than_zero():
    quiet = ev.TickEvent(
        at=1.0,
        step=1,
        percent=10,
        canary=ev.Window(requests=0, errors_5xx=0, error_rate=0.0),
        baseline=ev.Window(requests=100, errors_5xx=2),
        verdict="CONTINUE",
        reason="baking",
        bake_left_s=50,
    )
    tick = build_timeline([quiet]).ticks[0]
    assert tick.canary.error_rate is None
    assert tick.baseline.error_rate == pytest.approx(0.02)  # computed from errors_5xx / requests
    assert tick.canary.p99_ms is None


def test_an_unfinished_log_still_renders_and_says_it_is_in_progress(tmp_path):
    lines = (FIXTURES / "promoted.jsonl").read_text().splitlines()[:4]
    log = tmp_path / "partial.jsonl"
    log.write_text("\n".join(lines) + "\n")
    assert build_timeline(load_events(log)).outcome == "in progress"
    render(log, tmp_path / "partial.png")
    assert (tmp_path / "partial.png").read_bytes().startswith(PNG_MAGIC)


def test_an_empty_log_is_refused_with_a_hint_how_to_record_one(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text("\n")
    with pytest.raises(ReportError, match="--json"):
        render(log, tmp_path / "out.png")


def test_a_line_that_is_not_json_is_reported_with_its_line_number(tmp_path):
    log = tmp_path / "events.jsonl"
    first = (FIXTURES / "promoted.jsonl").read_text().splitlines()[0]
    log.write_text(first + "\nStarting rollout...\n")
    with pytest.raises(ReportError, match=r"events\.jsonl:2"):
        load_events(log)


def test_an_event_missing_a_field_is_reported_with_its_line_and_what_is_missing(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text('{"event": "tick", "at": 1}\n')
    with pytest.raises(ReportError, match=r"events\.jsonl:1: tick event: .*'step'"):
        load_events(log)


def test_an_output_that_is_neither_png_nor_html_is_refused(tmp_path):
    with pytest.raises(ReportError, match=r"\.png or \.html"):
        render(FIXTURES / "promoted.jsonl", tmp_path / "out.pdf")


def test_a_missing_log_is_a_report_error_not_a_traceback(tmp_path):
    with pytest.raises(ReportError, match="cannot read"):
        render(tmp_path / "nope.jsonl", tmp_path / "out.png")
