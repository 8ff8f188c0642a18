"""Which IAM action on which resource each call needs, read from the request as the SDK puts it on the wire.

Requests are serialised with botocore's own serializers (the protocol boto3 uses, or the one named), turned
into a WSGI environ, and read by localcloud.iam_requests + iam_actions, as the server does. The expected
values follow the Service Authorization Reference pages cited per service.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import botocore.session
import pytest
from botocore.serialize import create_serializer
from werkzeug.test import EnvironBuilder

from localcloud.iam_actions import ALWAYS_ALLOWED, Target, UnmappedCall, authorizations
from localcloud.iam_requests import parse_call, parse_credentials

ACCOUNT = "123456789012"
API = "arn:aws:apigateway:us-east-1::/restapis/a1b2c3"
ALARM = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:"
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/deploy"
CALLER = f"arn:aws:iam::{ACCOUNT}:user/ci"
TARGET = Target(account=ACCOUNT, caller_arn=CALLER)
_SESSION = botocore.session.get_session()


def environ(
    service: str, operation: str, params: dict[str, Any], protocol: str | None = None, **headers: str
) -> dict[str, Any]:
    """The WSGI environ of the request an SDK sends for this call, signed with an IAM user's key."""
    model = _SESSION.get_service_model(service)
    serializer = create_serializer(protocol or model.resolved_protocol, include_validation=False)
    request = serializer.serialize_to_request(params, model.operation_model(operation))
    body = request["body"]
    all_headers = dict(request["headers"])
    if isinstance(body, dict):
        body = urllib.parse.urlencode(body, doseq=True)
        all_headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    scope = f"AKIAEXAMPLEKEY/20260101/us-east-1/{model.signing_name}/aws4_request"
    all_headers["Authorization"] = f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"
    all_headers.update(headers)
    return EnvironBuilder(
        path=request["url_path"],
        query_string=urllib.parse.urlencode(request["query_string"], doseq=True),
        method=request["method"],
        headers=all_headers,
        data=body,
    ).get_environ()


def needed(service: str, operation: str, params: dict[str, Any], protocol: str | None = None) -> list:
    env = environ(service, operation, params, protocol)
    credentials = parse_credentials(env)
    assert credentials is not None
    return [(a.action, a.resource) for a in authorizations(parse_call(env, credentials), TARGET)]


# API Gateway: the HTTP verb on the resource path
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonapigatewaymanagement.html,
# https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html).
@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("GetStage", {"restApiId": "a1b2c3", "stageName": "production"}, ("GET", "/stages/production")),
        ("GetStages", {"restApiId": "a1b2c3"}, ("GET", "/stages")),
        ("UpdateStage", {"restApiId": "a1b2c3", "stageName": "production"}, ("PATCH", "/stages/production")),
        ("DeleteStage", {"restApiId": "a1b2c3", "stageName": "production"}, ("DELETE", "/stages/production")),
        ("CreateDeployment", {"restApiId": "a1b2c3"}, ("POST", "/deployments")),
        ("GetDeployments", {"restApiId": "a1b2c3"}, ("GET", "/deployments")),
        ("DeleteDeployment", {"restApiId": "a1b2c3", "deploymentId": "d1"}, ("DELETE", "/deployments/d1")),
        (
            "UpdateIntegration",
            {"restApiId": "a1b2c3", "resourceId": "r1", "httpMethod": "GET"},
            ("PATCH", "/resources/r1/methods/GET/integration"),
        ),
        ("GetRestApi", {"restApiId": "a1b2c3"}, ("GET", "")),
    ],
)
def test_api_gateway_calls_need_the_http_verb_on_the_resource_path(operation, params, expected):
    verb, suffix = expected
    assert needed("apigateway", operation, params) == [(f"apigateway:{verb}", API + suffix)]


def test_api_gateway_collections_and_tags_are_paths_too():
    assert needed("apigateway", "GetRestApis", {}) == [
        ("apigateway:GET", "arn:aws:apigateway:us-east-1::/restapis")
    ]
    stage_arn = f"{API}/stages/production"
    quoted = urllib.parse.quote(stage_arn, safe="")
    assert needed("apigateway", "TagResource", {"resourceArn": stage_arn, "tags": {"a": "b"}}) == [
        ("apigateway:PUT", f"arn:aws:apigateway:us-east-1::/tags/{quoted}")
    ]


