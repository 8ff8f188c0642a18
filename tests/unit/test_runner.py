"""The rollout loop end to end against in-memory stages, synthetic metrics and a fake clock (no AWS)."""

from __future__ import annotations

import pytest
from judgements import judgement
from rollout_world import CFG, World, _adaptive

from controller.aws.lock import LOCK_VARIABLE, Lease
from controller.aws.metrics import FunctionPair
from controller.domain import Outcome, Verdict
from controller.errors import AwsError, LockHeldError, StateConflict
from controller.gates import GateInput, GateStatus, LatencyGate, Thresholds
from controller.judge.outliers import NO_OUTLIERS
from controller.shift_options import DEFAULT_LATENCY_SEVERE_RATIO, JudgeMargin
from controller.stats import WindowStats


def test_healthy_candidate_is_promoted_and_staging_gets_the_former_live_slot(world: World) -> None:
    assert world.run() is Outcome.PROMOTED
    prod, staging = world.production(), world.staging()
    assert prod.canary is None
    assert prod.variable("slot") == "green"
    assert prod.deployment_id == "dep-snap-1"  # the controller's snapshot, never Terraform's dep-new
    assert staging.variable("slot") == "blue"
    assert [e["percent"] for e in world.of("step_started")] == [10, 25, 50, 100]
    assert world.events.names()[0] == "run_started" and world.events.names()[-1] == "promoted"
    assert LOCK_VARIABLE not in prod.variables


def test_the_canary_runs_on_a_new_snapshot_of_the_api_definition_with_the_slot_override(world: World) -> None:
    # CreateDeployment without a stage snapshots the current definition (what staging serves after apply):
    # https://docs.aws.amazon.com/apigateway/latest/api/API_CreateDeployment.html
    world.run()
    snapshot, create = world.stages.log[0], world.stages.log[1]
    assert snapshot == ("create_deployment", "dep-snap-1", "apigw-canary green v2 2023-11-14T22:13:20Z")
    assert create == ("create_canary", "production", "dep-snap-1", "green", "0.0")
    assert world.of("run_started")[0]["candidate_deployment"] == "dep-snap-1"


def test_a_promotion_deletes_the_controllers_unused_snapshots_and_never_terraforms(world: World) -> None:
    world.stages.deployments["dep-old"] = "apigw-canary blue v1 2023-11-01T00:00:00Z"
    world.stages.deployments["dep-tf-old"] = "staging (terraform)"  # unused, but not the controller's
    assert world.run() is Outcome.PROMOTED
    assert set(world.stages.deployments) == {"dep-live", "dep-new", "dep-tf-old", "dep-snap-1"}
    assert [(e["action"], e["deployment_id"]) for e in world.of("deployment")] == [
        ("created", "dep-snap-1"),
        ("deleted", "dep-old"),
    ]


def test_a_promotion_whose_clean_up_fails_still_promotes_with_a_warning(world: World) -> None:
    world.stages.deployments["dep-old"] = "apigw-canary blue v1 2023-11-01T00:00:00Z"
    world.deployments.fail_on.add("in_use")
    assert world.run() is Outcome.PROMOTED
    assert world.events.names()[-2:] == ["promoted", "warning"]
    assert "dep-old" in world.stages.deployments


def test_a_rollback_deletes_the_snapshot_the_run_created(world: World) -> None:
    world.traffic.candidate_error_rate = 0.2
    assert world.run() is Outcome.ROLLED_BACK
    assert set(world.stages.deployments) == {"dep-live", "dep-new"}
    assert world.stages.changes()[-2:] == ["remove_canary", "delete_deployment"]


def test_a_failing_snapshot_leaves_the_stages_untouched_and_reports_the_error(world: World) -> None:
    world.deployments.fail_on.add("create")
    with pytest.raises(AwsError, match="injected"):
        world.run()
    assert world.production().canary is None and "create_canary" not in world.stages.changes()
    assert LOCK_VARIABLE not in world.production().variables


