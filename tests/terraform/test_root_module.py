"""The root module applied once against the local cloud, then inspected with boto3, driven like the controller
drives it, changed, and destroyed."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import record_timings
from .stack import REPO, TERRAFORM, Stack

PREFIX = "tft-root"
EXTRA_ALARM = "payments-errors"  # an alarm the team already has, given to the module as a rollback alarm
ROUTES = [{"path": "/hello", "method": "GET"}]
CONFIG_KEYS = {
    "schema_version",
    "region",
    "api_id",
    "api_name",
    "production_stage",
    "staging_stage",
    "invoke_urls",
    "routes",
    "slot_variable",
    "slots",
    "alarm_names",
    "rollback_alarm_name",
    "metrics",
}


@pytest.fixture(scope="module")
def root(
    stack_factory: Callable[..., Stack],
    aws_env: dict[str, str],
    aws: Callable[[str], Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    build_dir = tmp_path_factory.mktemp("lambda-build")
    # The team's own alarm exists before the module is applied; the module only names it.
    aws("cloudwatch").put_metric_alarm(
        AlarmName=EXTRA_ALARM,
        Namespace="Payments",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    stack = stack_factory(
        "root",
        PREFIX,
        {
            "name_prefix": PREFIX,
            "execute_api_endpoint": aws_env["AWS_ENDPOINT_URL"],
            "metric_period_seconds": 10,
            "lambda_build_dir": str(build_dir),
            "routes": ROUTES,
            "extra_rollback_alarm_names": [EXTRA_ALARM],
        },
    )
    stack.init()
    stack.apply()
    stack.build_dir = build_dir  # type: ignore[attr-defined]
    record_timings("root_module", stack, {"resources": len(stack.managed_resources())})
    yield stack


@pytest.fixture(scope="module")
def outputs(root: Stack) -> dict[str, Any]:
    return root.outputs()


@pytest.fixture(scope="module")
def config(outputs: dict[str, Any]) -> dict[str, Any]:
    return outputs["controller_config"]


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    response = requests.get(url, timeout=15)
    return response.status_code, response.json()


# --- what was created ---------------------------------------------------------------------------------------


def test_controller_config_has_every_field_of_the_contract(config: dict[str, Any]) -> None:
    assert set(config) >= CONFIG_KEYS
    assert config["schema_version"] == 1
    assert config["region"] == "us-east-1"
    assert config["api_name"] == PREFIX
    assert (config["production_stage"], config["staging_stage"]) == ("production", "staging")
    assert config["slot_variable"] == "slot"
    assert config["routes"] == [{"path": "/hello", "method": "GET"}]
    assert config["slots"]["blue"]["function_name"] == f"{PREFIX}-blue"
    assert config["slots"]["green"]["function_name"] == f"{PREFIX}-green"
    assert (config["slots"]["blue"]["version_label"], config["slots"]["green"]["version_label"]) == (
        "v1.0.0",
        "v2.0.0",
    )
    assert config["metrics"]["namespace"] == "AWS/ApiGateway"
    assert config["metrics"]["period_seconds"] == 10
    assert config["rollback_alarm_name"] == f"{PREFIX}-rollback"
    for stage in ("production", "staging"):
        assert config["invoke_urls"][stage].endswith(f"/restapis/{config['api_id']}/{stage}/_user_request_")


def test_controller_config_carries_only_what_the_controller_reads(config: dict[str, Any]) -> None:
    # Every key is one controller/config.py parses; nothing for it to ignore.
    assert set(config) == CONFIG_KEYS | {"canary_stage_variable_overrides"}
    assert set(config["metrics"]) == {"namespace", "api_name", "period_seconds"}


def test_the_controller_reads_the_terraform_outputs_as_they_are(root: Stack) -> None:
    # The seam itself: the controller's own parser, fed `terraform output -json` of this apply.
    from controller.config import parse_config

    document = root.run("output", "-json").stdout
    parsed = parse_config(document, "terraform output -json")
    assert parsed.production_stage == "production" and parsed.slot_variable == "slot"
    assert {s.name: s.version_label for s in parsed.slots} == {"blue": "v1.0.0", "green": "v2.0.0"}
    assert parsed.rollback_alarm_name == f"{PREFIX}-rollback"


def test_slot_functions_run_python312_with_the_packaged_sources(
    root: Stack, config: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    for slot, label in (("blue", "v1.0.0"), ("green", "v2.0.0")):
        fn = aws("lambda").get_function(FunctionName=f"{PREFIX}-{slot}")["Configuration"]
        assert fn["FunctionArn"] == config["slots"][slot]["function_arn"]
        assert (fn["Runtime"], fn["Handler"]) == ("python3.12", "handler.lambda_handler")
        assert fn["Environment"]["Variables"]["VERSION_LABEL"] == label
        assert fn["TracingConfig"]["Mode"] == "Active"
        # CodeSha256 is the base64 SHA-256 of the uploaded zip
        # (https://docs.aws.amazon.com/lambda/latest/api/API_FunctionConfiguration.html).
        [package] = Path(root.build_dir).glob(f"{PREFIX}-{slot}-*.zip")  # type: ignore[attr-defined]
        data = package.read_bytes()
        assert fn["CodeSha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.namelist() == ["handler.py"]
            assert archive.read("handler.py") == (REPO / "lambda" / slot / "handler.py").read_bytes()


def test_slot_roles_grant_logging_to_their_own_log_group_and_tracing_only(aws: Callable[[str], Any]) -> None:
    iam = aws("iam")
    for slot in ("blue", "green"):
        role = f"{PREFIX}-{slot}-exec"
        policy = iam.get_role_policy(RoleName=role, PolicyName="execution")["PolicyDocument"]
        if isinstance(policy, str):
            policy = json.loads(policy)
        statements = {s["Sid"]: s for s in policy["Statement"]}
        assert set(statements) == {"WriteOwnLogs", "WriteTraces"}  # no VPC, DLQ or KMS statements
        assert set(statements["WriteOwnLogs"]["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
        assert statements["WriteOwnLogs"]["Resource"].endswith(f":log-group:/aws/lambda/{PREFIX}-{slot}:*")
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        groups = aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{PREFIX}-{slot}")[
            "logGroups"
        ]
        assert groups[0]["retentionInDays"] == 30


def test_hello_get_is_a_lambda_proxy_integration_selected_by_the_slot_variable(
    config: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    apigw = aws("apigateway")
    resources = {r["path"]: r for r in apigw.get_resources(restApiId=config["api_id"])["items"]}
    assert set(resources) == {"/", "/hello"}
    assert set(resources["/hello"]["resourceMethods"]) == {"GET"}
    integration = apigw.get_integration(
        restApiId=config["api_id"], resourceId=resources["/hello"]["id"], httpMethod="GET"
    )
    # Lambda proxy integrations are invoked with POST
    # (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html).
    assert (integration["type"], integration["httpMethod"]) == ("AWS_PROXY", "POST")
    assert integration["uri"] == (
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:"
        f"function:{PREFIX}-${{stageVariables.slot}}/invocations"
    )


def test_stages_start_with_blue_live_and_green_in_staging_with_logging_metrics_and_throttling(
    config: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    apigw = aws("apigateway")
    for stage, slot in (("production", "blue"), ("staging", "green")):
        got = apigw.get_stage(restApiId=config["api_id"], stageName=stage)
        assert got["variables"] == {"slot": slot}
        assert got["tracingEnabled"] is True
        assert got["accessLogSettings"]["destinationArn"].endswith(
            f":log-group:/aws/apigateway/{PREFIX}/access"
        )
        assert json.loads(got["accessLogSettings"]["format"])["requestId"] == "$context.requestId"
        settings = got["methodSettings"]["*/*"]
        assert settings["metricsEnabled"] is True
        assert settings["loggingLevel"] == "INFO"
        assert settings["dataTraceEnabled"] is False
        assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (1000.0, 2000)
        assert "canarySettings" not in got


def test_both_slots_may_be_invoked_only_by_this_api_on_its_routes(
    config: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    for slot in ("blue", "green"):
        policy = json.loads(aws("lambda").get_policy(FunctionName=f"{PREFIX}-{slot}")["Policy"])
        [statement] = policy["Statement"]
        assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
        assert statement["Action"] == "lambda:InvokeFunction"
        # execute-api ARN: arn:aws:execute-api:region:account:api-id/stage/METHOD/path
        # (https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html).
        assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
            f"arn:aws:execute-api:us-east-1:123456789012:{config['api_id']}/*/GET/hello"
        )


def test_alarms_watch_error_rates_latency_and_both_slots(
    config: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    cw = aws("cloudwatch")
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]}
    assert set(alarms) == set(config["alarm_names"]) - {EXTRA_ALARM}
    assert len(alarms) == 13  # 3 targets x (5xx, 4xx, p99) + 2 slots x (errors, throttles)

    canary_5xx = alarms[f"{PREFIX}-canary-5xx-rate"]
    queries = {q["Id"]: q for q in canary_5xx["Metrics"]}
    assert queries["rate"]["Expression"] == "100 * FILL(errors, 0) / requests"
    assert queries["rate"]["ReturnData"] is True
    for query_id, metric_name in (("errors", "5XXError"), ("requests", "Count")):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"]["MetricName"] == metric_name
        assert stat["Metric"]["Namespace"] == "AWS/ApiGateway"
        # Canary metrics carry Stage "<stage>/Canary"
        # (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html).
        assert {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]} == {
            "ApiName": PREFIX,
            "Stage": "production/Canary",
        }
        assert (stat["Stat"], stat["Period"]) == ("Sum", 10)
    assert canary_5xx["Threshold"] == 5.0
    assert canary_5xx["TreatMissingData"] == "notBreaching"

    latency = alarms[f"{PREFIX}-production-p99-latency"]
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == (
        "Latency",
        "p99",
        2000.0,
    )
    assert {d["Name"]: d["Value"] for d in latency["Dimensions"]} == {
        "ApiName": PREFIX,
        "Stage": "production",
    }

    errors = alarms[f"{PREFIX}-green-lambda-errors"]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": f"{PREFIX}-green"}]

    [composite] = cw.describe_alarms(
        AlarmNames=[config["rollback_alarm_name"]], AlarmTypes=["CompositeAlarm"]
    )["CompositeAlarms"]
    for member in (
        f"{PREFIX}-canary-5xx-rate",
        f"{PREFIX}-canary-p99-latency",
        f"{PREFIX}-blue-lambda-errors",
    ):
        assert f'ALARM("{member}")' in composite["AlarmRule"]
    assert f"{PREFIX}-production-5xx-rate" not in composite["AlarmRule"]


def test_dashboard_shows_both_slots(aws: Callable[[str], Any]) -> None:
    body = json.loads(aws("cloudwatch").get_dashboard(DashboardName=f"{PREFIX}-rollout")["DashboardBody"])
    text = json.dumps(body)
    assert f"{PREFIX}-blue" in text and f"{PREFIX}-green" in text and "production/Canary" in text


def test_controller_policy_patches_only_this_apis_stages(
    outputs: dict[str, Any], config: dict[str, Any]
) -> None:
    policy = json.loads(outputs["controller_iam_policy_json"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    api = f"arn:aws:apigateway:us-east-1::/restapis/{config['api_id']}"
    assert by_sid["ShiftPromoteRollBack"]["Action"] == "apigateway:PATCH"
    assert sorted(by_sid["ShiftPromoteRollBack"]["Resource"]) == [
        f"{api}/stages/production",
        f"{api}/stages/staging",
    ]
    assert all(
        not a.startswith(("lambda:Update", "iam:"))
        for s in policy["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    # The only deletions allowed are of this API's deployments (the controller's unused release snapshots).
    deletes = [s for s in policy["Statement"] if "apigateway:DELETE" in str(s["Action"])]
    assert [s["Resource"] for s in deletes] == [f"{api}/deployments/*"]
    alarm_resources = by_sid["ReadAlarms"]["Resource"]
    assert f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{PREFIX}-rollback" in alarm_resources
    # An extra rollback alarm is watched by the controller, so its policy may read it (and only read it).
    assert f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{EXTRA_ALARM}" in alarm_resources
    assert EXTRA_ALARM in config["alarm_names"]


def test_outputs_name_what_users_wire_their_own_resources_to(
    outputs: dict[str, Any], config: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    stack = outputs["stack"]
    api = f"arn:aws:apigateway:us-east-1::/restapis/{config['api_id']}"
    # API and stage ARNs (https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html);
    # a stage's is what a WAF web ACL association takes
    # (https://docs.aws.amazon.com/waf/latest/APIReference/API_AssociateWebACL.html).
    assert stack["rest_api_arn"] == api
    assert stack["production_stage_arn"] == f"{api}/stages/production"
    assert stack["staging_stage_arn"] == f"{api}/stages/staging"
    iam = aws("iam")
    for slot in ("blue", "green"):
        fn = aws("lambda").get_function_configuration(FunctionName=f"{PREFIX}-{slot}")
        assert stack["function_arns"][slot] == fn["FunctionArn"]
        # The URI an AWS_PROXY integration invokes the function with
        # (https://docs.aws.amazon.com/apigateway/latest/api/API_Integration.html, uri).
        assert stack["function_invoke_arns"][slot] == (
            f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn['FunctionArn']}/invocations"
        )
        role = iam.get_role(RoleName=stack["function_role_names"][slot])["Role"]
        assert role["Arn"] == fn["Role"] == stack["function_role_arns"][slot]
    assert (stack["region"], stack["account_id"]) == ("us-east-1", "123456789012")
    assert stack["dashboard_url"] == (
        f"https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name={PREFIX}-rollout"
    )
    assert (stack["dead_letter_target_arn"], stack["dlq_url"]) == (None, None)


def test_the_test_commands_run_as_printed(root: Stack, outputs: dict[str, Any]) -> None:
    commands = outputs["stack"]["test_commands"]
    for stage, slot in (("production", "blue"), ("staging", "green")):
        [command] = commands[stage]
        assert command.startswith("curl -sS '") and command.endswith("/hello'")
        done = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, timeout=30, check=False
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["environment"] == slot
    # The controller's commands, from the directory terraform runs in, with the console script on PATH.
    env = {
        **root.env,
        "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "TERRAFORM": str(TERRAFORM),
    }
    for name in ("status", "shift_dry_run"):
        done = subprocess.run(
            ["bash", "-c", f"{commands[name]} --json"],
            cwd=root.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        events = [json.loads(line)["event"] for line in done.stdout.splitlines()]
        assert events and "error" not in events, done.stdout


# --- traffic ------------------------------------------------------------------------------------------------


def test_production_answers_blue_and_staging_answers_green(config: dict[str, Any]) -> None:
    status, body = get_json(f"{config['invoke_urls']['production']}/hello")
    assert status == 200
    assert (body["environment"], body["version"]) == ("blue", "v1.0.0")
    status, body = get_json(f"{config['invoke_urls']['staging']}/hello")
    assert status == 200
    assert (body["environment"], body["version"], body["new_feature"]) == (
        "green",
        "v2.0.0",
        "Enhanced response format",
    )


# --- the controller changes the stages; Terraform must not want them back -----------------------------------


def test_plan_is_empty_after_apply(root: Stack) -> None:
    code, out = root.plan_exit_code()
    assert code == 0, out


def test_plan_is_empty_after_a_controller_style_canary_shift(
    root: Stack, config: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    apigw = aws("apigateway")
    # As the controller does: a snapshot of the definition of its own (CreateDeployment without a stage,
    # described as the controller's), a canary on production with it and the candidate slot, and its lease
    # variable (https://docs.aws.amazon.com/apigateway/latest/developerguide/canary-release.html,
    # https://docs.aws.amazon.com/apigateway/latest/api/API_CreateDeployment.html).
    description = f"apigw-canary green {config['slots']['green']['version_label']} 2026-01-01T00:00:00Z"
    snapshot = apigw.create_deployment(restApiId=config["api_id"], description=description)["id"]
    apigw.update_stage(
        restApiId=config["api_id"],
        stageName="production",
        patchOperations=[
            {"op": "replace", "path": "/canarySettings/deploymentId", "value": snapshot},
            {"op": "replace", "path": "/canarySettings/stageVariableOverrides/slot", "value": "green"},
            {"op": "replace", "path": "/canarySettings/useStageCache", "value": "false"},
            {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "25"},
            {
                "op": "replace",
                "path": "/variables/controller_lock",
                "value": f"holder=test:1,expires={int(time.time()) + 60}",
            },
        ],
    )
    assert (
        apigw.get_stage(restApiId=config["api_id"], stageName="production")["canarySettings"][
            "percentTraffic"
        ]
        == 25
    )
    code, out = root.plan_exit_code()
    assert code == 0, out


def test_plan_is_empty_after_a_controller_style_promotion(
    root: Stack, config: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    apigw = aws("apigateway")
    production = apigw.get_stage(restApiId=config["api_id"], stageName="production")
    canary_deployment = production["canarySettings"]["deploymentId"]
    apigw.update_stage(
        restApiId=config["api_id"],
        stageName="production",
        patchOperations=[
            {"op": "remove", "path": "/canarySettings"},
            {"op": "replace", "path": "/deploymentId", "value": canary_deployment},
            {"op": "replace", "path": "/variables/slot", "value": "green"},
            {"op": "remove", "path": "/variables/controller_lock"},
        ],
    )
    apigw.update_stage(
        restApiId=config["api_id"],
        stageName="staging",
        patchOperations=[
            {"op": "replace", "path": "/variables/slot", "value": "blue"},
        ],
    )
    status, body = get_json(f"{config['invoke_urls']['production']}/hello")
    assert (status, body["environment"]) == (200, "green")
    code, out = root.plan_exit_code()
    assert code == 0, out


def test_changing_the_api_definition_moves_staging_only_and_production_keeps_serving(
    root: Stack, config: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    apigw = aws("apigateway")
    before = {
        s: apigw.get_stage(restApiId=config["api_id"], stageName=s)["deploymentId"]
        for s in ("production", "staging")
    }
    tfvars = root.workdir / "terraform.tfvars.json"
    data = json.loads(tfvars.read_text())
    data["stack"]["routes"] = [*ROUTES, {"path": "/hello/{name}", "method": "GET"}]
    tfvars.write_text(json.dumps(data))
    root.apply(label="apply_after_definition_change")

    after = {
        s: apigw.get_stage(restApiId=config["api_id"], stageName=s)["deploymentId"]
        for s in ("production", "staging")
    }
    assert after["production"] == before["production"]
    assert after["staging"] != before["staging"]
    # The superseded staging deployment is gone; production's (the controller's) is still there.
    ids = {d["id"] for d in apigw.get_deployments(restApiId=config["api_id"])["items"]}
    assert before["staging"] not in ids and before["production"] in ids
    # Staging serves the new definition (and, after the promotion above, blue); production is untouched.
    status, body = get_json(f"{config['invoke_urls']['staging']}/hello/world")
    assert (status, body["environment"]) == (200, "blue")
    assert requests.get(f"{config['invoke_urls']['production']}/hello/world", timeout=15).status_code in (
        403,
        404,
    )
    code, out = root.plan_exit_code()
    assert code == 0, out


def test_destroy_leaves_nothing_behind(
    root: Stack, config: dict[str, Any], aws: Callable[[str], Any]
) -> None:
    root.destroy()
    record_timings("root_module", root)
    assert root.managed_resources() == []
    assert all(api["name"] != PREFIX for api in aws("apigateway").get_rest_apis()["items"])
    functions = aws("lambda").list_functions()["Functions"]
    assert not [f for f in functions if f["FunctionName"].startswith(PREFIX)]
    cw = aws("cloudwatch").describe_alarms(
        AlarmNamePrefix=PREFIX, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    assert cw["MetricAlarms"] == [] and cw["CompositeAlarms"] == []
    # The module named the team's alarm but never owned it.
    assert aws("cloudwatch").describe_alarms(AlarmNames=[EXTRA_ALARM])["MetricAlarms"]
    assert not aws("cloudwatch").list_dashboards(DashboardNamePrefix=PREFIX)["DashboardEntries"]
    roles = aws("iam").list_roles()["Roles"]
    assert not [r for r in roles if r["RoleName"].startswith(PREFIX)]
    groups = aws("logs").describe_log_groups()["logGroups"]
    assert not [g for g in groups if PREFIX in g["logGroupName"]]
