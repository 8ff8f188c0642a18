"""The demo's traffic generator and faulty release through the local cloud's execute-api data plane."""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from pathlib import Path

from demo.run import FAULTY_RELEASE, FAULTY_VERSION
from demo.traffic import TrafficGenerator

REGION = "us-east-1"


def _zip(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in directory.glob("*.py"):
            archive.write(path, path.name)
    return buffer.getvalue()


def _stage_url(aws_client, endpoint: str, prefix: str) -> str:
    """A one-route REST API whose production stage invokes `{prefix}-blue` (the faulty build)."""
    lam, apigw, iam = aws_client("lambda"), aws_client("apigateway"), aws_client("iam")
    role = iam.create_role(RoleName=f"{prefix}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    function = f"{prefix}-blue"
    lam.create_function(
        FunctionName=function,
        Runtime="python3.12",
        Role=role,
        Handler="handler.lambda_handler",
        Code={"ZipFile": _zip(FAULTY_RELEASE)},
        Environment={"Variables": {"FAULTY_EXTRA_LATENCY_MS": "20"}},
    )
    # API Gateway needs a resource policy statement to invoke the function:
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
    lam.add_permission(
        FunctionName=function,
        StatementId="apigateway",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
    )
    api = apigw.create_rest_api(name=prefix)["id"]
    root = next(r["id"] for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/")
    resource = apigw.create_resource(restApiId=api, parentId=root, pathPart="hello")["id"]
    apigw.put_method(restApiId=api, resourceId=resource, httpMethod="GET", authorizationType="NONE")
    arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function}"
    apigw.put_integration(
        restApiId=api,
        resourceId=resource,
        httpMethod="GET",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations",
    )
    apigw.create_deployment(restApiId=api, stageName="production")
    return f"{endpoint}/restapis/{api}/production/_user_request_/hello"


def test_the_faulty_releases_errors_reach_the_client_charged_to_its_version(aws_client, localcloud):
    url = _stage_url(aws_client, localcloud.endpoint_url, f"demo-{uuid.uuid4().hex[:8]}")
    gen = TrafficGenerator(url, rate_per_s=40, workers=4, timeout_s=5).start()
    try:
        deadline = time.monotonic() + 30
        while gen.snapshot().requests < 60:
            assert time.monotonic() < deadline, f"too little traffic got through: {gen.snapshot()}"
            time.sleep(0.1)
    finally:
        assert gen.stop() is True
    faulty = gen.snapshot().by_version[f"blue {FAULTY_VERSION}"]
    # A proxy integration passes the function's status code and body through:
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-output-format
    assert 0 < faulty.errors_5xx < faulty.requests
    assert faulty.p99_ms is not None and faulty.p99_ms >= 20 * 0.6
    assert set(gen.snapshot().by_version) == {f"blue {FAULTY_VERSION}"}
