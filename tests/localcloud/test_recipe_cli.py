"""The recipe's steps (shared/reference/recipe-api-gateway-deployment-strategies.md) with the AWS CLI.

Each step runs the recipe's own `aws` command against the local cloud and checks what AWS documents:
CREATE  https://docs.aws.amazon.com/apigateway/latest/developerguide/create-canary-deployment.html
UPDATE  https://docs.aws.amazon.com/apigateway/latest/developerguide/update-canary-deployment.html
DISABLE https://docs.aws.amazon.com/apigateway/latest/developerguide/delete-canary-deployment.html
CLI     https://docs.aws.amazon.com/cli/latest/reference/apigateway/create-deployment.html
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
import requests

AWS = str(Path(sys.executable).parent / "aws")

BLUE = """import json
import os

def lambda_handler(event, context):
    return {
        'statusCode': 200,
        'headers': {'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*'},
        'body': json.dumps({'message': 'Hello from Blue environment!', 'version': 'v1.0.0',
                            'environment': 'blue', 'timestamp': context.aws_request_id})
    }
"""
GREEN = BLUE.replace("Blue", "Green").replace("v1.0.0", "v2.0.0").replace("'blue'", "'green'")


@pytest.fixture
def aws(aws_env, tmp_path):
    if not os.path.exists(AWS):
        pytest.skip("the AWS CLI (awscli from PyPI) is not installed in the venv")
    env = dict(os.environ, **aws_env, AWS_PAGER="", AWS_MAX_ATTEMPTS="1")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [AWS, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {result.stderr}")
        return result

    return run


def _zip(path: Path, name: str, source: str) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, source)


def production_metric_total(aws, api_name: str, metric: str, statistic: str) -> str:
    """The recipe's validation step 4: a production-stage metric over all time, summed by the CLI's query."""
    return aws(
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "AWS/ApiGateway",
        "--metric-name",
        metric,
        "--dimensions",
        f"Name=ApiName,Value={api_name}",
        "Name=Stage,Value=production",
        "--start-time",
        "2000-01-01T00:00:00",
        "--end-time",
        "2100-01-01T00:00:00",
        "--period",
        "300",
        "--statistics",
        statistic,
        "--query",
        f"sum(Datapoints[].{statistic})",
    ).stdout


def test_recipe_steps_with_the_aws_cli(aws, tmp_path, localcloud):
    suffix = uuid.uuid4().hex[:6]
    api_name, blue, green = f"advanced-deployment-api-{suffix}", f"blue-{suffix}", f"green-{suffix}"
    role = json.loads(
        aws(
            "iam",
            "create-role",
            "--role-name",
            f"role-{suffix}",
            "--assume-role-policy-document",
            '{"Version":"2012-10-17","Statement":[]}',
        ).stdout
    )["Role"]["Arn"]
    # Step 1: Lambda functions from zips.
    for fn, src, filename in ((blue, BLUE, "blue-function.py"), (green, GREEN, "green-function.py")):
        _zip(tmp_path / f"{fn}.zip", filename, src)
        aws(
            "lambda",
            "create-function",
            "--function-name",
            fn,
            "--runtime",
            "python3.12",
            "--role",
            role,
            "--handler",
            filename.replace(".py", ".lambda_handler"),
            "--zip-file",
            f"fileb://{fn}.zip",
        )
    blue_arn = aws(
        "lambda",
        "get-function",
        "--function-name",
        blue,
        "--query",
        "Configuration.FunctionArn",
        "--output",
        "text",
    ).stdout.strip()
    green_arn = aws(
        "lambda",
        "get-function",
        "--function-name",
        green,
        "--query",
        "Configuration.FunctionArn",
        "--output",
        "text",
    ).stdout.strip()
    # Step 2: REST API, /hello, GET, AWS_PROXY integration on blue, permission.
    api_id = aws(
        "apigateway", "create-rest-api", "--name", api_name, "--query", "id", "--output", "text"
    ).stdout.strip()
    root = aws(
        "apigateway",
        "get-resources",
        "--rest-api-id",
        api_id,
        "--query",
        "items[?path==`/`].id",
        "--output",
        "text",
    ).stdout.strip()
    hello = aws(
        "apigateway",
        "create-resource",
        "--rest-api-id",
        api_id,
        "--parent-id",
        root,
        "--path-part",
        "hello",
        "--query",
        "id",
        "--output",
        "text",
    ).stdout.strip()
    aws(
        "apigateway",
        "put-method",
        "--rest-api-id",
        api_id,
        "--resource-id",
        hello,
        "--http-method",
        "GET",
        "--authorization-type",
        "NONE",
    )
    uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{}/invocations"
    aws(
        "apigateway",
        "put-integration",
        "--rest-api-id",
        api_id,
        "--resource-id",
        hello,
        "--http-method",
        "GET",
        "--type",
        "AWS_PROXY",
        "--integration-http-method",
        "POST",
        "--uri",
        uri.format(blue_arn),
    )
    source_arn = f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/*"
    for fn in (blue, green):
        aws(
            "lambda",
            "add-permission",
            "--function-name",
            fn,
            "--statement-id",
            f"apigw-{fn}",
            "--action",
            "lambda:InvokeFunction",
            "--principal",
            "apigateway.amazonaws.com",
            "--source-arn",
            source_arn,
        )
    # Step 3: production stage + settings, staging stage.
    blue_deployment = aws(
        "apigateway",
        "create-deployment",
        "--rest-api-id",
        api_id,
        "--stage-name",
        "production",
        "--stage-description",
        "Production stage",
        "--description",
        "Initial Blue deployment",
        "--query",
        "id",
        "--output",
        "text",
    ).stdout.strip()
    aws(
        "apigateway",
        "update-stage",
        "--rest-api-id",
        api_id,
        "--stage-name",
        "production",
        "--patch-operations",
        "op=replace,path=/cacheClusterEnabled,value=false",
        "op=replace,path=/tracingEnabled,value=true",
        "op=replace,path=/*/*/throttling/rateLimit,value=1000",
        "op=replace,path=/*/*/throttling/burstLimit,value=2000",
        "op=replace,path=/*/*/logging/loglevel,value=INFO",
        "op=replace,path=/*/*/metrics/enabled,value=true",
    )
    aws("apigateway", "create-deployment", "--rest-api-id", api_id, "--stage-name", "staging")
    # Step 4: integration -> green, redeploy staging.
    aws(
        "apigateway",
        "update-integration",
        "--rest-api-id",
        api_id,
        "--resource-id",
        hello,
        "--http-method",
        "GET",
        "--patch-operations",
        f"op=replace,path=/uri,value={uri.format(green_arn)}",
    )
    green_deployment = aws(
        "apigateway",
        "create-deployment",
        "--rest-api-id",
        api_id,
        "--stage-name",
        "staging",
        "--description",
        "Updated Green deployment",
        "--query",
        "id",
        "--output",
        "text",
    ).stdout.strip()
    base = f"{localcloud.endpoint_url}/restapis/{api_id}"
    with requests.Session() as http:
        # Validation 1 and 2: production serves blue, staging serves green.
        assert http.get(f"{base}/production/_user_request_/hello").json()["environment"] == "blue"
        assert http.get(f"{base}/staging/_user_request_/hello").json()["environment"] == "green"

        # Step 5 as written passes "deploymentId" inside --canary-settings, which CreateDeployment's
        # DeploymentCanarySettings does not have (CLI): the CLI rejects it before sending anything.
        rejected = aws(
            "apigateway",
            "create-deployment",
            "--rest-api-id",
            api_id,
            "--stage-name",
            "production",
            "--canary-settings",
            json.dumps({"percentTraffic": 10, "deploymentId": green_deployment}),
            check=False,
        )
        assert rejected.returncode != 0 and "deploymentId" in rejected.stderr
        canary_deployment = aws(
            "apigateway",
            "create-deployment",
            "--rest-api-id",
            api_id,
            "--stage-name",
            "production",
            "--description",
            "Canary deployment - 10% Green traffic",
            "--canary-settings",
            json.dumps(
                {
                    "percentTraffic": 10,
                    "stageVariableOverrides": {"environment": "canary"},
                    "useStageCache": False,
                }
            ),
            "--query",
            "id",
            "--output",
            "text",
        ).stdout.strip()
        canary = json.loads(
            aws(
                "apigateway",
                "get-stage",
                "--rest-api-id",
                api_id,
                "--stage-name",
                "production",
                "--query",
                "canarySettings",
                "--output",
                "json",
            ).stdout
        )
        # CREATE: the stage keeps its deployment; the canary gets the new one.
        assert canary == {
            "percentTraffic": 10.0,
            "deploymentId": canary_deployment,
            "useStageCache": False,
            "stageVariableOverrides": {"environment": "canary"},
        }
        stage = json.loads(
            aws("apigateway", "get-stage", "--rest-api-id", api_id, "--stage-name", "production").stdout
        )
        assert stage["deploymentId"] == blue_deployment
        # Validation 3: roughly 10% green.
        seen = collections.Counter(
            http.get(f"{base}/production/_user_request_/hello").json()["environment"] for _ in range(300)
        )
        assert 10 <= seen["green"] <= 60, seen

        # Step 6: alarms.
        for metric, threshold in (("4XXError", "10"), ("5XXError", "5")):
            aws(
                "cloudwatch",
                "put-metric-alarm",
                "--alarm-name",
                f"{api_name}-{metric}",
                "--metric-name",
                metric,
                "--namespace",
                "AWS/ApiGateway",
                "--statistic",
                "Sum",
                "--period",
                "300",
                "--threshold",
                threshold,
                "--comparison-operator",
                "GreaterThanThreshold",
                "--evaluation-periods",
                "1",
                "--dimensions",
                f"Name=ApiName,Value={api_name}",
                "Name=Stage,Value=production",
            )
        names = json.loads(
            aws(
                "cloudwatch",
                "describe-alarms",
                "--alarm-name-prefix",
                api_name,
                "--query",
                "MetricAlarms[].AlarmName",
            ).stdout
        )
        assert len(names) == 2

        # Step 7: shift to 25%, read 5XXError Sum like the recipe, roll back by removing canarySettings.
        aws(
            "apigateway",
            "update-stage",
            "--rest-api-id",
            api_id,
            "--stage-name",
            "production",
            "--patch-operations",
            "op=replace,path=/canarySettings/percentTraffic,value=25",
        )
        assert (
            json.loads(
                aws(
                    "apigateway",
                    "get-stage",
                    "--rest-api-id",
                    api_id,
                    "--stage-name",
                    "production",
                    "--query",
                    "canarySettings.percentTraffic",
                ).stdout
            )
            == 25.0
        )
        count = production_metric_total(aws, api_name, "Count", "SampleCount")
        assert float(count) == 301.0  # 1 + 300 requests to production
        errors = production_metric_total(aws, api_name, "5XXError", "Sum")
        assert float(errors) == 0.0
        rolled_back = json.loads(
            aws(
                "apigateway",
                "update-stage",
                "--rest-api-id",
                api_id,
                "--stage-name",
                "production",
                "--patch-operations",
                "op=remove,path=/canarySettings",
            ).stdout
        )
        # DISABLE: canarySettings is no longer present; all traffic on the stage's deployment.
        assert "canarySettings" not in rolled_back
        assert all(
            http.get(f"{base}/production/_user_request_/hello").json()["environment"] == "blue"
            for _ in range(20)
        )

        # Step 8: promote green: replace /deploymentId and remove /canarySettings in one call.
        aws(
            "apigateway",
            "update-stage",
            "--rest-api-id",
            api_id,
            "--stage-name",
            "production",
            "--patch-operations",
            f"op=replace,path=/deploymentId,value={green_deployment}",
            "op=remove,path=/canarySettings",
        )
        assert http.get(f"{base}/production/_user_request_/hello").json()["environment"] == "green"

    # Cleanup commands of the recipe work too.
    aws("cloudwatch", "delete-alarms", "--alarm-names", *names)
    aws("apigateway", "delete-rest-api", "--rest-api-id", api_id)
    for fn in (blue, green):
        aws("lambda", "delete-function", "--function-name", fn)
