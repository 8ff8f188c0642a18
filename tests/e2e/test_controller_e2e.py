"""The controller against the root module on the local cloud, with real HTTP traffic on loopback.

Short bakes and intervals keep the suite quick; the metric period is the module's 10 s (the shortest
CloudWatch alarm period), which the controller reads from controller_config like it reads 60 s on AWS.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import METRIC_PERIOD_S, StackView
from e2e_controller_helpers import (
    REPO,
    ControllerProcess,
    WatchedTraffic,
    run_controller,
    served_versions,
    wait_for,
)
from terraform.stack import Stack

RATE_PER_S = 20.0
FAST = ["--interval", "2s", "--min-requests", "10"]
MEASUREMENTS = REPO / "out" / "e2e" / "controller.json"


def record(name: str, values: dict[str, Any]) -> None:
    """Figures for the report (out/ is not versioned)."""
    MEASUREMENTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(MEASUREMENTS.read_text()) if MEASUREMENTS.exists() else {}
    data[name] = values
    MEASUREMENTS.write_text(json.dumps(data, indent=2, sort_keys=True))


def keep_report(name: str, events: list[dict[str, Any]]) -> Path:
    """Save the run's event log and draw it with `controller report` (the chart must accept real events)."""
    from controller.report import render

    log = MEASUREMENTS.parent / f"{name}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    page = log.with_suffix(".html")
    render(log, page)
    return page


def shift_args(outputs: Path, *extra: str) -> list[str]:
    return ["shift", "--outputs", str(outputs), "--json", *FAST, *extra]


def calls_per_tick(events: list[dict[str, Any]]) -> dict[str, float]:
    ticks = [e for e in events if e["event"] == "tick"]
    totals: dict[str, int] = {}
    for tick in ticks:
        for op, n in tick["aws_calls"].items():
            totals[op] = totals.get(op, 0) + n
    return {op: round(n / len(ticks), 2) for op, n in sorted(totals.items())}


# -- malformed input: one line, exit 1 or 2, stage unchanged ------------------------------------------------


def _edited(cfg: dict[str, Any], **changes: Any) -> str:
    value = json.loads(json.dumps(cfg))
    for dotted, new in changes.items():
        *parents, last = dotted.split("__")
        target = value
        for key in parents:
            target = target[key]
        if new is _DELETE:
            del target[last]
        else:
            target[last] = new
    return json.dumps({"controller_config": {"value": value}})


_DELETE = object()