# CloudWatch: metric reads and writes take resource "*"; alarms and dashboards are resources
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
CLOUDWATCH_CASES = [
    ("GetMetricData", {"MetricDataQueries": [], "StartTime": 0, "EndTime": 1}, [("GetMetricData", "*")]),
    (
        "GetMetricStatistics",
        {"Namespace": "n", "MetricName": "m", "StartTime": 0, "EndTime": 1, "Period": 60},
        [("GetMetricStatistics", "*")],
    ),
    ("ListMetrics", {}, [("ListMetrics", "*")]),
    (
        "PutMetricData",
        {"Namespace": "App", "MetricData": [{"MetricName": "m", "Value": 1.0}]},
        [("PutMetricData", "*")],
    ),
    (
        "DescribeAlarms",
        {"AlarmNames": ["a", "b"]},
        [("DescribeAlarms", ALARM + "a"), ("DescribeAlarms", ALARM + "b")],
    ),
    ("DescribeAlarms", {}, [("DescribeAlarms", ALARM + "*")]),
    ("DeleteAlarms", {"AlarmNames": ["a"]}, [("DeleteAlarms", ALARM + "a")]),
    (
        "SetAlarmState",
        {"AlarmName": "a", "StateValue": "OK", "StateReason": "r"},
        [("SetAlarmState", ALARM + "a")],
    ),
    (
        "PutMetricAlarm",
        {
            "AlarmName": "a",
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Tags": [{"Key": "k", "Value": "v"}],
        },
        [("PutMetricAlarm", ALARM + "a"), ("TagResource", ALARM + "a")],
    ),
    (
        "PutDashboard",
        {"DashboardName": "d", "DashboardBody": "{}"},
        [("PutDashboard", f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/d")],
    ),
]


@pytest.mark.parametrize("protocol", ["json", "query", "smithy-rpc-v2-cbor"])
@pytest.mark.parametrize(("operation", "params", "expected"), CLOUDWATCH_CASES)
def test_cloudwatch_calls_map_the_same_in_every_protocol(protocol, operation, params, expected):
    assert needed("cloudwatch", operation, params, protocol) == [(f"cloudwatch:{a}", r) for a, r in expected]


@pytest.mark.parametrize(
    ("protocol", "read_as"), [("json", "json"), ("query", "query"), ("smithy-rpc-v2-cbor", "cbor")]
)
def test_each_wire_protocol_is_recognised(protocol, read_as):
    env = environ("cloudwatch", "DescribeAlarms", {"AlarmNames": ["a"]}, protocol)
    call = parse_call(env, parse_credentials(env))
    assert (call.protocol, call.operation, call.param_list("AlarmNames")) == (
        read_as,
        "DescribeAlarms",
        ["a"],
    )


def test_cloudwatch_condition_keys_come_from_the_request():
    env = environ("cloudwatch", "PutMetricData", {"Namespace": "App/orders", "MetricData": []})
    call = parse_call(env, parse_credentials(env))
    assert authorizations(call, TARGET)[0].context["cloudwatch:namespace"] == ("App/orders",)
    alarm = {"AlarmName": "a", "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold"}
    alarm["AlarmActions"] = ["arn:aws:sns:us-east-1:123456789012:page"]
    env = environ("cloudwatch", "PutMetricAlarm", alarm, "query")
    context = authorizations(parse_call(env, parse_credentials(env)), TARGET)[0].context
    assert context["cloudwatch:AlarmActions"] == ("arn:aws:sns:us-east-1:123456789012:page",)


# Lambda: lambda:{Operation} on the function, version or alias ARN; Invoke is lambda:InvokeFunction
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html,
# https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html).
@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("Invoke", {"FunctionName": "f"}, [("lambda:InvokeFunction", FUNCTION + "f")]),
        (
            "Invoke",
            {"FunctionName": "f", "Qualifier": "live"},
            [("lambda:InvokeFunction", FUNCTION + "f:live")],
        ),
        ("Invoke", {"FunctionName": "f:live"}, [("lambda:InvokeFunction", FUNCTION + "f:live")]),
        (
            "GetFunctionConfiguration",
            {"FunctionName": FUNCTION + "f"},
            [("lambda:GetFunctionConfiguration", FUNCTION + "f")],
        ),
        (
            "UpdateFunctionCode",
            {"FunctionName": f"{ACCOUNT}:function:f"},
            [("lambda:UpdateFunctionCode", FUNCTION + "f")],
        ),
        ("GetPolicy", {"FunctionName": "f"}, [("lambda:GetPolicy", FUNCTION + "f")]),
        ("ListFunctions", {}, [("lambda:ListFunctions", "*")]),
        ("ListTags", {"Resource": FUNCTION + "f"}, [("lambda:ListTags", FUNCTION + "f")]),
        (
            "CreateFunction",
            {"FunctionName": "f", "Role": ROLE, "Code": {"ZipFile": b"x"}},
            [("lambda:CreateFunction", FUNCTION + "f"), ("iam:PassRole", ROLE)],
        ),
    ],
)
def test_lambda_calls_act_on_the_function_arn(operation, params, expected):
    assert needed("lambda", operation, params) == expected


