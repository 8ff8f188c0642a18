"""Builders for local-cloud tests: functions from inline source, REST APIs wired to them, bounded waits."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from localcloud.testing import ACCOUNT_ID, REGION, LocalCloudProcess, zip_handler

HANDLER = """
import json, os, time

def lambda_handler(event, context):
    mode = os.environ.get("MODE", "ok")
    if mode == "raise":
        raise ValueError("boom")
    if mode == "sleep":
        time.sleep(float(os.environ.get("SLEEP", "5")))
    if mode == "malformed":
        return {"statusCode": 200, "body": {"not": "a string"}}
    return {
        "statusCode": int(os.environ.get("STATUS", "200")),
        "headers": {"Content-Type": "application/json", "X-Version": os.environ.get("VERSION", "")},
        "body": json.dumps({
            "version": os.environ.get("VERSION"),
            "stageVariables": event.get("stageVariables"),
            "path": event["path"],
            "resource": event["resource"],
            "httpMethod": event["httpMethod"],
            "pathParameters": event.get("pathParameters"),
            "query": event.get("queryStringParameters"),
            "body": event.get("body"),
            "stage": event["requestContext"]["stage"],
            "requestId": context.aws_request_id,
            "functionName": context.function_name,
            "remainingMs": context.get_remaining_time_in_millis(),
        }),
    }
"""

SLOT_URI = (
    "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
    f"arn:aws:lambda:{{region}}:{ACCOUNT_ID}:function:{{fn}}/invocations"
)


def slot_uri(fn: str, region: str = REGION) -> str:
    """The AWS_PROXY integration URI of function fn (a name or ${stageVariables.x}) in region."""
    return SLOT_URI.format(fn=fn, region=region)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Api:
    id: str
    name: str
    resources: dict[str, str]  # path -> resource id
    endpoint: str

    def url(self, stage: str, path: str = "/hello") -> str:
        return f"{self.endpoint}/restapis/{self.id}/{stage}/_user_request_{path}"


@pytest.fixture(scope="session")
def function_uri() -> Callable[[str], str]:
    """function_uri("name or ${stageVariables.x}") -> the AWS_PROXY integration URI for it."""
    return slot_uri


@pytest.fixture(scope="session")
def lambda_role(localcloud: Any) -> str:
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=localcloud.endpoint_url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    return iam.create_role(RoleName=unique("lambda-role"), AssumeRolePolicyDocument="{}")["Role"]["Arn"]


@pytest.fixture
def make_function(aws_client: Callable[[str], Any], lambda_role: str) -> Callable[..., str]:
    """make_function(env={...}, timeout=3, permission=True, region=REGION) -> function name."""

    def make(
        env: dict[str, str] | None = None,
        timeout: int = 3,
        permission: bool = True,
        name: str | None = None,
        source: str = HANDLER,
        region: str = REGION,
    ) -> str:
        lam = aws_client("lambda", region)
        name = name or unique("fn")
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=lambda_role,
            Handler="lambda_function.lambda_handler",
            Code={"ZipFile": zip_handler(source)},
            Timeout=timeout,
            Environment={"Variables": env or {}},
        )
        if permission:
            lam.add_permission(
                FunctionName=name,
                StatementId="apigateway-invoke",
                Action="lambda:InvokeFunction",
                Principal="apigateway.amazonaws.com",
                SourceArn=f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:*/*/*",
            )
        return name

    return make


@pytest.fixture
def make_api(aws_client: Callable[[str], Any], localcloud: Any) -> Callable[..., Api]:
    """make_api(function="${stageVariables.slot}", paths=("/hello",), timeout_ms=None, region=REGION)
    -> undeployed Api."""

    def make(
        function: str = "${stageVariables.slot}",
        paths: tuple[str, ...] = ("/hello",),
        method: str = "GET",
        timeout_ms: int | None = None,
        region: str = REGION,
    ) -> Api:
        apigw = aws_client("apigateway", region)
        name = unique("api")
        api_id = apigw.create_rest_api(name=name)["id"]
        root = next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
        resources = {"/": root}
        for path in paths:
            parent = root
            built = ""
            for part in [p for p in path.split("/") if p]:
                built += "/" + part
                if built not in resources:
                    resources[built] = apigw.create_resource(
                        restApiId=api_id, parentId=parent, pathPart=part
                    )["id"]
                parent = resources[built]
            apigw.put_method(
                restApiId=api_id, resourceId=resources[path], httpMethod=method, authorizationType="NONE"
            )
            kwargs: dict[str, Any] = {}
            if timeout_ms is not None:
                kwargs["timeoutInMillis"] = timeout_ms
            apigw.put_integration(
                restApiId=api_id,
                resourceId=resources[path],
                httpMethod=method,
                type="AWS_PROXY",
                integrationHttpMethod="POST",
                uri=slot_uri(function, region),
                **kwargs,
            )
        return Api(api_id, name, resources, localcloud.endpoint_url)

    return make


@pytest.fixture(scope="session")
def iam_cloud() -> Iterator[LocalCloudProcess]:
    """A second local cloud, with IAM enforced (`serve --enforce-iam`), for the least-privilege tests."""
    with LocalCloudProcess(metric_period=2, enforce_iam=True) as cloud:
        yield cloud
