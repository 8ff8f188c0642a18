"""The pieces of `shift --plan` below the wave engine: the plan file and its checks, the plan record on the
stage and the release id, and what a plan asks of one stack's run (its record written with the promotion,
an abort at the next tick), in the fake world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rollout_world import World

from controller.aws.functions import FunctionIdentity
from controller.aws.stage import StageState
from controller.cli import main
from controller.domain import Outcome
from controller.errors import EXIT_USAGE
from controller.events import Recorder, Tagged
from controller.plan_file import PlanFileError, load_plan
from controller.plan_record import PLAN_VARIABLE, PROMOTED, PlanRecord, plan_id, release_id
from controller.plan_schema import SCHEMA

DOCS = Path(__file__).resolve().parents[2] / "docs"


def write(tmp_path: Path, text: str, name: str = "plan.yaml") -> str:
    (tmp_path / "use1").mkdir(exist_ok=True)
    (tmp_path / "euw1.json").write_text("{}")
    path = tmp_path / name
    path.write_text(text)
    return str(path)


GOOD = """
name: checkout
policy: revert
bake: 10m
concurrency: 4
waves:
  - name: first
    stacks: [{name: use1, tf_dir: use1, region: us-east-1}]
  - stacks:
      - {outputs: euw1.json, region: eu-west-1}
"""


def test_a_plan_reads_its_waves_in_order_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, GOOD))
    assert (plan.name, plan.policy, plan.bake_s, plan.concurrency) == ("checkout", "revert", 600, 4)
    assert [w.name for w in plan.waves] == ["first", "wave-2"]
    first, second = plan.waves[0].stacks[0], plan.waves[1].stacks[0]
    assert first.tf_dir == str(tmp_path / "use1") and first.name == "use1"
    assert second.outputs == str(tmp_path / "euw1.json") and second.name == "eu-west-1"  # named by region


def test_defaults_are_hold_no_bake_and_ten_stacks_at_once(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, "waves: [{stacks: [{tf_dir: use1, region: us-east-1}]}]"))
    assert (plan.policy, plan.bake_s, plan.concurrency) == ("hold", 0.0, 10)


def test_every_mistake_of_a_plan_is_one_line_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
policy: undo
bake: soon
waves:
  - stacks:
      - {tf_dir: use1, region: us-east-1}
      - {tf_dir: use1, region: us-east-1, name: again}
      - {tf_dir: nowhere, region: eu-west-1}
      - {tf_dir: use1, outputs: euw1.json, region: eu-west-1}
      - {outputs: euw1.json, region: Europe}
      - {tf_dir: use1, region: us-east-1, extra: 1}
""",
    )
    with pytest.raises(PlanFileError) as caught:
        load_plan(path)
    problems = "\n".join(caught.value.problems)
    for expected in (
        "policy: 'undo' is not one of ['hold', 'revert']",
        "bake: bake 'soon' is not a duration",
        "waves[0].stacks[1]: the same stack as waves[0].stacks[0]",
        "waves[0].stacks[2].tf_dir: nowhere is not a directory",
        "waves[0].stacks[3]: give exactly one of tf_dir or outputs",
        "waves[0].stacks[4].region: 'Europe' is not an AWS region name",
        "waves[0].stacks[5]: Additional properties are not allowed ('extra' was unexpected)",
    ):
        assert expected in problems
    assert caught.value.exit_code == EXIT_USAGE


def test_plan_validate_prints_the_waves_or_every_mistake_with_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["plan", "validate", write(tmp_path, GOOD)]) == 0
    out = capsys.readouterr().out
    assert "wave 1 (first):" in out and "use1 (us-east-1): --tf-dir" in out and "valid" in out
    bad = write(tmp_path, "waves: []", "bad.yaml")
    assert main(["plan", "validate", bad, "--json"]) == EXIT_USAGE
    record = json.loads(capsys.readouterr().out)
    assert record["event"] == "plan_checked" and "waves: [] should be non-empty" in record["problems"][0]


def test_shift_with_a_bad_plan_is_a_usage_error_before_any_aws_call(tmp_path: Path, capsys) -> None:
    bad = write(tmp_path, "waves: [{stacks: [{tf_dir: gone, region: us-east-1}]}]", "bad.yaml")
    assert main(["shift", "--plan", bad]) == EXIT_USAGE
    assert "gone is not a directory" in capsys.readouterr().err
    assert main(["shift", "--plan", bad, "--tf-dir", "."]) == EXIT_USAGE  # one source of stacks


def test_the_published_plan_schema_is_the_one_the_validator_uses() -> None:
    assert json.loads((DOCS / "plan.schema.json").read_text()) == SCHEMA


# -- the record ----------------------------------------------------------------------------------------------