# (id, extra args, outputs text builder or None for the real outputs file, expected exit code)
MALFORMED = [
    ("outputs-file-missing", ["--outputs", "/nonexistent/outputs.json"], None, 1),
    ("outputs-empty", [], lambda cfg: "", 1),
    ("outputs-garbled", [], lambda cfg: '{"controller_config": {"value": {', 1),
    ("outputs-without-controller-config", [], lambda cfg: json.dumps({"rest_api_id": {"value": "x"}}), 1),
    ("outputs-a-json-list", [], lambda cfg: "[]", 1),
    ("schema-version-unknown", [], lambda cfg: _edited(cfg, schema_version=99), 1),
    ("api-id-missing", [], lambda cfg: _edited(cfg, api_id=_DELETE), 1),
    ("api-id-unknown", [], lambda cfg: _edited(cfg, api_id="nosuchapi1"), 1),
    ("stage-unknown", [], lambda cfg: _edited(cfg, production_stage="prod-typo"), 1),
    ("stages-identical", [], lambda cfg: _edited(cfg, staging_stage=cfg["production_stage"]), 1),
    ("alarms-key-missing", [], lambda cfg: _edited(cfg, alarm_names=_DELETE), 1),
    (
        "alarm-not-in-cloudwatch",
        [],
        lambda cfg: _edited(cfg, alarm_names=[*cfg["alarm_names"], "no-such-alarm"]),
        1,
    ),
    ("slot-missing", [], lambda cfg: _edited(cfg, slots__green=_DELETE), 1),
    ("slot-variable-not-on-stage", [], lambda cfg: _edited(cfg, slot_variable="colour"), 1),
    ("region-garbled", [], lambda cfg: _edited(cfg, region="moon-base-one"), 1),
    ("metric-period-zero", [], lambda cfg: _edited(cfg, metrics__period_seconds=0), 1),
    ("steps-decreasing", ["--steps", "50,10,100"], None, 2),
    ("steps-percent-over-100", ["--steps", "10,150"], None, 2),
    ("steps-not-ending-at-100", ["--steps", "10,50"], None, 2),
    ("steps-zero", ["--steps", "0,100"], None, 2),
    ("steps-not-numbers", ["--steps", "ten,100"], None, 2),
    ("bake-garbled", ["--steps", "10,100", "--bake", "2 minutes"], None, 2),
    ("interval-zero", ["--interval", "0s"], None, 2),
    ("strategy-unknown", ["--strategy", "yolo"], None, 2),
    ("strategy-and-steps", ["--strategy", "recipe", "--steps", "10,100"], None, 2),
    ("narrowest-ratio-not-above-one", ["--strategy", "adaptive", "--narrowest-ratio", "1"], None, 2),
    (
        "narrowest-ratio-and-fixed-margin",
        ["--strategy", "adaptive", "--narrowest-ratio", "1.3", "--fixed-margin"],
        None,
        2,
    ),
    ("error-rate-over-one", ["--max-5xx-rate", "1.5"], None, 2),
    ("on-interrupt-unknown", ["--on-interrupt", "shrug"], None, 2),
    ("tf-dir-and-outputs", ["--tf-dir", "."], None, 2),
    ("tf-dir-missing", ["--tf-dir", "/nonexistent/dir"], "no-outputs", 1),
    ("tf-dir-without-state", ["--tf-dir", "{tmp}"], "no-outputs", 1),
]