def test_each_step_bakes_for_its_full_time_and_until_a_metric_period_of_it_has_arrived(world: World) -> None:
    world.run()
    started = [e["at"] for e in world.of("step_started")]
    gaps = [b - a for a, b in zip(started, started[1:], strict=False)]
    # 2 min bakes; the first whole period of a step closes within 2 min of it and is read a period later.
    assert all(120 <= gap <= 180 for gap in gaps), gaps


def test_faulty_candidate_is_rolled_back_at_the_first_step(world: World) -> None:
    world.traffic.candidate_error_rate = 0.2
    assert world.run() is Outcome.ROLLED_BACK
    prod = world.production()
    assert prod.canary is None and prod.variable("slot") == "blue"
    assert world.staging().variable("slot") == "green"  # staging untouched: the candidate can be fixed there
    assert world.of("gate_failed")[0]["gate"] == "error_rate"
    assert world.of("rolled_back")[0]["percent"] == 10
    assert "promote_canary" not in world.stages.changes()
    assert LOCK_VARIABLE not in prod.variables


def test_a_slow_candidate_is_rolled_back_on_latency_against_the_baseline(world: World) -> None:
    world.traffic.candidate_p99_ms = 400
    assert world.run() is Outcome.ROLLED_BACK
    assert world.of("gate_failed")[0]["gate"] == "p99_vs_baseline"


def test_a_slow_candidate_at_half_the_traffic_fails_the_latency_gate_the_mixed_stage_p99_let_through(
    world: World,
) -> None:
    world.traffic.candidate_p99_ms = 400  # live: 50 ms, both plus 10 ms of API Gateway
    assert world.run(steps="50,100", bake="2m") is Outcome.ROLLED_BACK
    failed = world.of("gate_failed")[0]
    assert (failed["gate"], failed["percent"]) == ("p99_vs_baseline", 50)
    tick = world.of("tick")[-1]
    assert tick["canary"]["p99_ms"] > 350 and tick["baseline"]["p99_ms"] < 70
    # The old baseline, the stage's own p99, counts the canary's requests too (API Gateway publishes them
    # under both Stage dimensions), so at 50% it sat near the canary's and the same gate passed:
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
    t = world.traffic.calls[-1][1] - 60  # the last complete period read, at 50 %
    stage_dims = (("ApiName", "apigw-canary"), ("Stage", "production"))
    mixed = world.traffic.period(t)[("AWS/ApiGateway", "Latency", stage_dims, "p99")]
    canary = WindowStats(tick["canary"]["requests"], 0, p99_ms=tick["canary"]["p99_ms"])
    (old,) = LatencyGate(Thresholds()).evaluate(GateInput(canary, WindowStats(500, 0, p99_ms=mixed)))
    assert old.status is GateStatus.PASS and mixed > 350


def test_the_judge_catches_a_slow_candidate_at_half_the_traffic_when_the_latency_gate_is_lenient(
    world: World,
) -> None:
    from controller.judge import Judge, JudgeConfig

    world.traffic.candidate_p99_ms = 400
    lenient = Thresholds(max_p99_ratio=100, min_requests=50)
    outcome = world.run(steps="50,100", bake="5m", thresholds=lenient, judge=lambda: Judge(JudgeConfig()))
    assert outcome is Outcome.ROLLED_BACK
    assert world.of("gate_failed")[0]["gate"] == "judge"
    # The judge's latency check, or its slow-request test (above the live version's p99 over its history),
    # whichever sees it first.
    reason = world.of("gate_failed")[0]["reason"]
    assert "ms above the" in reason or "slow requests" in reason


def test_staging_traffic_on_the_candidate_function_does_not_hide_a_slow_canary(world: World) -> None:
    # The candidate function serves staging too, so its Duration mixes in staging's requests (accepted).
    world.traffic.candidate_p99_ms = 400
    world.traffic.staging_requests_per_period = 100
    world.traffic.staging_p99_ms = 20
    assert world.run(steps="50,100", bake="2m") is Outcome.ROLLED_BACK
    assert world.of("gate_failed")[0]["gate"] == "p99_vs_baseline"