# SNS, STS, IAM: the operation name on the resource the call names
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html,
# .../list_awssecuritytokenservice.html, .../list_awsidentityandaccessmanagementiam.html).
@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        (
            "sns",
            "Publish",
            {"TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:t", "Message": "m"},
            ("sns:Publish", f"arn:aws:sns:us-east-1:{ACCOUNT}:t"),
        ),
        ("sns", "CreateTopic", {"Name": "t"}, ("sns:CreateTopic", f"arn:aws:sns:us-east-1:{ACCOUNT}:t")),
        ("sns", "ListTopics", {}, ("sns:ListTopics", "*")),
        ("sts", "AssumeRole", {"RoleArn": ROLE, "RoleSessionName": "s"}, ("sts:AssumeRole", ROLE)),
        ("sts", "GetCallerIdentity", {}, ("sts:GetCallerIdentity", "*")),
        (
            "iam",
            "CreateUser",
            {"UserName": "bob", "Path": "/ci/"},
            ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/ci/bob"),
        ),
        ("iam", "GetRole", {"RoleName": "deploy"}, ("iam:GetRole", ROLE)),
        (
            "iam",
            "AttachUserPolicy",
            {"UserName": "bob", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
            ("iam:AttachUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/bob"),
        ),
        (
            "iam",
            "CreatePolicy",
            {"PolicyName": "p", "PolicyDocument": "{}"},
            ("iam:CreatePolicy", f"arn:aws:iam::{ACCOUNT}:policy/p"),
        ),
        ("iam", "GetUser", {}, ("iam:GetUser", CALLER)),
        ("iam", "ListUsers", {}, ("iam:ListUsers", "*")),
        ("logs", "CreateLogGroup", {"logGroupName": "g"}, ("logs:CreateLogGroup", "*")),
    ],
)
def test_query_and_json_services_need_the_operation_on_the_named_resource(
    service, operation, params, expected
):
    assert needed(service, operation, params) == [expected]


def test_get_caller_identity_needs_no_permission():
    # https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
    assert "sts:GetCallerIdentity" in ALWAYS_ALLOWED


@pytest.mark.parametrize("operation", ["GetSessionToken", "GetFederationToken"])
def test_credentials_the_local_iam_cannot_tie_to_the_caller_are_not_issued_to_iam_callers(operation):
    params = {"Name": "n"} if operation == "GetFederationToken" else {}
    with pytest.raises(UnmappedCall, match="use AssumeRole"):
        needed("sts", operation, params)


def test_a_rest_call_no_operation_matches_cannot_be_authorised():
    env = EnvironBuilder(
        path="/2015-03-31/no-such-thing",
        method="GET",
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAX/20260101/us-east-1/lambda/aws4_request"},
    ).get_environ()
    with pytest.raises(UnmappedCall):
        authorizations(parse_call(env, parse_credentials(env)), TARGET)


def test_credentials_come_from_the_header_or_a_presigned_url_with_the_session_token():
    assert parse_credentials(EnvironBuilder(path="/").get_environ()) is None
    signed = environ("sts", "GetCallerIdentity", {}, None, **{"X-Amz-Security-Token": "tok"})
    credentials = parse_credentials(signed)
    assert credentials is not None
    assert (credentials.access_key_id, credentials.signing_name, credentials.region) == (
        "AKIAEXAMPLEKEY",
        "sts",
        "us-east-1",
    )
    assert credentials.session_token == "tok"
    presigned = EnvironBuilder(
        path="/",
        query_string=urllib.parse.urlencode(
            {
                "Action": "GetCallerIdentity",
                "X-Amz-Credential": "ASIAKEY/20260101/eu-west-1/sts/aws4_request",
                "X-Amz-Security-Token": "t2",
            }
        ),
    ).get_environ()
    credentials = parse_credentials(presigned)
    assert credentials is not None and credentials.access_key_id == "ASIAKEY"
    assert credentials.region == "eu-west-1" and credentials.session_token == "t2"


def test_reading_the_body_leaves_it_for_the_next_handler():
    env = environ("cloudwatch", "DescribeAlarms", {"AlarmNames": ["a"]}, "json")
    parse_call(env, parse_credentials(env))
    assert json.loads(env["wsgi.input"].read()) == {"AlarmNames": ["a"]}
