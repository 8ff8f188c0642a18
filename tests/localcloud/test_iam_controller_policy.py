"""The module's controller policy (`controller_iam_policy_json`, controller_policy.tf) under IAM enforcement:
the calls a shift makes are allowed, everything outside the job is denied and changes nothing.

The policy is written out here statement for statement as controller_policy.tf renders it for one stack (the
end-to-end suite renders the real output with Terraform).
Pages followed:
APIGW   https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonapigatewaymanagement.html
CW      https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html
LAMBDA  https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from iam_helpers import ACCOUNT, Keys, Stack, allow, client, denied, document, make_stack, make_user

from localcloud.testing import REGION

CANARY_10 = [{"op": "replace", "path": "/canarySettings/percentTraffic", "value": "10"}]


def controller_policy(stack: Stack) -> str:
    stages = [stack.api_arn(f"/stages/{name}") for name in ("production", "staging")]
    alarm_prefix = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:"
    deployments = [stack.api_arn("/deployments"), stack.api_arn("/deployments/*")]
    return document(
        allow(
            "apigateway:GET",
            [*stages, stack.api_arn("/stages"), *deployments],
            Sid="ReadStagesAndDeployments",
        ),
        allow("apigateway:PATCH", stages, Sid="ShiftPromoteRollBack"),
        allow("apigateway:POST", stack.api_arn("/deployments"), Sid="SnapshotDefinitionForRelease"),
        allow("apigateway:DELETE", stack.api_arn("/deployments/*"), Sid="DeleteUnusedReleaseSnapshots"),
        allow("cloudwatch:DescribeAlarms", [alarm_prefix + name for name in stack.alarms], Sid="ReadAlarms"),
        allow("cloudwatch:GetMetricData", "*", Sid="ReadMetrics"),
        allow("lambda:GetFunctionConfiguration", stack.function_arn, Sid="ReadSlotFunctions"),
    )


@pytest.fixture(scope="module")
def stacks(iam_cloud: Any) -> tuple[Stack, Stack]:
    return make_stack(iam_cloud), make_stack(iam_cloud)


@pytest.fixture(scope="module")
def ci_keys(iam_cloud: Any, stacks: tuple[Stack, Stack]) -> Keys:
    """The keys of a CI user whose only policy is the controller policy for the first stack."""
    return make_user(iam_cloud, inline=controller_policy(stacks[0]))[1]


@pytest.fixture(scope="module")
def ci(iam_cloud: Any, ci_keys: Keys) -> Any:
    return lambda service: client(iam_cloud, service, ci_keys)


def test_the_calls_of_a_shift_are_allowed(ci: Any, stacks: tuple[Stack, Stack]) -> None:
    stack = stacks[0]
    apigw = ci("apigateway")
    assert apigw.get_stage(restApiId=stack.api_id, stageName="production")["deploymentId"]
    assert {s["stageName"] for s in apigw.get_stages(restApiId=stack.api_id)["item"]} >= {
        "production",
        "staging",
    }
    assert list(apigw.get_paginator("get_deployments").paginate(restApiId=stack.api_id))
    release = apigw.create_deployment(restApiId=stack.api_id, description="apigw-canary release")["id"]
    canary = [{"op": "replace", "path": "/canarySettings/deploymentId", "value": release}, *CANARY_10]
    apigw.update_stage(restApiId=stack.api_id, stageName="production", patchOperations=canary)
    apigw.update_stage(
        restApiId=stack.api_id,
        stageName="staging",
        patchOperations=[{"op": "replace", "path": "/variables/slot", "value": "green"}],
    )
    apigw.update_stage(
        restApiId=stack.api_id,
        stageName="production",
        patchOperations=[{"op": "remove", "path": "/canarySettings"}],
    )
    apigw.delete_deployment(restApiId=stack.api_id, deploymentId=release)
    cloudwatch = ci("cloudwatch")
    alarms = cloudwatch.describe_alarms(
        AlarmNames=list(stack.alarms), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    assert {a["AlarmName"] for a in alarms["MetricAlarms"]} == set(stack.alarms)
    now = dt.datetime.now(dt.UTC)
    query = {
        "Id": "count",
        "MetricStat": {
            "Metric": {"Namespace": "AWS/ApiGateway", "MetricName": "Count", "Dimensions": []},
            "Period": 60,
            "Stat": "Sum",
        },
    }
    cloudwatch.get_metric_data(
        MetricDataQueries=[query], StartTime=now - dt.timedelta(minutes=5), EndTime=now
    )
    with pytest.raises(ClientError, match="AccessDenied"):  # a read the controller never makes
        cloudwatch.list_metrics(Namespace="AWS/ApiGateway")
    assert (
        ci("lambda").get_function_configuration(FunctionName=stack.function)["FunctionName"] == stack.function
    )


def test_actions_outside_the_job_are_denied_and_change_nothing(
    iam_cloud: Any, ci: Any, stacks: tuple[Stack, Stack]
) -> None:
    stack, other = stacks
    admin_apigw = client(iam_cloud, "apigateway")
    before = admin_apigw.get_integration(
        restApiId=stack.api_id, resourceId=stack.resource_id, httpMethod="GET"
    )
    apigw = ci("apigateway")
    # APIGW: UpdateIntegration is PATCH on .../resources/{id}/methods/GET/integration, not on a stage.
    error = denied(
        apigw.update_integration,
        restApiId=stack.api_id,
        resourceId=stack.resource_id,
        httpMethod="GET",
        patchOperations=[{"op": "replace", "path": "/timeoutInMillis", "value": "1000"}],
    )
    integration = stack.api_arn(f"/resources/{stack.resource_id}/methods/GET/integration")
    assert f"apigateway:PATCH on resource: {integration} " in error["Message"]
    denied(apigw.delete_stage, restApiId=stack.api_id, stageName="production")
    denied(apigw.update_stage, restApiId=other.api_id, stageName="production", patchOperations=CANARY_10)
    denied(apigw.delete_rest_api, restApiId=stack.api_id)
    lam = ci("lambda")
    denied(lam.invoke, FunctionName=stack.function)
    denied(lam.update_function_configuration, FunctionName=stack.function, Timeout=9)
    denied(ci("cloudwatch").delete_alarms, AlarmNames=[stack.alarms[0]])
    denied(ci("cloudwatch").describe_alarms, AlarmNames=list(other.alarms))

    after = admin_apigw.get_integration(
        restApiId=stack.api_id, resourceId=stack.resource_id, httpMethod="GET"
    )
    assert after.get("timeoutInMillis") == before.get("timeoutInMillis")
    stages = {s["stageName"] for s in admin_apigw.get_stages(restApiId=stack.api_id)["item"]}
    assert stages == {"production", "staging"}
    assert "canarySettings" not in admin_apigw.get_stage(restApiId=other.api_id, stageName="production")
    config = client(iam_cloud, "lambda").get_function_configuration(FunctionName=stack.function)
    assert config["Timeout"] != 9
    remaining = client(iam_cloud, "cloudwatch").describe_alarms(AlarmNames=[stack.alarms[0]])["MetricAlarms"]
    assert len(remaining) == 1


def test_the_aws_cli_with_the_policy_keys_gets_access_denied_on_update_integration_and_delete_stage(
    iam_cloud: Any, ci_keys: Keys, stacks: tuple[Stack, Stack], tmp_path: Path
) -> None:
    stack = stacks[0]
    env = {
        **os.environ,
        **iam_cloud.env(),
        "AWS_ACCESS_KEY_ID": ci_keys.access_key_id,
        "AWS_SECRET_ACCESS_KEY": ci_keys.secret_access_key,
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    }
    aws = str(Path(sys.executable).parent / "aws")
    api = ["--rest-api-id", stack.api_id]
    commands = [
        ["update-integration", *api, "--resource-id", stack.resource_id, "--http-method", "GET"]
        + ["--patch-operations", "op=replace,path=/timeoutInMillis,value=1000"],
        ["delete-stage", *api, "--stage-name", "production"],
    ]
    for command in commands:
        result = subprocess.run(
            [aws, "apigateway", *command], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )
        assert result.returncode != 0
        assert "(AccessDeniedException)" in result.stderr and "is not authorized to perform: apigateway:" in (
            result.stderr
        )
    stages = client(iam_cloud, "apigateway").get_stages(restApiId=stack.api_id)["item"]
    assert "production" in {s["stageName"] for s in stages}