def test_every_metrics_call_reads_the_live_and_candidate_functions_in_the_same_batch(world: World) -> None:
    world.run()
    assert set(world.traffic.queries_per_call) == {21}
    # production serves blue, so blue's function is the baseline's and green's the candidate's
    expected = FunctionPair(live="apigw-canary-blue", candidate="apigw-canary-green")
    assert world.traffic.functions_asked == {expected}


def test_an_alarm_going_off_mid_rollout_rolls_back(world: World) -> None:
    world.alarms.schedule.append((world.clock() + 200, "apigw-canary-rollback", "ALARM"))
    assert world.run() is Outcome.ROLLED_BACK
    failed = world.of("gate_failed")[0]
    assert failed["gate"] == "alarms" and failed["percent"] == 25


def test_no_traffic_at_all_fails_safe_instead_of_promoting(world: World) -> None:
    world.traffic.requests_per_period = 0
    assert world.run() is Outcome.ROLLED_BACK
    assert "no data is not a pass" in world.of("rolled_back")[0]["reason"]
    assert world.production().variable("slot") == "blue"


def test_metrics_unavailable_count_as_no_data_and_end_in_rollback(world: World) -> None:
    world.traffic.fail = True
    assert world.run() is Outcome.ROLLED_BACK
    assert world.of("warning")


