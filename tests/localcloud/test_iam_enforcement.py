"""IAM enforced in the local cloud (`serve --enforce-iam`): IAM users and role sessions get only what their
policies allow, denied calls change nothing and fail as they do on AWS, the bootstrap keys stay all-powerful.

Pages followed:
EVAL    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
DENIED  https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html (message wording)
APIGW   https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonapigatewaymanagement.html
CW      https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html
ROLES   https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_manage-assume.html (trust + identity policy)
GCI     https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html (needs no permission)
ERRORS  https://docs.aws.amazon.com/apigateway/latest/api/CommonErrors.html,
        https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CommonErrors.html (403 AccessDenied)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from iam_helpers import (
    ACCOUNT,
    BOOTSTRAP,
    Keys,
    allow,
    assume,
    client,
    denied,
    deny,
    document,
    make_role,
    make_stack,
    make_user,
    managed_policy,
    unique,
)
from test_rpcv2_cbor import cbor_client

from localcloud.iam_enforcement import trace_from_env
from localcloud.testing import REGION, LocalCloudProcess

TRUST_ACCOUNT = {
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "sts:AssumeRole",
}


def test_health_says_whether_iam_is_enforced(iam_cloud: Any, localcloud: Any) -> None:
    assert iam_cloud.admin("GET", "health")["iam_enforced"] is True
    assert localcloud.admin("GET", "health")["iam_enforced"] is False


def test_bootstrap_keys_and_unsigned_admin_endpoints_stay_all_powerful(iam_cloud: Any) -> None:
    name = unique("topic")
    arn = client(iam_cloud, "sns", BOOTSTRAP).create_topic(Name=name)["TopicArn"]
    client(iam_cloud, "sns", BOOTSTRAP).delete_topic(TopicArn=arn)
    assert iam_cloud.admin("GET", "faults") == {"faults": []}


def test_a_user_gets_what_its_inline_policy_allows_and_nothing_else(iam_cloud: Any) -> None:
    stack = make_stack(iam_cloud)
    stage = stack.api_arn("/stages/production")
    user, keys = make_user(iam_cloud, inline=document(allow("apigateway:GET", stage)))
    apigw = client(iam_cloud, "apigateway", keys)
    assert apigw.get_stage(restApiId=stack.api_id, stageName="production")["deploymentId"]
    error = denied(apigw.get_stage, restApiId=stack.api_id, stageName="staging")
    # APIGW + DENIED: REST-JSON AccessDeniedException naming caller, verb and path.
    assert error["Code"] == "AccessDeniedException"
    staging = stack.api_arn("/stages/staging")
    assert error["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: apigateway:GET on resource: "
        f"{staging} because no identity-based policy allows the apigateway:GET action"
    )


def test_a_denied_call_changes_nothing(iam_cloud: Any) -> None:
    stack = make_stack(iam_cloud)
    _, keys = make_user(iam_cloud, inline=document(allow("apigateway:GET", stack.api_arn("/*"))))
    patch = [{"op": "replace", "path": "/variables/slot", "value": "green"}]
    denied(
        client(iam_cloud, "apigateway", keys).update_stage,
        restApiId=stack.api_id,
        stageName="production",
        patchOperations=patch,
    )
    stage = client(iam_cloud, "apigateway").get_stage(restApiId=stack.api_id, stageName="production")
    assert "slot" not in stage.get("variables", {})


def test_an_explicit_deny_in_a_managed_policy_wins_over_an_inline_allow(iam_cloud: Any) -> None:
    stack = make_stack(iam_cloud)
    blocker = managed_policy(iam_cloud, document(deny("apigateway:DELETE", stack.api_arn("/stages/*"))))
    _, keys = make_user(
        iam_cloud, inline=document(allow("apigateway:*", stack.api_arn("/*"))), managed=(blocker,)
    )
    apigw = client(iam_cloud, "apigateway", keys)
    error = denied(apigw.delete_stage, restApiId=stack.api_id, stageName="staging")
    assert error["Message"].endswith(f"with an explicit deny in an identity-based policy: {blocker}")
    assert {
        s["stageName"] for s in client(iam_cloud, "apigateway").get_stages(restApiId=stack.api_id)["item"]
    } == {
        "production",
        "staging",
    }
    apigw.delete_deployment(
        restApiId=stack.api_id, deploymentId=stack.spare_deployment
    )  # allowed, not denied


def test_customer_and_aws_managed_policies_and_group_policies_apply(iam_cloud: Any) -> None:
    stack = make_stack(iam_cloud)
    iam = client(iam_cloud, "iam")
    group = unique("group")
    iam.create_group(GroupName=group)
    iam.put_group_policy(
        GroupName=group, PolicyName="read-topics", PolicyDocument=document(allow("sns:ListTopics"))
    )
    read_stages = managed_policy(iam_cloud, document(allow("apigateway:GET", stack.api_arn("/stages/*"))))
    aws_managed = "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"
    _, keys = make_user(iam_cloud, managed=(read_stages, aws_managed), groups=(group,))
    client(iam_cloud, "apigateway", keys).get_stage(restApiId=stack.api_id, stageName="staging")
    client(iam_cloud, "sns", keys).list_topics()
    cloudwatch = client(iam_cloud, "cloudwatch", keys)
    assert len(cloudwatch.describe_alarms(AlarmNames=list(stack.alarms))["MetricAlarms"]) == 2
    assert denied(cloudwatch.delete_alarms, AlarmNames=[stack.alarms[0]])["Code"] == "AccessDenied"
    assert denied(client(iam_cloud, "sns", keys).create_topic, Name=unique("t"))["Code"] == "AccessDenied"


def test_conditions_in_policies_are_evaluated_against_the_request(iam_cloud: Any) -> None:
    only_app = allow("cloudwatch:PutMetricData", Condition={"StringLike": {"cloudwatch:namespace": "App/*"}})
    _, keys = make_user(iam_cloud, inline=document(only_app))
    cloudwatch = client(iam_cloud, "cloudwatch", keys)
    cloudwatch.put_metric_data(Namespace="App/orders", MetricData=[{"MetricName": "m", "Value": 1.0}])
    denied(
        cloudwatch.put_metric_data, Namespace="AWS/ApiGateway", MetricData=[{"MetricName": "m", "Value": 1.0}]
    )
    own_keys = allow("iam:ListAccessKeys", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}")
    user, keys = make_user(iam_cloud, inline=document(own_keys))
    assert client(iam_cloud, "iam", keys).list_access_keys()["AccessKeyMetadata"][0]["UserName"] == user
    denied(client(iam_cloud, "iam", keys).list_access_keys, UserName="someone-else")


def test_an_assumed_role_is_authorised_by_the_role_policies(iam_cloud: Any) -> None:
    stack = make_stack(iam_cloud)
    role = make_role(
        iam_cloud,
        document(TRUST_ACCOUNT),
        inline=document(allow("apigateway:PATCH", stack.api_arn("/stages/production"))),
    )
    _, keys = make_user(iam_cloud, inline=document(allow("sts:AssumeRole", role)))
    session = assume(iam_cloud, keys, role)
    apigw = client(iam_cloud, "apigateway", session)
    patch = [{"op": "replace", "path": "/variables/slot", "value": "green"}]
    apigw.update_stage(restApiId=stack.api_id, stageName="production", patchOperations=patch)
    error = denied(apigw.update_stage, restApiId=stack.api_id, stageName="staging", patchOperations=patch)
    assert error["Message"].startswith(
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role.split('/')[-1]}/test "
    )
    # GCI: no permission needed, even without any sts statement in the role's policies.
    identity = client(iam_cloud, "sts", session).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.split('/')[-1]}/test"


def test_assume_role_needs_the_trust_policy_and_the_identity_policy_unless_the_trust_names_the_user(
    iam_cloud: Any,
) -> None:
    trusting_account = make_role(iam_cloud, document(TRUST_ACCOUNT))
    _, without_permission = make_user(iam_cloud)
    error = denied(assume, iam_cloud, without_permission, trusting_account)
    assert error["Code"] == "AccessDenied" and "sts:AssumeRole" in error["Message"]
    user, named = make_user(iam_cloud)
    trust_user = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{user}"},
        "Action": "sts:AssumeRole",
    }
    assume(iam_cloud, named, make_role(iam_cloud, document(trust_user)))
    lambda_only = {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    _, allowed = make_user(iam_cloud, inline=document(allow("sts:AssumeRole")))
    error = denied(assume, iam_cloud, allowed, make_role(iam_cloud, document(lambda_only)))
    assert "because no resource-based policy allows the sts:AssumeRole action" in error["Message"]


def test_a_session_policy_narrows_the_role(iam_cloud: Any) -> None:
    role = make_role(iam_cloud, document(TRUST_ACCOUNT), inline=document(allow(["sns:*", "cloudwatch:*"])))
    _, keys = make_user(iam_cloud, inline=document(allow("sts:AssumeRole", role)))
    session = assume(iam_cloud, keys, role, Policy=document(allow("sns:ListTopics")))
    client(iam_cloud, "sns", session).list_topics()
    error = denied(client(iam_cloud, "cloudwatch", session).list_metrics)
    assert error["Message"].endswith("because no session policy allows the cloudwatch:ListMetrics action")


def test_temporary_keys_without_their_token_or_a_deleted_user_key_are_rejected(iam_cloud: Any) -> None:
    role = make_role(iam_cloud, document(TRUST_ACCOUNT), inline=document(allow("sns:*")))
    user, keys = make_user(iam_cloud, inline=document(allow(["sts:AssumeRole", "sns:ListTopics"], "*")))
    session = assume(iam_cloud, keys, role)
    error = denied(
        client(iam_cloud, "sns", Keys(session.access_key_id, session.secret_access_key)).list_topics
    )
    assert error["Code"] == "InvalidClientTokenId"
    client(iam_cloud, "iam").update_access_key(
        UserName=user, AccessKeyId=keys.access_key_id, Status="Inactive"
    )
    assert denied(client(iam_cloud, "sns", keys).list_topics)["Code"] == "InvalidClientTokenId"


def test_each_protocol_answers_access_denied_as_its_sdk_expects(iam_cloud: Any, tmp_path: Path) -> None:
    stack = make_stack(iam_cloud)
    _, keys = make_user(iam_cloud, inline=document(allow("sns:ListTopics")))
    # ERRORS: query protocol (SNS, STS, IAM) AccessDenied; REST-JSON (Lambda) AccessDeniedException;
    # CloudWatch's JSON and CBOR answers carry the query code in x-amzn-query-error: SDKs raise AccessDenied.
    assert denied(client(iam_cloud, "sns", keys).create_topic, Name="t")["Code"] == "AccessDenied"
    assert denied(client(iam_cloud, "iam", keys).list_users)["Code"] == "AccessDenied"
    role = make_role(iam_cloud, document(TRUST_ACCOUNT))
    assert denied(client(iam_cloud, "sts", keys).assume_role, RoleArn=role, RoleSessionName="ci")["Code"] == (
        "AccessDenied"
    )
    lam = client(iam_cloud, "lambda", keys)
    error = denied(lam.invoke, FunctionName=stack.function)
    assert error["Code"] == "AccessDeniedException"
    assert f"lambda:InvokeFunction on resource: {stack.function_arn} " in error["Message"]
    assert denied(client(iam_cloud, "cloudwatch", keys).describe_alarms)["Code"] == "AccessDenied"
    cbor = cbor_client("cloudwatch", iam_cloud.endpoint_url, tmp_path, credentials=keys.triple())
    error = denied(cbor.describe_alarms, AlarmNames=[stack.alarms[0]])
    assert error["Code"] == "AccessDenied"
    assert f"on resource: arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{stack.alarms[0]} " in error["Message"]


def test_the_execute_api_data_plane_is_not_iam_authorised(iam_cloud: Any) -> None:
    # The module's methods use authorization NONE: invoke URLs are not IAM calls, whoever signs them.
    stack = make_stack(iam_cloud)
    _, keys = make_user(iam_cloud)
    url = f"{iam_cloud.endpoint_url}/restapis/{stack.api_id}/production/_user_request_/hello"
    scope = f"{keys.access_key_id}/20260101/{REGION}/execute-api/aws4_request"
    response = requests.get(
        url, headers={"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}"}, timeout=10
    )
    assert response.status_code == 200


def test_the_trace_logs_each_allowed_action_and_resource_with_the_callers_app_id(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # LOCALCLOUD_IAM_TRACE=1: what docs/iam.md's table of each command's calls is measured with.
    monkeypatch.setenv("LOCALCLOUD_IAM_TRACE", "1")
    log = tmp_path / "localcloud.log"
    with LocalCloudProcess(enforce_iam=True, log_path=str(log)) as cloud:
        api = client(cloud, "apigateway").create_rest_api(name=unique("api"))["id"]
        arn = f"arn:aws:apigateway:{REGION}::/restapis/{api}"
        user, keys = make_user(cloud, inline=document(allow("apigateway:GET", arn)))
        tagged = boto3.client(
            "apigateway",
            endpoint_url=cloud.endpoint_url,
            region_name=REGION,
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            config=Config(user_agent_appid="release-42", retries={"max_attempts": 1}),
        )
        tagged.get_rest_api(restApiId=api)
        denied(tagged.get_stage, restApiId=api, stageName="production")
    traced = [line for line in log.read_text().splitlines() if "iam: allowed" in line]
    # One line: the bootstrap keys' calls are not decided, and the denied GetStage is logged as a denial.
    assert len(traced) == 1, traced
    caller = f"arn:aws:iam::{ACCOUNT}:user/{user}"
    assert traced[0].endswith(f"iam: allowed apigateway:GET {arn} caller={caller} app=release-42")


def test_the_trace_is_off_unless_asked_for_and_refuses_other_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCALCLOUD_IAM_TRACE", raising=False)
    assert trace_from_env() is False
    monkeypatch.setenv("LOCALCLOUD_IAM_TRACE", "0")
    assert trace_from_env() is False
    monkeypatch.setenv("LOCALCLOUD_IAM_TRACE", "yes")
    with pytest.raises(SystemExit, match="LOCALCLOUD_IAM_TRACE must be '1' or '0'"):
        trace_from_env()