def stage(slot: str, record: str | None, canary: bool = False) -> StageState:
    from controller.aws.stage import Canary

    variables = {"slot": slot, **({PLAN_VARIABLE: record} if record else {})}
    return StageState("production", "d1", variables, Canary(10, "d2") if canary else None)


def test_the_record_round_trips_within_what_stage_variables_allow() -> None:
    record = PlanRecord("0123456789ab", "fedcba9876543210", 2, PROMOTED, 1_700_000_000.7, "green")
    text = record.encode()
    # Stage variable values: alphanumerics and -._~:/?#&=, (aws-api-gateway-stage-variables-reference.html).
    assert len(text) <= 512 and all(c.isalnum() or c in "-._~:/?#&=," for c in text)
    assert PlanRecord.parse(text) == PlanRecord(
        "0123456789ab", "fedcba9876543210", 2, PROMOTED, 1_700_000_000, "green"
    )
    assert PlanRecord.parse("holder=x,expires=1") is None


def test_a_stack_counts_as_promoted_only_for_its_release_while_production_still_serves_the_slot() -> None:
    record = PlanRecord("p", "rel1", 1, PROMOTED, 1.0, "green").encode()
    assert PlanRecord.parse(record).promoted_for("rel1", stage("green", record), "slot")
    assert not PlanRecord.parse(record).promoted_for("rel2", stage("green", record), "slot")  # new release
    assert not PlanRecord.parse(record).promoted_for("rel1", stage("blue", record), "slot")  # undone since
    assert not PlanRecord.parse(record).promoted_for("rel1", stage("green", record, canary=True), "slot")


def test_the_release_id_is_the_same_before_and_after_a_promotion_and_changes_with_new_code() -> None:
    blue, green = FunctionIdentity("aa", "r1", "$LATEST"), FunctionIdentity("bb", "r2", "$LATEST")
    before = release_id("us-east-1", "api", [("blue", blue), ("green", green)])
    assert release_id("us-east-1", "api", [("green", green), ("blue", blue)]) == before
    newer = release_id(
        "us-east-1", "api", [("blue", FunctionIdentity("cc", "r3", "$LATEST")), ("green", green)]
    )
    assert newer != before
    assert plan_id([(1, "use1", before)]) != plan_id([(1, "use1", newer)])
    assert plan_id([(1, "use1", before)]) == plan_id([(1, "use1", before)])


# -- one stack's run under a plan ----------------------------------------------------------------------


def test_the_plans_record_is_written_in_the_same_update_as_the_promotion(world: World) -> None:
    from controller.gates import Thresholds
    from controller.shift_options import ShiftOptions
    from controller.strategies import Policy
    from controller.strategy import build_plan

    written: list[tuple[str, float]] = []

    def record(slot: str, at: float) -> dict[str, str]:
        written.append((slot, at))
        return {PLAN_VARIABLE: PlanRecord("p", "rel", 1, PROMOTED, at, slot).encode()}

    policy = Policy(build_plan("recipe", None, None), Thresholds(min_requests=50), interval_s=30, period_s=60)
    assert world.shift(ShiftOptions(policy=policy), promotion_variables=record) is Outcome.PROMOTED
    promoted = [entry for entry in world.stages.log if entry[0] == "promote_canary"]
    assert len(promoted) == 1 and written == [("green", pytest.approx(written[0][1]))]
    saved = PlanRecord.read(world.production())
    assert saved is not None and saved.slot == "green" and saved.state == PROMOTED


def test_a_plans_abort_rolls_the_stack_back_at_its_next_tick(world: World) -> None:
    from controller.gates import Thresholds
    from controller.shift_options import ShiftOptions
    from controller.strategies import Policy
    from controller.strategy import build_plan

    start = world.clock()
    abort = lambda promoted: "plan stopped: euw1 rolled back" if world.clock() - start > 90 else None  # noqa: E731
    policy = Policy(build_plan("recipe", None, None), Thresholds(min_requests=50), interval_s=30, period_s=60)
    assert world.shift(ShiftOptions(policy=policy), abort=abort) is Outcome.ROLLED_BACK
    rolled = world.of("rolled_back")[0]
    assert "plan stopped: euw1 rolled back" in rolled["reason"]
    assert world.production().canary is None and world.production().variable("slot") == "blue"
    assert world.clock() - start < 130  # at the first tick after the abort, not at the end of the step


def test_a_stacks_events_carry_its_name_and_wave_and_single_stack_events_neither() -> None:
    from controller.event_types import WarningEvent

    log = Recorder()
    Tagged(log, "euw1", 2).emit(WarningEvent(message="x"))
    assert log.records[0]["stack"] == "euw1" and log.records[0]["wave"] == 2
    alone = WarningEvent(message="x").to_dict()
    assert "stack" not in alone and "wave" not in alone
