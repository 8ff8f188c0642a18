"""`controller report` on a plan's event log (tests/fixtures/events/plan-revert.jsonl, recorded from a real
`shift --plan --json` on the local cloud: wave 1 promoted, the bake, wave 2 rolled back, wave 1 reverted),
and `controller_configs` by region in outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from controller_fakes import CONFIG

from controller.cli import main
from controller.config import parse_config
from controller.errors import ConfigError
from controller.report_data import load_events
from controller.report_plan import build_plan_view, is_plan_log

LOG = Path(__file__).resolve().parents[1] / "fixtures" / "events" / "plan-revert.jsonl"
SINGLE = LOG.with_name("promoted.jsonl")


def test_a_plan_log_has_one_lane_per_stack_in_wave_order_with_its_outcome_and_the_bake() -> None:
    events = load_events(LOG)
    assert is_plan_log(events) and not is_plan_log(load_events(SINGLE))
    view = build_plan_view(events)
    assert [(lane.wave, lane.stack, lane.outcome) for lane in view.lanes] == [
        (1, "use1", "reverted"),
        (2, "euw1", "rolled_back"),
    ]
    assert view.outcome == "rolled_back" and "euw1 (wave 2) rolled back" in view.reason
    ((wave, begun, ended),) = view.bakes
    assert wave == 1 and ended - begun == pytest.approx(10, abs=0.5)
    first, second = view.lanes
    assert first.timeline is not None and [p for _, p in first.timeline.traffic] == [0, 50, 100, 0]
    assert second.offset > ended - 0.5  # wave 2's lane starts after the bake


@pytest.mark.parametrize("suffix", [".png", ".html"])
def test_the_plan_report_is_drawn_as_a_chart_and_a_page(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"plan{suffix}"
    assert main(["report", str(LOG), "-o", str(out)]) == 0
    data = out.read_bytes()
    if suffix == ".png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    else:
        page = data.decode()
        assert "Plan smoke2" in page and "ROLLED BACK" in page and "plan_reverting" in page


def test_the_plan_report_in_markdown_has_a_row_per_stack_and_the_control_plane_calls(capsys) -> None:
    assert main(["report", str(LOG), "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert "| 1 | use1 | us-east-1 | reverted |" in text
    assert "| 2 | euw1 | eu-west-1 | rolled_back | 6s | canary 5xx rate" in text
    assert "AWS calls: 71 (71 attempts), 0 throttled" in text


def test_outputs_with_a_controller_config_per_region_give_the_plans_region() -> None:
    east = dict(CONFIG)
    west = {**CONFIG, "region": "eu-west-1", "api_id": "def456"}
    text = json.dumps({"controller_configs": {"value": {"us-east-1": east, "eu-west-1": west}}})
    assert parse_config(text, "outputs", "eu-west-1").api_id == "def456"
    with pytest.raises(ConfigError, match="holds eu-west-1, us-east-1: name a region"):
        parse_config(text, "outputs")
    with pytest.raises(ConfigError, match="has no region ap-south-1"):
        parse_config(text, "outputs", "ap-south-1")
    with pytest.raises(ConfigError, match="region is us-east-1, not eu-west-1 as the plan says"):
        parse_config(json.dumps({"controller_config": {"value": east}}), "outputs", "eu-west-1")


def test_the_account_of_a_stack_comes_from_its_function_arns() -> None:
    slots = {
        name: {**slot, "function_arn": f"arn:aws:lambda:us-east-1:210987654321:function:x-{name}"}
        for name, slot in CONFIG["slots"].items()
    }
    assert parse_config(json.dumps({**CONFIG, "slots": slots}), "t").account_id == "210987654321"
    assert parse_config(json.dumps(CONFIG), "t").account_id is None  # the fakes' ARNs name no account
