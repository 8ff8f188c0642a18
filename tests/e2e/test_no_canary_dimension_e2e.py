"""A local cloud that does not publish API Gateway's `{stage}/Canary` metric dimension (as real AWS might
not: AWS documents that name for the canary's log group, not for its metrics). The controller must notice
in the first periods with canary traffic, switch to the per-slot Lambda metrics, say so, and still promote
a healthy release and roll back a faulty one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import StackView, applied_root_module
from e2e_controller_helpers import ControllerProcess, WatchedTraffic, controller_env, run_controller
from terraform.stack import Stack

from localcloud.testing import LocalCloudProcess

RATE_PER_S = 20.0


@pytest.fixture(scope="module")
def quiet_cloud() -> Iterator[LocalCloudProcess]:
    with LocalCloudProcess(metric_period=2, canary_metrics=False) as cloud:
        assert cloud.admin("GET", "health")["canary_metrics"] is False
        yield cloud


@pytest.fixture(scope="module")
def quiet_stack(quiet_cloud: LocalCloudProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The module's alarms are set out of reach: a 30 % fault would trip the production 5xx and the slot's
    # Lambda errors alarms before the source is chosen, and this file is about the judge on per-slot metrics.
    with applied_root_module(
        quiet_cloud.env(),
        "e2e-nocanary",
        tmp_path_factory,
        error_5xx_rate_threshold_percent=100,
        lambda_errors_threshold=1_000_000,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def quiet(quiet_stack: Stack, quiet_cloud: LocalCloudProcess, tmp_path_factory: pytest.TempPathFactory):
    result = quiet_stack.run("output", "-json", "-no-color")
    assert result.returncode == 0, result.stderr
    outputs = tmp_path_factory.mktemp("no-canary-outputs") / "outputs.json"
    outputs.write_text(result.stdout)
    cfg = json.loads(result.stdout)["controller_config"]["value"]
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    clients = {
        n: session.client(n, endpoint_url=quiet_cloud.endpoint_url) for n in ("apigateway", "cloudwatch")
    }
    return outputs, cfg, StackView(cfg, clients, quiet_cloud), controller_env(quiet_cloud.env())


def rollout(outputs: Path, env: dict[str, str], view: StackView) -> tuple[int, ControllerProcess]:
    args = ["shift", "--outputs", str(outputs), "--json", "--interval", "2s", "--min-requests", "10"]
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = ControllerProcess([*args, "--steps", "20,50,100", "--bake", "24s"], env)
        status_seen = _status_during(run, outputs, env)
        code = run.wait(timeout_s=240)
    run.status_seen = status_seen  # type: ignore[attr-defined]
    return code, run


def _status_during(run: ControllerProcess, outputs: Path, env: dict[str, str]) -> dict[str, Any] | None:
    """`status --json` while the rollout runs, once the source has been chosen."""
    run.wait_event("metrics_source", timeout_s=120)
    done = run_controller(["status", "--outputs", str(outputs), "--json"], env)
    return json.loads(done.stdout) if done.returncode == 0 else None


def test_a_healthy_release_is_promoted_on_the_per_slot_lambda_metrics(quiet) -> None:
    outputs, cfg, view, env = quiet
    view.wait_idle()
    candidate = view.candidate()
    code, run = rollout(outputs, env, view)
    assert code == 0, run.stderr
    chosen = run.event("metrics_source")
    assert chosen["source"] == "lambda_per_slot" and "no requests" in chosen["reason"]
    assert run.status_seen["metrics_source"] == "lambda_per_slot"  # type: ignore[attr-defined]
    assert view.live() == candidate
    # The gates judged the canary on the candidate function's own invocations.
    assert any(t["canary"]["requests"] > 0 for t in run.events if t["event"] == "tick")


def test_a_faulty_release_is_rolled_back_on_the_per_slot_lambda_metrics(quiet) -> None:
    outputs, cfg, view, env = quiet
    view.wait_idle()
    live, candidate = view.live(), view.candidate()
    view.fault(cfg["slots"][candidate]["function_name"], 0.3)
    try:
        code, run = rollout(outputs, env, view)
    finally:
        view.clear_faults()
    assert code == 3, run.stderr
    assert run.event("metrics_source")["source"] == "lambda_per_slot"
    assert run.event("gate_failed") is not None
    production = view.stage("production")
    assert production["canarySettings"] is None and production["variables"]["slot"] == live
    # After the run the stage no longer says which source decided.
    assert "controller_metrics_source" not in production["variables"]
