"""Fleets of stacks for the controller, built with boto3 the way the root module builds one (no Terraform).

Applying the root module 20 or 50 times would itself spend API Gateway's control-plane quotas for many
minutes, so the fleet benchmark (`python -m bench --only fleet`) and the fleet and multi-region end-to-end
tests (tests/e2e/test_waves_e2e.py) build each stack directly: a blue and a green Lambda function, a REST API
with `GET /hello` as an AWS_PROXY integration to `<prefix>-${stageVariables.slot}`, the invoke permissions,
one deployment, `production` (slot blue) and `staging` (slot green) stages, one canary 5XX alarm, and the
stack's `controller_config` written to `<dir>/<prefix>.json` as `terraform output -json` would write it.
Every call is paced with the controller's pacer (controller/aws/pacing.py), so building never trips the
quotas either. `release()` puts new code in a slot, as `terraform apply` with a new source dir does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config

from controller.aws import pacing
from localcloud.testing import zip_handler

ACCOUNT = "123456789012"  # the local cloud's account
ROLE_NAME = "apigw-canary-fleet-lambda"
HANDLER = """import json

def lambda_handler(event, context):
    body = {{"environment": "{slot}", "version": "{version}"}}
    return {{"statusCode": 200, "headers": {{"Content-Type": "application/json"}}, "body": json.dumps(body)}}
