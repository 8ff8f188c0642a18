"""Each example applied against the local cloud, checked, and destroyed."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from .conftest import record_timings
from .stack import Stack


def answer(url: str) -> dict[str, Any]:
    response = requests.get(url, timeout=15)
    assert response.status_code == 200, response.text
    return response.json()


RELEASE_HANDLER = """import json
import os


def lambda_handler(event, context):
    body = {"environment": "green", "version": os.environ["VERSION_LABEL"]}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
"""


def test_basic_example_serves_its_canary_from_a_release_deployed_to_a_slot(
    stack_factory: Callable[..., Stack],
    aws_env: dict[str, str],
    aws: Callable[[str], Any],
    tmp_path: Path,
) -> None:
    release = tmp_path / "release-v2.1.0"
    release.mkdir()
    (release / "handler.py").write_text(RELEASE_HANDLER)
    # 100% canary makes the split deterministic: every production request goes to the canary's slot, green.
    stack = stack_factory(
        "basic",
        "basic",
        {
            "name_prefix": "tft-basic",
            "canary_percent": 100,
            "green_source_dir": str(release),
            "green_version_label": "v2.1.0",
            "execute_api_endpoint": aws_env["AWS_ENDPOINT_URL"],
            "metric_period_seconds": 10,
        },
    )
    stack.init()
    stack.apply()
    outputs = stack.outputs()
    config = outputs["controller_config"]

    stage = aws("apigateway").get_stage(restApiId=config["api_id"], stageName="production")
    # Canary settings: percentTraffic and stageVariableOverrides
    # (https://docs.aws.amazon.com/apigateway/latest/api/API_CanarySettings.html).
    assert stage["canarySettings"]["percentTraffic"] == 100
    assert stage["canarySettings"]["stageVariableOverrides"] == {"slot": "green"}
    assert stage["variables"] == {"slot": "blue"}
    # The release answers with its VERSION_LABEL: proof that both inputs reached the green slot.
    expected = {"environment": "green", "version": "v2.1.0"}
    assert answer(f"{outputs['production_invoke_url']}/hello") == expected
    assert answer(f"{outputs['staging_invoke_url']}/hello") == expected
    assert config["slots"]["green"]["version_label"] == "v2.1.0"  # what the controller reports

    code, out = stack.plan_exit_code()
    assert code == 0, out
    resources = len(stack.managed_resources())
    stack.destroy()
    record_timings("example_basic", stack, {"resources": resources})
    assert stack.managed_resources() == []


def test_complete_example_wires_alarms_to_sns_a_dashboard_and_a_custom_domain_in_a_zone_it_creates(
    stack_factory: Callable[..., Stack], aws_env: dict[str, str], aws: Callable[[str], Any]
) -> None:
    # The zone is created in the same apply as the records in it: their for_each must not hang on its id.
    stack = stack_factory(
        "complete",
        "complete",
        {
            "name_prefix": "tft-complete",
            "production_stage_name": "live",
            "staging_stage_name": "preview",
            "domain_name": "api.example.test",
            "zone_name": "example.test",
            "dns_weight": 100,
            "execute_api_endpoint": aws_env["AWS_ENDPOINT_URL"],
            "metric_period_seconds": 10,
        },
    )
    stack.init()
    try:
        stack.apply()
        outputs = stack.outputs()
        config = outputs["controller_config"]
        topic = outputs["alarm_topic_arn"]
        zone_id = outputs["zone_id"]

        alarms = aws("cloudwatch").describe_alarms(
            AlarmNamePrefix="tft-complete", AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        assert alarms["MetricAlarms"] and alarms["CompositeAlarms"]
        for alarm in alarms["MetricAlarms"] + alarms["CompositeAlarms"]:
            assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]
        thresholds = {a["AlarmName"]: a["Threshold"] for a in alarms["MetricAlarms"]}
        assert thresholds["tft-complete-canary-5xx-rate"] == 2.0
        assert thresholds["tft-complete-canary-p99-latency"] == 1500.0
        assert aws("cloudwatch").get_dashboard(DashboardName=outputs["dashboard_name"])["DashboardBody"]

        apigw = aws("apigateway")
        paths = {r["path"]: r for r in apigw.get_resources(restApiId=config["api_id"])["items"]}
        assert {"/hello", "/hello/{name}", "/orders"} <= set(paths)
        orders = apigw.get_method(
            restApiId=config["api_id"], resourceId=paths["/orders"]["id"], httpMethod="POST"
        )
        assert orders["authorizationType"] == "AWS_IAM"
        assert (config["production_stage"], config["staging_stage"]) == ("live", "preview")
        assert apigw.get_rest_api(restApiId=config["api_id"])["description"].startswith("Orders API")
        settings = apigw.get_stage(restApiId=config["api_id"], stageName="live")["methodSettings"]["*/*"]
        assert (
            settings["throttlingRateLimit"],
            settings["throttlingBurstLimit"],
            settings["loggingLevel"],
            settings["metricsEnabled"],
            settings["dataTraceEnabled"],
        ) == (500.0, 1000, "ERROR", True, False)
        assert outputs["production_stage_arn"].endswith(f"/restapis/{config['api_id']}/stages/live")
        account = apigw.get_account()
        assert account["cloudwatchRoleArn"].endswith(":role/tft-complete-apigateway-cloudwatch")

        domain = apigw.get_domain_name(domainName="api.example.test")
        assert domain["securityPolicy"] == "TLS_1_2"
        mappings = apigw.get_base_path_mappings(domainName="api.example.test")["items"]
        assert [(m["restApiId"], m["stage"]) for m in mappings] == [(config["api_id"], "live")]
        records = aws("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        aliases = [
            r for r in records if r["Name"].rstrip(".") == "api.example.test" and r["Type"] in ("A", "AAAA")
        ]
        # Weighted alias records: SetIdentifier + Weight per record
        # (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy-weighted.html).
        assert sorted(r["Type"] for r in aliases) == ["A", "AAAA"]
        assert all(r["Weight"] == 100 and r["SetIdentifier"] == "tft-complete-us-east-1" for r in aliases)
        assert all("AliasTarget" in r for r in aliases)

        assert answer(f"{outputs['production_invoke_url']}/hello")["environment"] == "blue"
        assert answer(f"{outputs['staging_invoke_url']}/hello/ada")["environment"] == "green"
        json.loads(outputs["controller_iam_policy_json"])
        assert_dead_letter_queue_takes_both_slots(outputs["dlq_url"], aws)
        assert_test_commands_answer(outputs["test_commands"], aws_env)

        code, out = stack.plan_exit_code()
        assert code == 0, out
        resources = len(stack.managed_resources())
        stack.destroy()
        record_timings("example_complete", stack, {"resources": resources})
        assert stack.managed_resources() == []
        assert not apigw.get_domain_names()["items"]
        zones = aws("route53").list_hosted_zones()["HostedZones"]
        assert [z for z in zones if z["Name"] == "example.test."] == []
        assert not aws("sqs").list_queues(QueueNamePrefix="tft-complete").get("QueueUrls")
    finally:
        if stack.managed_resources():
            stack.destroy()


def assert_dead_letter_queue_takes_both_slots(queue_url: str, aws: Callable[[str], Any]) -> None:
    attributes = aws("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    # SSE-SQS and retention as queue attributes
    # (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
    assert (attributes["SqsManagedSseEnabled"], attributes["MessageRetentionPeriod"]) == ("true", "1209600")
    statements = {s["Sid"]: s for s in json.loads(attributes["Policy"])["Statement"]}
    roles = sorted(
        aws("iam").get_role(RoleName=f"tft-complete-{slot}-exec")["Role"]["Arn"] for slot in ("blue", "green")
    )
    sender = statements["SlotFunctionsSendFailedEvents"]
    assert (sender["Effect"], sender["Action"], sorted(sender["Principal"]["AWS"])) == (
        "Allow",
        "sqs:SendMessage",
        roles,
    )
    assert statements["DenyWithoutTls"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for slot in ("blue", "green"):
        # Lambda sends to the dead-letter queue with the function's execution role
        # (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq).
        function = aws("lambda").get_function_configuration(FunctionName=f"tft-complete-{slot}")
        assert function["DeadLetterConfig"]["TargetArn"] == attributes["QueueArn"]
        policy = aws("iam").get_role_policy(RoleName=f"tft-complete-{slot}-exec", PolicyName="execution")
        document = policy["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        send = {s["Sid"]: s for s in document["Statement"]}["SendToDeadLetterTarget"]
        assert (send["Action"], send["Resource"]) == ("sqs:SendMessage", attributes["QueueArn"])


def assert_test_commands_answer(commands: dict[str, Any], aws_env: dict[str, str]) -> None:
    """Every curl the example prints answers 200, the AWS_IAM route's signed with the caller's credentials."""
    env = {**os.environ, **aws_env}
    for stage in ("production", "staging"):
        assert len(commands[stage]) == 3
        for command in commands[stage]:
            done = subprocess.run(
                ["bash", "-c", f"{command} -o /dev/null -w '%{{http_code}}'"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert (done.returncode, done.stdout) == (0, "200"), (command, done.stderr)
        signed = [c for c in commands[stage] if "/orders'" in c]
        assert signed and "-X POST" in signed[0]
        assert "--aws-sigv4 'aws:amz:us-east-1:execute-api'" in signed[0]
    assert commands["status"] == "apigw-canary status --tf-dir ."


def test_alarm_period_must_be_one_cloudwatch_accepts(stack_factory: Callable[..., Stack]) -> None:
    # Alarm periods: 10, 30 or a multiple of 60 seconds
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html).
    stack = stack_factory("basic", "period", {"name_prefix": "tft-period"})
    stack.init()
    for period in (45, 90, 0):
        result = stack.run("plan", "-input=false", "-no-color", f"-var=metric_period_seconds={period}")
        assert result.returncode == 1, period
        assert "metric_period_seconds must be 10, 30 or a multiple of 60" in result.stderr, result.stderr