@pytest.mark.parametrize(
    ("extra", "make_outputs", "code"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_input_gives_one_line_and_leaves_the_stage_unchanged(
    extra, make_outputs, code, view: StackView, outputs_file: Path, cfg, env, tmp_path: Path
) -> None:
    before = view.snapshot()
    args = ["shift", *[a.replace("{tmp}", str(tmp_path)) for a in extra], "--steps", "10,100", "--bake", "1s"]
    if "--steps" in extra or "--strategy" in extra:
        args = ["shift", *extra]
    if make_outputs is None and "--outputs" not in extra:
        args += ["--outputs", str(outputs_file)]
    elif callable(make_outputs):
        bad = tmp_path / "outputs.json"
        bad.write_text(make_outputs(cfg))
        args += ["--outputs", str(bad)]
    result = run_controller(args, env, timeout_s=60)
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert view.snapshot() == before


def test_status_reads_terraform_outputs_from_the_tf_dir(view: StackView, e2e_stack, env) -> None:
    result = run_controller(
        ["status", "--tf-dir", str(e2e_stack.workdir), "--json"], {**e2e_stack.env, **env}
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["production"]["slot"] == view.live()
    assert status["staging"]["slot"] == view.candidate()
    assert status["production"]["canary"] is None and status["lock"] is None


def test_an_adaptive_dry_run_states_the_narrowest_ratio_and_changes_nothing(
    view: StackView, outputs_file: Path, env
) -> None:
    before = view.snapshot()
    args = shift_args(outputs_file, "--strategy", "adaptive", "--narrowest-ratio", "1.4", "--dry-run")
    result = run_controller(args, env)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    plan = next(event for event in events if event["event"] == "plan")
    assert any(
        line.startswith("  narrower where the traffic allows: as narrow as 1.4x") for line in plan["lines"]
    )
    assert view.snapshot() == before


def test_rollback_and_promote_with_nothing_in_flight_change_nothing(
    view: StackView, outputs_file: Path, env
) -> None:
    before = view.snapshot()
    for command in ("rollback", "promote", "rollback"):
        result = run_controller([command, "--outputs", str(outputs_file), "--json"], env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["event"] == "nothing_to_do"
    assert view.snapshot() == before


# -- rollouts with real traffic ---------------------------------------------------------------------------


def test_healthy_candidate_is_promoted_and_production_then_serves_it_100_percent(
    view: StackView, outputs_file: Path, env
) -> None:
    live, candidate = view.live(), view.candidate()
    staging_deployment = view.stage("staging")["deploymentId"]
    smoke = (
        f'{sys.executable} -c "import os, urllib.request as u; '
        "u.urlopen(os.environ['APIGW_CANARY_STAGING_URL'] + '/hello', timeout=10)\""
    )
    hooks = ["--pre-traffic", smoke, "--post-step", 'test "$APIGW_CANARY_PERCENT" -gt 0']
    # Production traffic before the shift, in a metric period that has closed by the time the judge is
    # built: the baseline history the controller reads must count it.
    served_versions(view.url(), 40)
    time.sleep(METRIC_PERIOD_S - time.time() % METRIC_PERIOD_S + 1)
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4) as traffic:
        shift = ControllerProcess(
            shift_args(outputs_file, "--steps", "20,50,100", "--bake", "8s", *hooks), env
        )
        code = shift.wait(timeout_s=240)
        seen = traffic.snapshot()
    assert code == 0, shift.stderr
    history = shift.event("baseline_history")
    assert history["window_s"] == 86400 and history["requests"] >= 40
    # A few dozen requests are far under the 10,000 the judge needs: it says so and judges without them.
    assert history["errors_5xx"] == 0 and history["used"] is False and history["trusted"] is False
    # Minutes too few to read the noise from: the judge's floor (CV 5 %), nothing lasting, no warning.
    assert history["noise_cv"] == pytest.approx(0.05) and history["noise_lasts_periods"] == 1
    assert not [e for e in shift.events if e["event"] == "warning" and "noise lasts" in e["message"]]
    ran = [(e["hook"], e["exit_code"]) for e in shift.events if e["event"] == "hook"]
    assert ran == [("pre-traffic", 0), ("post-step", 0), ("post-step", 0), ("post-step", 0)]
    # Only the clean-up of the previous release's snapshot (if any) follows the promotion.
    assert [n for n in shift.names() if n != "deployment"][-1] == "promoted"
    production = view.stage("production")
    assert production["canarySettings"] is None
    assert production["variables"]["slot"] == candidate
    # Production runs on the controller's own snapshot of the definition, never on Terraform's staging
    # deployment, which Terraform replaces (and deletes) at the next definition change.
    assert production["deploymentId"] == shift.event("run_started")["candidate_deployment"]
    assert production["deploymentId"] != staging_deployment
    assert view.deployment_description(production["deploymentId"]).startswith("apigw-canary ")
    assert view.candidate() == live  # staging serves the former live slot, ready for the next release
    assert served_versions(view.url(), 30) == {view.version(candidate): 30}
    assert sum(v.errors_5xx for v in seen.by_version.values()) == 0
    calls = calls_per_tick(shift.events)
    record(
        "healthy_promotion",
        {
            "rate_per_s": RATE_PER_S,
            "seconds": round(shift.events[-1]["at"] - shift.events[0]["at"], 1),
            "requests": seen.requests,
            "aws_calls_per_tick": calls,
        },
    )
    assert calls.get("GetMetricData", 0) <= 1 and calls["DescribeAlarms"] == 1
    assert "PROMOTED" in keep_report("healthy_promotion", shift.events).read_text()


def test_throttled_cloudwatch_is_retried_and_the_rollout_carries_on(
    view: StackView, outputs_file: Path, env
) -> None:
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        shift = ControllerProcess(shift_args(outputs_file, "--steps", "50,100", "--bake", "8s"), env)
        shift.wait_event("tick", timeout_s=60)
        # Every CloudWatch call answers 503 for a few seconds (docs/contracts.md, local cloud faults).
        view.localcloud.admin(
            "POST",
            "faults",
            {"target": "control_plane", "service": "cloudwatch", "status": 503, "seconds": 4},
        )
        code = shift.wait(240)
    assert code == 0, shift.stderr
    ticks = [e for e in shift.events if e["event"] == "tick"]
    reads = ("GetMetricData", "DescribeAlarms")
    calls = sum(t["aws_calls"].get(op, 0) for t in ticks for op in reads)
    attempts = sum(t["aws_attempts"].get(op, 0) for t in ticks for op in reads)
    assert attempts > calls  # botocore retried the 503s instead of failing the tick
    record("cloudwatch_503_for_4s", {"read_calls": calls, "read_attempts": attempts, "outcome": "promoted"})


def test_a_failing_pre_traffic_hook_rolls_back_before_production_traffic_moves(
    view: StackView, outputs_file: Path, env
) -> None:
    before = view.snapshot()
    shift = ControllerProcess(shift_args(outputs_file, "--steps", "10,100", "--pre-traffic", "exit 7"), env)
    assert shift.wait(60) == 3
    assert shift.event("gate_failed")["gate"] == "pre-traffic hook" and shift.event("step_started") is None
    assert "pre-traffic hook exited 7" in shift.event("rolled_back")["reason"]
    assert view.snapshot() == before


def test_a_second_controller_is_refused_by_the_lock(view: StackView, outputs_file: Path, env) -> None:
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        first = ControllerProcess(shift_args(outputs_file, "--steps", "10,100", "--bake", "5m"), env)
        first.wait_event("step_started", timeout_s=60)
        before = view.snapshot()
        second = run_controller(shift_args(outputs_file, "--steps", "10,100", "--bake", "5s"), env)
        after = view.snapshot()
        first.proc.send_signal(signal.SIGINT)
        assert first.wait(60) == 1
    assert second.returncode == 1
    error = json.loads(second.stdout.strip().splitlines()[-1])
    holder = first.event("run_started")["holder"]
    assert error["event"] == "error" and f"locked by controller {holder} until" in error["message"]
    assert "s left" in error["message"]
    for stage in ("production", "staging"):  # the refused controller changed nothing (the lease renews)
        assert {k: v for k, v in after[stage].items() if k != "variables"} == {
            k: v for k, v in before[stage].items() if k != "variables"
        }


def test_sigint_rolls_back_and_production_serves_the_live_slot(
    view: StackView, outputs_file: Path, env
) -> None:
    live = view.live()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        shift = ControllerProcess(shift_args(outputs_file, "--steps", "30,100", "--bake", "5m"), env)
        shift.wait_event("tick", timeout_s=60)
        shift.proc.send_signal(signal.SIGINT)
        code = shift.wait(60)
    assert code == 1
    assert shift.names()[-3:] == ["interrupted", "rolled_back", "deployment"]
    # The snapshot this run made is unused once the canary is gone, and deleted with it.
    deleted = shift.events[-1]
    assert deleted["action"] == "deleted" and deleted["deployment_id"] not in view.deployment_ids()
    assert view.stage("production")["canarySettings"] is None
    assert "controller_lock" not in view.stage("production")["variables"]
    assert served_versions(view.url(), 30) == {view.version(live): 30}


def test_a_killed_controller_is_resumed_from_the_current_percent(
    view: StackView, outputs_file: Path, env
) -> None:
    candidate = view.candidate()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        first = ControllerProcess(shift_args(outputs_file, "--steps", "20,50,100", "--bake", "5m"), env)
        first.wait_event("tick", timeout_s=60)
        first.proc.send_signal(signal.SIGKILL)
        first.wait(30)
        canary = view.stage("production")["canarySettings"]
        assert canary["percentTraffic"] == 20 and canary["stageVariableOverrides"]["slot"] == candidate
        assert "controller_lock" in view.stage("production")["variables"]  # the dead holder's lease
        second = ControllerProcess(shift_args(outputs_file, "--steps", "20,50,100", "--bake", "6s"), env)
        code = second.wait(240)
    assert code == 0, second.stderr
    assert second.event("lock")["message"].startswith("took over the stale lock")
    assert second.event("run_started")["resumed_from"] == 20
    assert [e["percent"] for e in second.events if e["event"] == "step_started"] == [20, 50, 100]
    assert view.live() == candidate


def test_faulty_candidate_is_rolled_back_and_production_serves_the_live_slot(
    view: StackView, outputs_file: Path, cfg, env
) -> None:
    live, candidate = view.live(), view.candidate()
    view.fault(cfg["slots"][candidate]["function_name"], 0.2)  # the candidate fails 20% of its requests
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4) as traffic:
        shift = ControllerProcess(shift_args(outputs_file, "--steps", "10,50,100", "--bake", "60s"), env)
        rolled_back_at = shift.wait_event("rolled_back", timeout_s=180)["at"]
        code = shift.wait(timeout_s=30)
        # Requests in flight at the rollback finish first; then every request must reach the live slot.
        settled = _more(traffic, 5)
        after = seen = _more(traffic, 40)
    after_rollback = after.since(settled)
    assert code == 3, shift.stderr
    failed = shift.event("gate_failed")
    assert failed is not None and failed["percent"] == 10
    production = view.stage("production")
    assert production["canarySettings"] is None and production["variables"]["slot"] == live
    assert view.candidate() == candidate  # staging still serves the candidate, to be fixed
    assert served_versions(view.url(), 30) == {view.version(live): 30}
    first_canary = min(
        t for t in (traffic.first_seen.get(view.version(candidate)), traffic.first_5xx) if t is not None
    )
    errors = sum(v.errors_5xx for v in seen.by_version.values())
    figures = {
        "rate_per_s": RATE_PER_S,
        "canary_percent": 10,
        "metric_period_s": METRIC_PERIOD_S,
        "seconds_first_canary_request_to_rollback": round(rolled_back_at - first_canary, 1),
        "failed_requests_seen_by_users": errors,
        "requests": seen.requests,
        "gate": failed["gate"],
        "reason": failed["reason"],
        "aws_calls_per_tick": calls_per_tick(shift.events),
    }
    record("faulty_rollback", figures)
    assert "ROLLED BACK" in keep_report("faulty_rollback", shift.events).read_text()
    assert errors > 0  # the fault was real: users on the canary saw it...
    assert (
        sum(v.errors_5xx for v in after_rollback.by_version.values()) == 0
    )  # ...and nobody after the rollback
    assert set(after_rollback.by_version) == {view.version(live)}


def _more(traffic: WatchedTraffic, count: int):
    """The traffic snapshot once `count` more requests than now have been answered."""
    start = traffic.snapshot().requests

    def answered():
        snapshot = traffic.snapshot()
        return snapshot if snapshot.requests >= start + count else None

    return wait_for(answered, 30, f"{count} more requests")


# -- last: changes the stack's API definition --------------------------------------------------------------


def test_after_a_promotion_a_route_change_applies_and_production_keeps_its_snapshot(
    view: StackView, outputs_file: Path, env, e2e_stack: Stack
) -> None:
    """The module author's reproduction: shift + promote, then change the routes and apply again."""
    before = view.stage("production")["deploymentId"]
    result = run_controller(shift_args(outputs_file, "--strategy", "all-at-once"), env, timeout_s=120)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert "promoted" in [e["event"] for e in events]
    promoted = view.stage("production")["deploymentId"]
    ids = view.deployment_ids()
    # The former live deployment stays until the next promotion, for `undo` (docs/lifecycle.md); older
    # unused snapshots of the controller's are deleted; Terraform's deployments never are.
    assert promoted in ids and before in ids
    staging_before = view.stage("staging")["deploymentId"]

    tfvars = e2e_stack.workdir / "terraform.tfvars.json"
    data = json.loads(tfvars.read_text())
    data["stack"]["routes"] = [*data["stack"]["routes"], {"path": "/hello/{name}", "method": "GET"}]
    tfvars.write_text(json.dumps(data))
    # Terraform replaces staging's deployment and deletes the old one; AWS refuses that while any stage or
    # canary points at it ("Active stages pointing to this deployment must be moved or deleted"):
    # https://docs.aws.amazon.com/apigateway/latest/api/API_DeleteDeployment.html
    e2e_stack.apply(label="apply_after_route_change")

    assert view.stage("production")["deploymentId"] == promoted
    assert view.stage("staging")["deploymentId"] != staging_before
    assert staging_before not in view.deployment_ids()
    assert served_versions(view.url(), 10) == {view.version(view.live()): 10}
    code, out = e2e_stack.plan_exit_code()
    assert code == 0, out
