"""Builders for the IAM enforcement tests: clients with given keys, users and roles with policies, a stack."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.testing import REGION, LocalCloudProcess, zip_handler

ACCOUNT = "123456789012"
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=30)


@dataclass(frozen=True)
class Keys:
    access_key_id: str = "test"
    secret_access_key: str = "test"
    session_token: str | None = None

    def triple(self) -> tuple[str, str, str | None]:
        return (self.access_key_id, self.secret_access_key, self.session_token)


BOOTSTRAP = Keys()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def client(cloud: LocalCloudProcess, service: str, keys: Keys = BOOTSTRAP) -> Any:
    return boto3.client(
        service,
        endpoint_url=cloud.endpoint_url,
        region_name=REGION,
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        aws_session_token=keys.session_token,
        config=_CONFIG,
    )


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def make_user(
    cloud: LocalCloudProcess,
    inline: str | None = None,
    managed: tuple[str, ...] = (),
    groups: tuple[str, ...] = (),
) -> tuple[str, Keys]:
    """A user (created with the bootstrap keys) with an inline policy, managed policy ARNs and groups."""
    iam = client(cloud, "iam")
    name = unique("user")
    iam.create_user(UserName=name)
    if inline:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=inline)
    for arn in managed:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    for group in groups:
        iam.add_user_to_group(GroupName=group, UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, Keys(key["AccessKeyId"], key["SecretAccessKey"])


def managed_policy(cloud: LocalCloudProcess, policy_document: str) -> str:
    return client(cloud, "iam").create_policy(PolicyName=unique("policy"), PolicyDocument=policy_document)[
        "Policy"
    ]["Arn"]


def make_role(cloud: LocalCloudProcess, trust: str, inline: str | None = None) -> str:
    iam = client(cloud, "iam")
    name = unique("role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    if inline:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=inline)
    return arn


def assume(cloud: LocalCloudProcess, keys: Keys, role_arn: str, **kwargs: Any) -> Keys:
    creds = client(cloud, "sts", keys).assume_role(RoleArn=role_arn, RoleSessionName="test", **kwargs)
    creds = creds["Credentials"]
    return Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def denied(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run a call that must be refused with HTTP 403; returns botocore's parsed error."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return caught.value.response["Error"]


@dataclass
class Stack:
    api_id: str
    resource_id: str  # /hello
    production_deployment: str
    spare_deployment: str  # a deployment no stage uses
    alarms: tuple[str, ...]
    function: str
    function_arn: str

    def api_arn(self, suffix: str = "") -> str:
        return f"arn:aws:apigateway:{REGION}::/restapis/{self.api_id}{suffix}"


def make_stack(cloud: LocalCloudProcess) -> Stack:
    """A REST API with production and staging stages, two alarms and a function, built with bootstrap keys."""
    apigw = client(cloud, "apigateway")
    api_id = apigw.create_rest_api(name=unique("api"))["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    resource = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="hello")["id"]
    apigw.put_method(restApiId=api_id, resourceId=resource, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=resource, httpMethod="GET", type="MOCK")
    production = apigw.create_deployment(restApiId=api_id, stageName="production")["id"]
    apigw.create_stage(restApiId=api_id, stageName="staging", deploymentId=production)
    spare = apigw.create_deployment(restApiId=api_id, description="apigw-canary spare")["id"]
    cloudwatch = client(cloud, "cloudwatch")
    alarms = (unique("errors"), unique("rollback"))
    for name in alarms:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/ApiGateway",
            MetricName="5XXError",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
    role = client(cloud, "iam").create_role(RoleName=unique("fn-role"), AssumeRolePolicyDocument="{}")
    function = unique("fn")
    arn = client(cloud, "lambda").create_function(
        FunctionName=function,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": zip_handler("def lambda_handler(event, context):\n    return {}\n")},
    )["FunctionArn"]
    return Stack(api_id, resource, production, spare, alarms, function, arn)
