"""The controller run under the module's own policy, on a local cloud that enforces IAM.

A CI user gets exactly `controller_iam_policy_json` (Terraform renders it for this stack) and nothing else.
With its keys every controller command a release needs succeeds; with the same keys, what is outside the
job is refused with AccessDenied and changes nothing. The calls each command made are recorded from the
local cloud's log (out/e2e/least_privilege_calls.json) for the docs.
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonapigatewaymanagement.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import StackView, applied_root_module
from e2e_controller_helpers import REPO, ControllerProcess, WatchedTraffic, controller_env, run_controller
from terraform.stack import Stack

from localcloud.testing import LocalCloudProcess

RATE_PER_S = 20.0
FAST = ["--interval", "2s", "--min-requests", "10", "--steps", "50,100", "--bake", "6s"]
EXTRA_ALARM = "lp-payments-errors"


@pytest.fixture(scope="module")
def guarded_cloud() -> Iterator[LocalCloudProcess]:
    with LocalCloudProcess(metric_period=2, enforce_iam=True) as cloud:
        assert cloud.admin("GET", "health")["iam_enforced"] is True
        yield cloud


def bootstrap(cloud: LocalCloudProcess, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=cloud.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def topic(guarded_cloud: LocalCloudProcess) -> str:
    return bootstrap(guarded_cloud, "sns").create_topic(Name="lp-releases")["TopicArn"]


@pytest.fixture(scope="module")
def stack(
    guarded_cloud: LocalCloudProcess, topic: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    # An alarm the team already has, handed to the module as an extra rollback alarm (Terraform, like any
    # admin, applies with the bootstrap keys).
    bootstrap(guarded_cloud, "cloudwatch").put_metric_alarm(
        AlarmName=EXTRA_ALARM,
        Namespace="Shop",
        MetricName="PaymentErrors",
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=1000,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    with applied_root_module(
        guarded_cloud.env(),
        "e2e-lp",
        tmp_path_factory,
        extra_rollback_alarm_names=[EXTRA_ALARM],
        controller_notification_topic_arns=[topic],
    ) as applied:
        yield applied


@pytest.fixture(scope="module")
def world(stack: Stack, guarded_cloud: LocalCloudProcess, tmp_path_factory: pytest.TempPathFactory):
    outputs = stack.outputs()
    saved = tmp_path_factory.mktemp("lp-outputs") / "outputs.json"
    saved.write_text(json.dumps({k: {"value": v} for k, v in outputs.items()}))
    iam = bootstrap(guarded_cloud, "iam")
    iam.create_user(UserName="ci-release")
    iam.put_user_policy(
        UserName="ci-release", PolicyName="controller", PolicyDocument=outputs["controller_iam_policy_json"]
    )
    key = iam.create_access_key(UserName="ci-release")["AccessKey"]
    env = controller_env(guarded_cloud.env())
    env.update(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    cfg = outputs["controller_config"]
    clients = {n: bootstrap(guarded_cloud, n) for n in ("apigateway", "cloudwatch")}
    return saved, env, StackView(cfg, clients, guarded_cloud), key


def ci_client(cloud: LocalCloudProcess, key: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=cloud.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )


def shift(outputs: Path, env: dict[str, str], *extra: str) -> ControllerProcess:
    return ControllerProcess(["shift", "--outputs", str(outputs), "--json", *FAST, *extra], env)


def test_status_shift_with_gates_and_notifications_promote_and_undo_run_under_the_policy(
    world, topic: str, tmp_path: Path
) -> None:
    outputs, env, view, _ = world
    view.wait_idle()
    done = run_controller(["status", "--outputs", str(outputs), "--json"], env)
    assert done.returncode == 0, done.stderr
    gates = tmp_path / "gates.yaml"
    gates.write_text(
        (REPO / "examples" / "gates" / "checkout.yaml").read_text()
        + f"  - name: payments\n    alarm: {EXTRA_ALARM}\n"
    )
    candidate = view.candidate()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs, env, "--gates", str(gates), "--notify", topic)
        code = run.wait(240)
    assert code == 0, run.stderr
    assert view.live() == candidate
    undone = run_controller(["undo", "--outputs", str(outputs), "--json"], env)
    assert undone.returncode == 0, undone.stderr
    assert view.live() != candidate


def test_a_faulty_release_is_rolled_back_under_the_policy(world) -> None:
    outputs, env, view, _ = world
    view.wait_idle()
    live, candidate = view.live(), view.candidate()
    view.fault(view.cfg["slots"][candidate]["function_name"], 0.5)
    try:
        with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
            run = shift(outputs, env)
            code = run.wait(240)
    finally:
        view.clear_faults()
    assert code == 3, run.stderr
    assert view.live() == live


def test_approval_abort_pause_resume_promote_and_rollback_run_under_the_policy(world) -> None:
    outputs, env, view, _ = world
    view.wait_idle()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs, env, "--approval", "before-promotion", "--approval-timeout", "5m")
        run.wait_event("hold_started", hold="approval", timeout_s=180)
        done = run_controller(["abort", "--outputs", str(outputs), "--json"], env)
        assert done.returncode == 0, done.stderr
        assert run.wait(120) == 3, run.stderr
    view.wait_idle()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs, env, "--approval", "before-promotion", "--approval-timeout", "5m")
        run.wait_event("step_started", timeout_s=120)
        for command in ("pause", "resume"):
            done = run_controller([command, "--outputs", str(outputs), "--json"], env)
            assert done.returncode == 0, f"{command}: {done.stderr}"
            run.wait_event("hold_ended" if command == "resume" else "hold_started", timeout_s=60)
        run.wait_event("hold_started", hold="approval", timeout_s=180)
        done = run_controller(["approve", "--outputs", str(outputs), "--json"], env)
        assert done.returncode == 0, done.stderr
        assert run.wait(120) == 0, run.stderr
    # A canary left for the one-shot commands: created by a shift that is told to leave it when stopped.
    view.wait_idle()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs, env, "--on-interrupt", "leave")
        run.wait_event("step_started", timeout_s=120)
        run.proc.send_signal(2)
        run.wait(60)
    assert view.stage("production")["canarySettings"] is not None  # left, to resume or to settle by hand
    done = run_controller(["rollback", "--outputs", str(outputs), "--json"], env)
    assert done.returncode == 0, done.stderr
    assert view.stage("production")["canarySettings"] is None
    view.wait_idle()
    with WatchedTraffic(view.url(), RATE_PER_S, workers=4):
        run = shift(outputs, env, "--on-interrupt", "leave")
        run.wait_event("step_started", timeout_s=120)
        run.proc.send_signal(2)
        run.wait(60)
        done = run_controller(["promote", "--outputs", str(outputs), "--json"], env)
        assert done.returncode == 0, done.stderr
    assert view.stage("production")["canarySettings"] is None


def test_the_same_keys_are_refused_everything_outside_the_job_and_nothing_changes(
    world, guarded_cloud: LocalCloudProcess
) -> None:
    outputs, env, view, key = world
    view.wait_idle()
    api = view.cfg["api_id"]
    before = view.snapshot()
    apigw = view.apigw
    resource = next(r for r in apigw.get_resources(restApiId=api)["items"] if r.get("path") == "/hello")
    # The AWS CLI, as a user would try it: update-integration and delete-stage are AccessDenied.
    cli_env = {**env}
    for args in (
        [
            "update-integration",
            "--rest-api-id",
            api,
            "--resource-id",
            resource["id"],
            "--http-method",
            "GET",
            "--patch-operations",
            "op=replace,path=/timeoutInMillis,value=1000",
        ],
        ["delete-stage", "--rest-api-id", api, "--stage-name", "production"],
    ):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "awscli",
                "apigateway",
                *args,
                "--endpoint-url",
                guarded_cloud.endpoint_url,
            ],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode != 0 and "AccessDenied" in done.stderr, (args[0], done.stderr)
    ci = {n: ci_client(guarded_cloud, key, n) for n in ("apigateway", "lambda", "cloudwatch")}
    other_api = bootstrap(guarded_cloud, "apigateway").create_rest_api(name="someone-elses")["id"]
    refusals = {
        "patch another API's stage": lambda: ci["apigateway"].update_stage(
            restApiId=other_api, stageName="production", patchOperations=[]
        ),
        "invoke a function": lambda: ci["lambda"].invoke(
            FunctionName=view.cfg["slots"]["blue"]["function_name"]
        ),
        "update a function": lambda: ci["lambda"].update_function_configuration(
            FunctionName=view.cfg["slots"]["blue"]["function_name"], Timeout=30
        ),
        "delete an alarm": lambda: ci["cloudwatch"].delete_alarms(
            AlarmNames=[view.cfg["rollback_alarm_name"]]
        ),
    }
    from botocore.exceptions import ClientError

    for what, call in refusals.items():
        with pytest.raises(ClientError) as caught:
            call()
        error = caught.value.response["Error"]
        assert error["Code"] in ("AccessDenied", "AccessDeniedException"), what
    assert view.snapshot() == before
    kept = view.cw.describe_alarms(
        AlarmNames=[view.cfg["rollback_alarm_name"]], AlarmTypes=["CompositeAlarm"]
    )
    assert kept["CompositeAlarms"]  # the alarm the CI user tried to delete is still there


def test_a_gate_alarm_the_policy_does_not_cover_is_a_one_line_error_that_changes_nothing(world) -> None:
    outputs, env, view, _ = world
    view.wait_idle()
    before = view.snapshot()
    done = run_controller(
        ["shift", "--outputs", str(outputs), "--json", *FAST, "--gate-alarm", "not-in-the-policy"], env
    )
    assert done.returncode == 1
    assert "AccessDenied" in done.stderr and done.stderr.strip().count("\n") == 0
    assert view.snapshot() == before