def test_metric_windows_cover_every_period_the_judge_has_yet_to_read_and_the_steps(world: World) -> None:
    world.run(strategy=None, steps="50,100", bake="5m", interval_s=60)
    step_at = world.of("step_started")[0]["at"]
    start, end = world.traffic.calls[0]
    # From the first whole period after the canary's first share: the one before may hold another run's
    # canary traffic, which API Gateway counts under the same Stage dimension.
    assert start == (int(step_at) // 60 + 1) * 60
    assert all(end <= at for (_, end), at in zip(world.traffic.calls, world.traffic.called_at, strict=True))
    assert all(end % 60 == 0 for _, end in world.traffic.calls)


def test_every_tick_makes_one_metrics_call_and_one_alarms_call(world: World) -> None:
    world.run()
    ticks = len(world.of("tick"))
    assert world.alarms.calls == ticks + 1  # + the preflight check
    assert len(world.traffic.calls) <= ticks


def test_resume_continues_from_the_current_canary_percent(world: World) -> None:
    world.stages.create_canary("production", "dep-new", "green", 25.0)
    world.stages.log.clear()
    assert world.run(pre_traffic="smoke") is Outcome.PROMOTED
    assert [e["percent"] for e in world.of("step_started")] == [25, 50, 100]
    assert "create_canary" not in world.stages.changes()
    assert "create_deployment" not in world.stages.changes()  # resume runs on the canary's deployment
    assert world.production().deployment_id == "dep-new"
    assert world.hooks == []  # traffic had moved already: the pre-traffic hook is moot
    assert world.of("run_started")[0]["resumed_from"] == 25


def test_resume_between_steps_continues_at_the_next_step_above(world: World) -> None:
    world.stages.create_canary("production", "dep-new", "green", 30.0)
    world.run()
    assert [e["percent"] for e in world.of("step_started")] == [50, 100]


def test_a_canary_for_another_slot_is_refused_and_left_alone(world: World) -> None:
    world.stages.create_canary("production", "dep-x", "blue", 10.0)
    world.stages.log.clear()
    with pytest.raises(StateConflict, match="run `python -m controller rollback` first"):
        world.run()
    assert world.stages.log == []


def test_nothing_to_do_when_production_and_staging_serve_the_same_slot(world: World) -> None:
    world.stages.stages["staging"].variables["slot"] = "blue"
    assert world.run() is Outcome.NOTHING_TO_DO
    assert world.stages.log == []


def test_sigint_rolls_back_by_default(world: World) -> None:
    world.clock.on_sleep = lambda now: world.clock.stop.set() if world.of("step_started") else None
    assert world.run() is Outcome.INTERRUPTED
    assert world.production().canary is None
    assert world.of("rolled_back")[0]["reason"].startswith("interrupted")
    assert LOCK_VARIABLE not in world.production().variables


def test_on_interrupt_leave_keeps_the_canary_for_a_later_resume(world: World) -> None:
    world.clock.on_sleep = lambda now: world.clock.stop.set() if len(world.of("step_started")) == 2 else None
    assert world.run(on_interrupt="leave") is Outcome.INTERRUPTED
    canary = world.production().canary
    assert canary is not None and canary.percent == 25
    assert LOCK_VARIABLE not in world.production().variables  # released, so the rerun can take it at once


def test_a_failing_pre_traffic_hook_rolls_back_before_any_traffic_moves(world: World) -> None:
    world.hook_exit["pre-traffic"] = 1
    assert world.run(pre_traffic="pytest tests/smoke") is Outcome.ROLLED_BACK
    assert all(p == 0 for _, p in world.stages.percent_history)
    assert world.production().canary is None
    assert world.of("gate_failed")[0]["gate"] == "pre-traffic hook"


def test_a_failing_post_step_hook_rolls_back(world: World) -> None:
    world.hook_exit["post-step"] = 2
    assert world.run(post_step="./check.sh") is Outcome.ROLLED_BACK
    assert world.of("gate_failed")[0]["gate"] == "post-step hook"
    assert world.of("rolled_back")[0]["percent"] == 10


def test_hooks_see_the_invoke_urls_and_the_current_percent(world: World) -> None:
    world.run(pre_traffic="smoke", post_step="check")
    (pre_name, _, pre_env), (_, _, first_post_env) = world.hooks[:2]
    assert pre_name == "pre-traffic"
    assert pre_env["APIGW_CANARY_STAGING_URL"] == CFG.staging_url
    assert pre_env["APIGW_CANARY_PERCENT"] == "0"
    assert first_post_env["APIGW_CANARY_PERCENT"] == "10"
    assert first_post_env["APIGW_CANARY_PRODUCTION_URL"] == CFG.production_url
    assert first_post_env["APIGW_CANARY_CANDIDATE_SLOT"] == "green"
    assert len(world.hooks) == 5


def test_a_live_lock_held_by_another_controller_is_refused_naming_holder_and_expiry(world: World) -> None:
    lease = Lease("other-host:99", world.clock() + 100)
    world.stages.set_variable("production", LOCK_VARIABLE, lease.encode())
    with pytest.raises(LockHeldError, match=r"other-host:99 until .* \(100s left\)"):
        world.run()
    assert world.stages.log == []


def test_an_expired_lock_is_taken_over(world: World) -> None:
    world.stages.set_variable("production", LOCK_VARIABLE, Lease("other-host:99", world.clock() - 1).encode())
    assert world.run() is Outcome.PROMOTED
    assert world.of("lock")[0]["message"].startswith("took over the stale lock of other-host:99")


def test_the_lock_is_renewed_every_tick(world: World) -> None:
    seen = []
    original = world.stages.set_variable

    def spy(stage, name, value):
        seen.append(Lease.parse(value).expires)
        return original(stage, name, value)

    world.stages.set_variable = spy
    world.run()
    assert len(seen) == len(world.of("tick")) + 1


def test_dry_run_prints_the_plan_and_changes_nothing(world: World) -> None:
    assert world.run(dry_run=True) is Outcome.DRY_RUN
    assert world.stages.log == []
    assert world.deployments.calls == []  # no snapshot, no clean-up
    assert LOCK_VARIABLE not in world.production().variables
    plan = world.of("plan")[0]
    assert plan["steps"] == [10, 25, 50, 100]
    assert any("then promote: production -> green; staging -> blue" in line for line in plan["lines"])


def test_the_dry_run_states_the_judges_watch_and_its_smallest_regression(world: World) -> None:
    margin = JudgeMargin(ratio=1.3, increase=0.001)
    world.run(dry_run=True, min_observation_s=600, margin=margin)
    lines = world.of("plan")[0]["lines"]
    assert "  minimum observation: 10 metric periods before the judge may pass" in lines
    assert "  smallest regression: 1.3x the baseline's 5XX rate or 0.10% above it" in lines
    assert not any(line.startswith("  time limit:") for line in lines)  # steps have no time limit


def test_the_dry_run_states_the_judges_latency_limit(world: World) -> None:
    world.run(dry_run=True)
    world.run(dry_run=True, latency_ratio=1.15, latency_severe_ratio=2.0)
    world.run(dry_run=True, latency_severe_ratio=None)
    default, tight, patient = (world.of("plan")[i]["lines"] for i in (0, 1, 2))
    line = (
        "  latency: a period breaches where a canary percentile is above {}x the baseline's + 5 ms; "
        "2 in a row roll back (--latency-ratio){}"
    )
    severe = DEFAULT_LATENCY_SEVERE_RATIO
    assert (
        line.format("1.25", f", one above {severe:g}x rolls back at once (--latency-severe-ratio)") in default
    )
    assert line.format("1.15", ", one above 2x rolls back at once (--latency-severe-ratio)") in tight
    assert line.format("1.25", " (--latency-severe-ratio off)") in patient


@pytest.mark.parametrize("limit_beta", [0.005, None])
def test_the_time_limits_last_look_promotes_a_release_still_undecided_in_its_last_judged_period(
    world: World, limit_beta: float | None
) -> None:
    from controller.judge import Judge
    from controller.ramp import AdaptiveRamp, RampConfig
    from controller.shift_options import ShiftOptions
    from controller.strategies import Policy
    from controller.strategy import build_plan

    # Both versions at 1 %, 4,000 requests a minute, a 12-minute limit: the pass test is still short of
    # its bar when the last judged period arrives (10 of them: the lag and the first boundary take two).
    world.traffic.requests_per_period = 4000
    world.traffic.candidate_error_rate = world.traffic.live_error_rate = 0.01
    policy = Policy(
        build_plan("adaptive", None, "12m"), Thresholds(min_requests=50), interval_s=30, period_s=60
    )
    options = ShiftOptions(policy=policy, baseline_history_s=0, limit_beta=limit_beta)
    assert options.judge_config().horizon_periods == 10
    outcome = world.shift(
        options,
        judge_factory=lambda history: Judge(options.judge_config(), history),
        ramp_factory=lambda: AdaptiveRamp(RampConfig()),
    )
    if limit_beta is None:
        assert outcome is Outcome.ROLLED_BACK
        assert "did not decide within 720s" in world.of("rolled_back")[0]["reason"]
    else:
        assert outcome is Outcome.PROMOTED
        reason = world.of("promoted")[0]["reason"]
        assert "at the time limit" in reason and "under 0.005" in reason
        assert world.of("promoted")[0]["at"] - world.of("run_started")[0]["at"] <= 720  # by the limit


def test_the_dry_run_states_the_time_limits_last_look(world: World) -> None:
    world.run(strategy="adaptive", dry_run=True)
    world.run(strategy="adaptive", dry_run=True, limit_beta=None)
    world.run(dry_run=True)
    looks, rolls_back, steps = (world.of("plan")[i]["lines"] for i in (0, 1, 2))
    assert (
        "  at the time limit: an undecided release is promoted if a fixed-sample test rejects a "
        "regression at the margin at 0.005, else rolled back (--limit-test)" in looks
    )
    assert "  at the time limit: an undecided release is rolled back (--limit-test off)" in rolls_back
    assert not any(line.startswith("  at the time limit") for line in steps)  # steps have no time limit


def test_the_dry_run_states_what_the_judge_does_with_lasting_noise(world: World) -> None:
    world.run(strategy="adaptive", dry_run=True)
    world.run(strategy="adaptive", dry_run=True, lasting_noise=False)
    world.run(strategy="adaptive", dry_run=True, baseline_history_s=0)
    carry, ignore, no_history = (world.of("plan")[i]["lines"] for i in (0, 1, 2))
    assert any(line.startswith("  lasting noise: where the live version's history shows") for line in carry)
    assert "  lasting noise: ignored, periods taken as independent (--lasting-noise ignore)" in ignore
    assert not any(line.startswith("  lasting noise") for line in no_history)  # nothing to read it from


def test_the_dry_run_states_what_the_judge_does_with_spikes(world: World) -> None:
    world.run(strategy="adaptive", dry_run=True)
    world.run(strategy="adaptive", dry_run=True, outlier_cap=False)
    world.run(strategy="adaptive", dry_run=True, baseline_history_s=0)
    cap, ignore, no_history = (world.of("plan")[i]["lines"] for i in (0, 1, 2))
    spikes = "  outliers: where the live version's history shows 5XX spikes"
    assert any(line.startswith(spikes) for line in cap)
    assert "  outliers: ignored, every period's evidence counts whole (--outliers ignore)" in ignore
    assert not any(line.startswith("  outliers") for line in no_history)


def test_the_dry_run_states_the_guard_after_the_promotion(world: World) -> None:
    world.run(strategy="adaptive", dry_run=True, guard_s=600)
    world.run(strategy="adaptive", dry_run=True)
    guarded, unguarded = (world.of("plan")[i]["lines"] for i in (0, 1))
    expected = (
        "  then guard: the promoted release alone for 600s against the former version's 5XX rate (at most "
        "1.5x it) and p99 (at most 1.5x + 25 ms the higher of its day's and its p99 beside the canary); a "
        "regression undoes the promotion (--guard 0: off)"
    )
    assert expected in guarded
    assert not any("then guard" in line for line in unguarded)  # ShiftOptions' own default: no guard
    world.run(strategy="adaptive", dry_run=True, guard_s=600, guard_slow=True)
    slow = world.of("plan")[2]["lines"]
    assert any(
        line.startswith("  then guard:")
        and "), and slow requests (at most 1.5x its share beside the canary); a regression undoes" in line
        for line in slow
    )
    world.run(strategy="adaptive", dry_run=True, guard_s=600, guard_keep_percent=10.0)
    kept = world.of("plan")[3]["lines"]
    assert any(
        line.startswith("  then guard: the promoted release for 600s")
        and ", and its slow requests against the former version's, kept on 10% of production beside it (at "
        "most 1.5x its share); a regression undoes"
        in line
        for line in kept
    )


def test_the_adaptive_dry_run_states_how_far_the_judge_may_narrow_its_margin(world: World) -> None:
    world.run(strategy="adaptive", dry_run=True)
    lines = world.of("plan")[0]["lines"]
    expected = (
        "  narrower where the traffic allows: as narrow as 1.3x where the traffic left resolves it "
        "(--narrowest-ratio off: never below the margin)"
    )
    assert expected in lines  # the default
    world.run(strategy="adaptive", dry_run=True, margin=JudgeMargin(narrowest=None))  # --narrowest-ratio off
    assert not any("narrower where" in line for line in world.of("plan")[1]["lines"])


def test_the_adaptive_dry_run_states_how_far_the_judge_may_widen_its_margin(world: World) -> None:
    world.run(strategy="adaptive", bake="20m", dry_run=True)
    lines = world.of("plan")[0]["lines"]
    # The last period is read a metrics lag (one period) after it ends, past the 20 minutes, and the first
    # starts at the first period boundary after the canary does.
    expected = (
        "  time limit: 18 metric periods judged; where the traffic left cannot resolve that regression in "
        "time, the judge widens it, at most to 2x; where the 0.50% makes it wider than 2x, the judge holds "
        "the canary to 2x where the traffic resolves that, else to the narrowest ratio between the two that "
        "it resolves (--fixed-margin: neither)"
    )
    assert expected in lines


def test_a_fixed_margin_is_judged_as_given(world: World) -> None:
    world.run(strategy="adaptive", dry_run=True, fixed_margin=True)
    lines = world.of("plan")[0]["lines"]
    assert not any(line.startswith("  time limit:") for line in lines)


def test_an_alarm_missing_from_cloudwatch_is_an_error_before_any_change(world: World) -> None:
    del world.alarms.state["apigw-canary-canary-p99"]
    with pytest.raises(StateConflict, match="do not exist: apigw-canary-canary-p99"):
        world.run()
    assert world.stages.log == []


def test_an_alarm_already_firing_stops_a_fresh_rollout_before_traffic_moves(world: World) -> None:
    world.alarms.state["apigw-canary-rollback"] = "ALARM"
    with pytest.raises(StateConflict, match="already in ALARM"):
        world.run()
    assert world.stages.log == []


def test_a_canary_removed_by_someone_else_stops_the_run_without_touching_the_stage(world: World) -> None:
    def remove_at_step_two(now: float) -> None:
        if len(world.of("step_started")) == 2 and world.production().canary is not None:
            world.stages.stages["production"].canary = None

    world.clock.on_sleep = remove_at_step_two
    with pytest.raises(StateConflict, match="production changed under the controller"):
        world.run()
    assert world.stages.changes()[-1] == "set_canary_percent"


def test_an_aws_failure_while_shifting_rolls_back_then_reports_the_error(world: World) -> None:
    world.stages.fail_on.add("set_canary_percent")
    with pytest.raises(AwsError, match="injected"):
        world.run()
    assert world.production().canary is None
    assert world.of("rolled_back")[0]["reason"].startswith("AWS error")


def test_all_at_once_shifts_everything_and_promotes_after_one_alarm_check(world: World) -> None:
    assert world.run(strategy="all-at-once") is Outcome.PROMOTED
    assert len(world.of("tick")) == 1
    assert world.clock() - world.of("run_started")[0]["at"] < 1


class _FailingJudge:
    uses_history = trusts_history = carries_lasting_noise = caps_outliers = False
    outliers = NO_OUTLIERS

    def __init__(self) -> None:
        self.seen = 0

    def observe(self, canary, baseline):
        self.seen += 1
        return judgement(
            Verdict.FAIL if self.seen >= 2 else Verdict.CONTINUE, "sequential test: canary worse"
        )


def test_a_judge_fail_verdict_rolls_back(world: World) -> None:
    assert world.run(judge=_FailingJudge, bake="5m") is Outcome.ROLLED_BACK
    assert world.of("gate_failed")[0]["gate"] == "judge"


def test_the_judge_sees_each_metric_period_once(world: World) -> None:
    seen: list[tuple[int, int]] = []

    class Spy:
        uses_history = trusts_history = carries_lasting_noise = caps_outliers = False
        outliers = NO_OUTLIERS

        def observe(self, canary, baseline):
            seen.append((canary.requests, baseline.requests))
            return judgement(Verdict.CONTINUE, "collecting")

    world.run(judge=Spy, bake="5m")
    assert len(seen) >= 8  # 4 steps of 5 minutes: several settled periods each
    assert len(set(seen)) == len(seen)  # each period's totals differ (see TrafficModel): none fed twice


def test_the_statistical_judge_catches_a_regression_the_thresholds_let_through(world: World) -> None:
    from controller.judge import Judge, JudgeConfig

    world.traffic.live_error_rate = 0.005
    world.traffic.candidate_error_rate = 0.03  # 6x the baseline, under a lenient 10% threshold
    lenient = Thresholds(max_5xx_rate=0.10, max_5xx_ratio=100, min_requests=50)
    # Long bakes: a subtle regression needs evidence (the judge reads settled periods, one per minute).
    assert world.run(thresholds=lenient, judge=lambda: Judge(JudgeConfig()), bake="5m") is Outcome.ROLLED_BACK
    assert world.of("gate_failed")[0]["gate"] == "judge"
    assert world.of("tick")[-1]["judge"]["verdict"] == "FAIL"
    assert world.of("rolled_back")[0]["percent"] < 100


def test_without_the_judge_the_same_regression_gets_through_lenient_thresholds(world: World) -> None:
    world.traffic.live_error_rate = 0.005
    world.traffic.candidate_error_rate = 0.03
    lenient = Thresholds(max_5xx_rate=0.10, max_5xx_ratio=100, min_requests=50)
    assert world.run(thresholds=lenient, bake="5m") is Outcome.PROMOTED


def test_adaptive_promotes_a_healthy_candidate_once_the_judge_passes(world: World) -> None:
    world.traffic.live_error_rate = world.traffic.candidate_error_rate = 0.002
    assert _adaptive(world) is Outcome.PROMOTED
    assert world.production().variable("slot") == "green"
    assert world.of("tick")[-1]["judge"]["verdict"] == "PASS"
    shares = [e["percent"] for e in world.of("step_started")]
    assert shares[0] < 5 < max(shares) < 100  # starts small; the ramp widens it as evidence grows


def test_adaptive_rolls_back_a_faulty_candidate_at_a_small_share(world: World) -> None:
    world.traffic.live_error_rate = 0.002
    world.traffic.candidate_error_rate = 0.2
    assert _adaptive(world) is Outcome.ROLLED_BACK
    assert world.of("gate_failed")[0]["gate"] == "judge"
    assert world.of("rolled_back")[0]["percent"] < 5
    assert world.production().canary is None


def test_adaptive_without_traffic_fails_safe(world: World) -> None:
    world.traffic.requests_per_period = 0
    assert _adaptive(world) is Outcome.ROLLED_BACK
    assert "no data is not a pass" in world.of("rolled_back")[0]["reason"]


def test_a_change_between_the_first_read_and_taking_the_lock_stops_the_run(world: World) -> None:
    original = world.stages.set_variable

    def another_run_promotes_first(stage, name, value):
        if world.stages.stages["staging"].variables["slot"] == "green":  # once: the other run finishes
            world.stages.stages["production"].variables["slot"] = "green"
            world.stages.stages["staging"].variables["slot"] = "blue"
        return original(stage, name, value)

    world.stages.set_variable = another_run_promotes_first
    with pytest.raises(StateConflict, match="changed while this run was starting"):
        world.run()
    assert "create_canary" not in world.stages.changes()
    assert LOCK_VARIABLE not in world.production().variables


def _adaptive_judges(world: World, **options) -> tuple[Outcome, list]:
    """`_adaptive`, keeping the judges the runner built (to see the history each was handed)."""
    from controller.judge import Judge, JudgeConfig

    judges: list = []

    def make(history):
        judges.append(Judge(JudgeConfig(), history))
        return judges[-1]

    return _adaptive(world, judge_factory=make, **options), judges


def test_the_judge_gets_the_live_versions_last_day_before_any_traffic_moves(world: World) -> None:
    world.traffic.live_error_rate = world.traffic.candidate_error_rate = 0.01
    started = world.clock()
    outcome, (judge,) = _adaptive_judges(world)
    assert outcome is Outcome.PROMOTED
    end = started // 60 * 60
    assert world.traffic.history_asked == [(end - 86400, end)]
    (event,) = world.of("baseline_history")
    day = world.traffic.requests_per_period * 1440
    assert event["requests"] == pytest.approx(day, rel=0.1)
    assert event["used"] is True and event["trusted"] is True  # the default judge trusts a long history
    assert event["error_rate"] == pytest.approx(0.01, rel=0.05)
    assert judge.history is not None and judge.history.history.requests == event["requests"]


def test_the_history_event_says_when_the_judge_does_not_trust_it(world: World) -> None:
    from controller.judge import Judge, JudgeConfig

    _adaptive(world, judge_factory=lambda history: Judge(JudgeConfig(history_fail=False), history))
    (event,) = world.of("baseline_history")
    assert (event["used"], event["trusted"]) == (True, False)


def test_the_history_event_says_when_the_history_is_too_short_to_use(world: World) -> None:
    from controller.judge import Judge, JudgeConfig

    _adaptive(world, judge_factory=lambda history: Judge(JudgeConfig(history_min_requests=10**9), history))
    (event,) = world.of("baseline_history")
    assert (event["used"], event["trusted"]) == (False, False)


def test_baseline_history_zero_reads_none(world: World) -> None:
    outcome, (judge,) = _adaptive_judges(world, baseline_history_s=0)
    assert outcome is Outcome.PROMOTED
    assert world.traffic.history_asked == [] and world.of("baseline_history") == []
    assert judge.history is None


def test_an_unreadable_history_is_a_warning_and_the_judge_goes_on_without_it(
    world: World, monkeypatch
) -> None:
    def throttled(start: float, end: float):
        raise AwsError("GetMetricData: Throttling: injected")

    monkeypatch.setattr(world.traffic, "history", throttled)
    outcome, (judge,) = _adaptive_judges(world)
    assert outcome is Outcome.PROMOTED
    assert any("baseline history unavailable" in w["message"] for w in world.of("warning"))
    assert judge.history is None