"""


@dataclass
class FleetStack:
    prefix: str
    region: str
    api_id: str
    outputs: Path  # the saved `terraform output -json`
    config: dict[str, Any]

    @property
    def production_url(self) -> str:
        return str(self.config["invoke_urls"]["production"]) + "/hello"

    @property
    def staging_url(self) -> str:
        return str(self.config["invoke_urls"]["staging"]) + "/hello"

    def function(self, slot: str) -> str:
        return str(self.config["slots"][slot]["function_name"])


class FleetBuilder:
    """Builds stacks on the local cloud at `endpoint_url` (any region), pacing its calls."""

    def __init__(
        self, endpoint_url: str, out_dir: Path, metric_period_s: int, alarm_period_s: int = 10
    ) -> None:
        self.endpoint_url = endpoint_url
        self.out_dir = Path(out_dir)
        self.metric_period_s = metric_period_s
        self.alarm_period_s = alarm_period_s
        self.session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test")
        self._clients: dict[tuple[str, str], Any] = {}
        self._role_arn: str | None = None

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            config = Config(retries={"mode": "standard", "max_attempts": 8}, read_timeout=60)
            client = self.session.client(
                service, region_name=region, endpoint_url=self.endpoint_url, config=config
            )
            pacing.attach(client, ACCOUNT, region)
            self._clients[key] = client
        return self._clients[key]

    def _role(self) -> str:
        if self._role_arn is None:
            iam = self.client("iam", "us-east-1")
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            try:
                self._role_arn = iam.create_role(
                    RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust)
                )["Role"]["Arn"]
            except iam.exceptions.EntityAlreadyExistsException:
                self._role_arn = iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
        return self._role_arn

    def build(self, prefix: str, region: str, versions: tuple[str, str] = ("v1", "v2")) -> FleetStack:
        lam, apigw = self.client("lambda", region), self.client("apigateway", region)
        functions = {}
        for slot, version in zip(("blue", "green"), versions, strict=True):
            name = f"{prefix}-{slot}"
            functions[slot] = lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=self._role(),
                Handler="lambda_function.lambda_handler",
                Code={"ZipFile": zip_handler(HANDLER.format(slot=slot, version=version))},
                Timeout=10,
            )["FunctionArn"]
        api_id = apigw.create_rest_api(name=prefix, endpointConfiguration={"types": ["REGIONAL"]})["id"]
        root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
        resource = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="hello")["id"]
        apigw.put_method(restApiId=api_id, resourceId=resource, httpMethod="GET", authorizationType="NONE")
        function_arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{prefix}-${{stageVariables.slot}}"
        apigw.put_integration(
            restApiId=api_id,
            resourceId=resource,
            httpMethod="GET",
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations",
        )
        for slot in functions:
            lam.add_permission(
                FunctionName=f"{prefix}-{slot}",
                StatementId="apigateway-invoke",
                Action="lambda:InvokeFunction",
                Principal="apigateway.amazonaws.com",
                SourceArn=f"arn:aws:execute-api:{region}:{ACCOUNT}:{api_id}/*/GET/hello",
            )
        deployment = apigw.create_deployment(restApiId=api_id, description="fleet initial")["id"]
        for stage, slot in (("production", "blue"), ("staging", "green")):
            apigw.create_stage(
                restApiId=api_id, stageName=stage, deploymentId=deployment, variables={"slot": slot}
            )
        alarm = f"{prefix}-canary-5xx"
        self.client("cloudwatch", region).put_metric_alarm(
            AlarmName=alarm,
            Namespace="AWS/ApiGateway",
            MetricName="5XXError",
            Dimensions=[
                {"Name": "ApiName", "Value": prefix},
                {"Name": "Stage", "Value": "production/Canary"},
            ],
            Statistic="Sum",
            Period=self.alarm_period_s,
            EvaluationPeriods=1,
            Threshold=5,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        )
        config = self._config(prefix, region, api_id, functions, versions, alarm)
        stack = FleetStack(prefix, region, api_id, self.out_dir / f"{prefix}.json", config)
        self._save(stack)
        return stack

    def _config(
        self,
        prefix: str,
        region: str,
        api_id: str,
        functions: dict[str, str],
        versions: tuple[str, str],
        alarm: str,
    ) -> dict[str, Any]:
        base = f"{self.endpoint_url}/restapis/{api_id}"
        return {
            "schema_version": 1,
            "region": region,
            "api_id": api_id,
            "api_name": prefix,
            "production_stage": "production",
            "staging_stage": "staging",
            "invoke_urls": {
                "production": f"{base}/production/_user_request_",
                "staging": f"{base}/staging/_user_request_",
            },
            "routes": [{"path": "/hello", "method": "GET"}],
            "slot_variable": "slot",
            "slots": {
                slot: {"function_name": f"{prefix}-{slot}", "function_arn": arn, "version_label": version}
                for (slot, arn), version in zip(functions.items(), versions, strict=True)
            },
            "alarm_names": [alarm],
            "rollback_alarm_name": None,
            "metrics": {
                "namespace": "AWS/ApiGateway",
                "api_name": prefix,
                "period_seconds": self.metric_period_s,
            },
        }

    def _save(self, stack: FleetStack) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stack.outputs.write_text(json.dumps({"controller_config": {"value": stack.config}}, indent=2))

    def release(self, stack: FleetStack, slot: str, version: str) -> None:
        """New code in `slot` (the idle one, normally), and its version label in the saved outputs."""
        code = zip_handler(HANDLER.format(slot=slot, version=version))
        self.client("lambda", stack.region).update_function_code(
            FunctionName=stack.function(slot), ZipFile=code
        )
        stack.config["slots"][slot]["version_label"] = version
        self._save(stack)


class Served(Protocol):
    """A stack's URLs (a FleetStack, or any stack a test reads from Terraform's outputs)."""

    @property
    def production_url(self) -> str: ...

    @property
    def staging_url(self) -> str: ...


class FleetTraffic:
    """Light traffic on each stack: its clients on production, and a smoke test on staging that keeps the
    candidate's worker warm (in a period of a few requests a cold start is a good share of them, more than
    the gate's p50 there can look past). Loopback only (demo/traffic.py refuses anything else)."""

    def __init__(self, stacks: Sequence[Served], rate_per_s: float, staging_rate_per_s: float = 1.0) -> None:
        from demo.traffic import TrafficGenerator

        self.production = [TrafficGenerator(s.production_url, rate_per_s, workers=1) for s in stacks]
        self.staging = [TrafficGenerator(s.staging_url, staging_rate_per_s, workers=1) for s in stacks]
        self._marks: list[Any] = []

    def __enter__(self) -> FleetTraffic:
        for generator in (*self.production, *self.staging):
            generator.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for generator in (*self.production, *self.staging):
            generator.stop()

    def mark(self) -> None:
        self._marks = [g.snapshot() for g in self.production]

    def since_mark(self) -> tuple[int, int, int]:
        """Production requests answered, 5XX answers and requests without an answer since `mark()`."""
        served = [g.snapshot().since(before) for g, before in zip(self.production, self._marks, strict=True)]
        answered = sum(s.requests for s in served)
        errors = sum(v.errors_5xx for s in served for v in s.by_version.values())
        return answered, errors, sum(s.failed for s in served)
