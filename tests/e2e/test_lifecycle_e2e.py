"""The rollout's lifecycle on the local cloud with real traffic: approval, pause, every hook point (webhooks
recorded by a receiver on 127.0.0.1), notifications (receiver and the local cloud's SNS), undo under
traffic, undo refused after the former slot got new code, the guard undoing a release that turns bad, and
the guard with the former version kept beside the release (`--guard-keep`) undoing one whose tail slows.
A `terraform plan` after each must be empty: the controller owns runtime traffic, Terraform the rest."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import StackView
from e2e_controller_helpers import REPO, ControllerProcess, WatchedTraffic, run_controller, wait_for
from http_receiver import Receiver, start_receiver
from terraform.stack import Stack

from controller.hooks import HookPayload

RATE_PER_S = 20.0
FAST = ["--interval", "2s", "--min-requests", "10", "--steps", "50,100", "--bake", "6s"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = start_receiver()
    yield r
    r.stop()


def shift(outputs: Path, env: dict[str, str], *extra: str) -> ControllerProcess:
    return ControllerProcess(["shift", "--outputs", str(outputs), "--json", *FAST, *extra], env)


def promote_under_traffic(view: StackView, outputs: Path, env: dict[str, str]) -> None:
    """A healthy release shifted and promoted (no traffic would be no data, and no data rolls back)."""
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs, env)
        assert run.wait(180) == 0, run.stderr


def command(name: str, outputs: Path, env: dict[str, str], *extra: str):
    return run_controller([name, "--outputs", str(outputs), "--json", *extra], env)


def plan_is_empty(stack: Stack) -> None:
    code, text = stack.plan_exit_code()
    assert code == 0, text


def test_approval_holds_until_approved_from_another_process_then_promotes(
    view: StackView, outputs_file: Path, env, e2e_stack: Stack
) -> None:
    candidate = view.candidate()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs_file, env, "--approval", "before-promotion", "--approval-timeout", "5m")
        held = run.wait_event("hold_started", timeout_s=120)
        assert held["hold"] == "approval" and held["percent"] == 100.0  # the last step's share
        status = json.loads(command("status", outputs_file, env).stdout)
        assert status["hold"] == "approval"
        time.sleep(5)
        assert run.event("promoted") is None and view.stage("production")["canarySettings"] is not None
        approved = command("approve", outputs_file, env)
        assert approved.returncode == 0, approved.stderr
        code = run.wait(120)
    assert code == 0, run.stderr
    assert run.event("hold_ended")["action"] == "approved" and view.live() == candidate
    assert "controller_hold" not in view.stage("production")["variables"]
    plan_is_empty(e2e_stack)


def test_approval_held_then_aborted_rolls_back(view: StackView, outputs_file: Path, env, e2e_stack) -> None:
    live = view.live()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs_file, env, "--approval", "before-promotion")
        run.wait_event("hold_started", timeout_s=120)
        assert command("abort", outputs_file, env).returncode == 0
        code = run.wait(120)
    assert code == 3, run.stderr
    assert (
        run.event("hold_ended")["action"] == "aborted" and "aborted by" in run.event("rolled_back")["reason"]
    )
    assert view.live() == live and view.stage("production")["canarySettings"] is None
    plan_is_empty(e2e_stack)


def test_pause_holds_the_share_and_resume_finishes(
    view: StackView, outputs_file: Path, env, e2e_stack
) -> None:
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs_file, env)
        run.wait_event("step_started", percent=50.0, timeout_s=60)
        assert command("pause", outputs_file, env).returncode == 0
        run.wait_event("hold_started", hold="pause", timeout_s=30)
        time.sleep(12)  # twice the bake: a running step would have moved on
        assert run.event("step_started", percent=100.0) is None
        assert view.stage("production")["canarySettings"]["percentTraffic"] == 50.0
        assert command("resume", outputs_file, env).returncode == 0
        code = run.wait(120)
    assert code == 0, run.stderr
    assert [e["action"] for e in run.events if e["event"] == "hold_ended"] == ["resumed"]
    plan_is_empty(e2e_stack)


def test_every_hook_point_fires_in_order_with_the_documented_payload(
    view: StackView, outputs_file: Path, env, receiver: Receiver, e2e_stack
) -> None:
    points = ("confirm-rollout", "pre-traffic", "post-step", "confirm-promotion", "post-promotion")
    hooks = [arg for p in points for arg in (f"--{p}", f"{receiver.url}/{p}")]
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs_file, env, *hooks, "--on-rollback", f"{receiver.url}/on-rollback")
        code = run.wait(180)
    assert code == 0, run.stderr
    order = [r.path.strip("/") for r in sorted(receiver.received, key=lambda r: r.at)]
    assert order == [
        "confirm-rollout", "pre-traffic", "post-step", "post-step", "confirm-promotion", "post-promotion"
    ]  # fmt: skip
    keys = set(HookPayload.__dataclass_fields__)  # the documented payload, every field, nothing else
    assert all(set(r.body) == keys and r.body["hook"] == r.path.strip("/") for r in receiver.received)
    Path(REPO / "out" / "e2e").mkdir(parents=True, exist_ok=True)
    (REPO / "out" / "e2e" / "hook_order.json").write_text(json.dumps(order))
    plan_is_empty(e2e_stack)


def test_a_failing_confirm_rollout_hook_changes_nothing_in_aws(
    view: StackView, outputs_file: Path, env, receiver: Receiver, e2e_stack
) -> None:
    receiver.status["/confirm"] = 409
    before, deployments = view.snapshot(), view.deployment_ids()
    run = shift(outputs_file, env, "--confirm-rollout", f"{receiver.url}/confirm", "--hook-retries", "0")
    assert run.wait(60) == 3, run.stderr
    assert run.event("refused") and view.snapshot() == before and view.deployment_ids() == deployments
    plan_is_empty(e2e_stack)


def test_notifications_arrive_at_a_receiver_and_an_sns_topic(
    view: StackView, outputs_file: Path, env, receiver: Receiver, aws_client: Any
) -> None:
    sns, sqs = aws_client("sns"), aws_client("sqs")
    topic = sns.create_topic(Name="e2e-releases")["TopicArn"]
    queue = sqs.create_queue(QueueName="e2e-releases")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs_file, env, "--notify", f"slack:{receiver.url}/slack", "--notify", topic,
                    "--report-url", "https://ci.example.com/runs/1")  # fmt: skip
        assert run.wait(180) == 0, run.stderr
    texts = [r.body["text"] for r in receiver.on("/slack")]
    assert any("promoted" in t and "ci.example.com/runs/1" in t for t in texts)
    inbox = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)
    bodies = [json.loads(m["Body"]) for m in inbox.get("Messages", [])]
    assert any(b["Subject"].endswith("promoted") for b in bodies)


def test_undo_serves_the_former_slot_within_seconds_with_no_failed_requests(
    view: StackView, outputs_file: Path, env, e2e_stack
) -> None:
    former = view.live()
    promote_under_traffic(view, outputs_file, env)
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4) as traffic:
        time.sleep(3)
        asked = time.time()
        result = command("undo", outputs_file, env)
        assert result.returncode == 0, result.stderr
        version = view.version(former)
        wait_for(lambda: version in traffic.first_seen_after(asked), 10, "the former slot serving")
        served_at = traffic.first_seen_after(asked)[version]
        time.sleep(3)
        seen = traffic.snapshot()
    undo_s = served_at - asked
    assert undo_s < 5, undo_s
    assert sum(v.errors_5xx for v in seen.by_version.values()) == 0 and seen.failed == 0
    assert view.live() == former
    out = REPO / "out" / "e2e" / "undo.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"undo_s": round(undo_s, 2), "requests": seen.requests}))
    plan_is_empty(e2e_stack)


def test_undo_is_refused_after_the_former_slot_was_reapplied_with_new_code(
    view: StackView, outputs_file: Path, env, e2e_stack: Stack, tmp_path: Path
) -> None:
    promote_under_traffic(view, outputs_file, env)
    former = view.candidate()
    tfvars = e2e_stack.workdir / "terraform.tfvars.json"
    saved = tfvars.read_text()
    source = tmp_path / former
    shutil.copytree(REPO / "lambda" / former, source)
    (source / "handler.py").write_text((source / "handler.py").read_text() + "\n# a new release\n")
    values = json.loads(saved)
    values["stack"][f"{former}_source_dir"] = str(source)
    tfvars.write_text(json.dumps(values))
    try:
        e2e_stack.apply("apply new code")
        before = view.snapshot()
        result = command("undo", outputs_file, env)
        assert result.returncode == 1 and "has new code since the promotion" in result.stderr
        assert view.snapshot() == before
    finally:
        tfvars.write_text(saved)
        e2e_stack.apply("restore code")
    plan_is_empty(e2e_stack)


def test_the_guard_undoes_a_release_that_turns_bad_after_promotion(
    view: StackView, outputs_file: Path, env, e2e_stack, cfg
) -> None:
    live, candidate = view.live(), view.candidate()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs_file, env, "--guard", "2m", "--baseline-history", "0")
        run.wait_event("guard_started", timeout_s=180)
        view.fault(cfg["slots"][candidate]["function_name"], 0.5)
        code = run.wait(180)
    assert code == 3, run.stderr
    assert run.event("guard_ended")["verdict"] == "FAIL" and run.event("undone")["live_slot"] == live
    assert view.live() == live
    plan_is_empty(e2e_stack)


def test_the_guard_keeps_the_former_version_beside_the_release_and_undoes_a_slower_one(
    view: StackView, outputs_file: Path, env, e2e_stack, cfg
) -> None:
    live, candidate = view.live(), view.candidate()
    # The p99 check loosened far past the fault (the former version's p99 x 100 + 25 ms), so that only the
    # split can see a release 60 ms slower: every one of its requests beyond the 40 ms threshold.
    guard = ["--guard", "3m", "--guard-keep", "25", "--slow-ms", "40", "--max-p99-ratio", "100"]
    guard += ["--baseline-history", "0"]
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4) as traffic:
        run = shift(outputs_file, env, *guard)
        started = run.wait_event("guard_started", timeout_s=180)
        assert started["kept_percent"] == 25
        time.sleep(2)  # the new canary settings reach the data plane
        before = traffic.snapshot()
        time.sleep(8)
        beside = traffic.snapshot().since(before).by_version
        # Slower on the promoted release only: the former version beside it stays fast, so the split reads
        # the release as slower in the same periods.
        view.slow(cfg["slots"][candidate]["function_name"], 60)
        code = run.wait(300)
    assert code == 3, run.stderr
    kept = beside.get(view.version(live))
    assert kept is not None and 0.1 < kept.requests / sum(v.requests for v in beside.values()) < 0.45
    ended = run.event("guard_ended")
    assert ended["verdict"] == "FAIL" and "against the former version's" in ended["reason"], ended
    assert run.event("undone")["live_slot"] == live
    stage = view.snapshot()
    assert view.live() == live and stage["production"]["canarySettings"] is None, stage
    plan_is_empty(e2e_stack)
