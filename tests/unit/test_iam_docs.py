"""docs/iam.md's table of what each command calls cannot drift from the policy or the code.

Three sources are read as text, no Terraform and no AWS: the table in docs/iam.md, the statements of
controller_policy.tf (the policy the module renders as `controller_iam_policy_json`) and the boto3 calls in
the controller's source. IAM actions and resources follow the Service Authorization Reference:
API Gateway's action is the HTTP verb on the request path
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonapigatewaymanagement.html,
https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html); CloudWatch, Lambda
and SNS name the operation
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html,
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html,
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import botocore.session
import iam_docs_table
import pytest
from iam_docs_table import DOC, Row

REPO = Path(__file__).resolve().parents[2]
POLICY_TF = REPO / "controller_policy.tf"
# The module's stage names (modules/rest_api): the `${stage}` of the policy's stage resources.
STAGES = ("production", "staging")
NAMED_STAGE = re.compile(rf"/stages/({'|'.join(STAGES)})$")
# Terraform references in the policy, as the placeholders the docs use.
TF_PLACEHOLDERS = {
    "${data.aws_partition.current.partition}": "aws",
    "${data.aws_region.current.region}": "REGION",
    "${data.aws_caller_identity.current.account_id}": "ACCOUNT",
    "${module.rest_api.rest_api_id}": "API_ID",
    "${name}": "*",  # each alarm name
}
# Resource lists that are Terraform expressions, not strings: what they hold.
TF_EXPRESSIONS = {
    "m.function_arn": "arn:aws:lambda:REGION:ACCOUNT:function:*",
    "var.controller_notification_topic_arns": "arn:aws:sns:REGION:ACCOUNT:*",
}
# Which boto3 client each file of the controller calls (one service per file).
CALLERS = {
    "controller/aws/stage.py": "apigateway",
    "controller/aws/deployments.py": "apigateway",
    "controller/aws/metrics.py": "cloudwatch",
    "controller/aws/alarms.py": "cloudwatch",
    "controller/aws/functions.py": "lambda",
    "controller/notify.py": "sns",
}
_CALL = re.compile(r"(?:_client|_sns\(\))\.(?!get_paginator)(\w+)\(|get_paginator\(\"(\w+)\"\)")
# Request-path parameters, as the docs' placeholders (a stage is named in the docs, production or staging).
PATH_PARAMS = {"{restapi_id}": "API_ID", "{deployment_id}": "DEPLOYMENT_ID", "{stage_name}": "STAGE"}


@dataclass(frozen=True)
class Statement:
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # glob patterns


def _locals(text: str) -> dict[str, str]:
    block = re.search(r"^locals \{\n(.*?)^\}", text, re.S | re.M)
    assert block, "controller_policy.tf: no locals block"
    return dict(re.findall(r"^\s*(\w+)\s*=\s*\"(.*)\"\s*$", block[1], re.M))


def _resolve(value: str, local_values: dict[str, str]) -> str:
    for name, local_value in local_values.items():
        value = value.replace("${local." + name + "}", local_value)
    for reference, placeholder in TF_PLACEHOLDERS.items():
        value = value.replace(reference, placeholder)
    assert "${" not in value.replace("${stage}", ""), f"teach this test the reference in {value!r}"
    return value


def policy_statements() -> dict[str, Statement]:
    text = POLICY_TF.read_text()
    local_values = _locals(text)
    statements = {}
    for block in re.split(r"\n\s*(?:dynamic \"statement\"|statement) \{", text)[1:]:
        sid = re.search(r"sid\s*=\s*\"(\w+)\"", block)
        actions = re.search(r"actions\s*=\s*\[([^\]]*)\]", block)
        resources = re.search(r"resources\s*=\s*(.*?)\n\s*\}", block, re.S)
        assert sid and actions and resources, f"controller_policy.tf: cannot read {block[:80]!r}"
        patterns = [_resolve(value, local_values) for value in re.findall(r"\"([^\"]+)\"", resources[1])]
        patterns = [p.replace("${stage}", stage) for p in patterns for stage in STAGES]
        patterns += [glob for expression, glob in TF_EXPRESSIONS.items() if expression in resources[1]]
        statements[sid[1]] = Statement(tuple(re.findall(r"\"([^\"]+)\"", actions[1])), tuple(set(patterns)))
    return statements


def called_operations() -> set[tuple[str, str]]:
    """(service, OperationName) of every boto3 call in the controller's adapters and notifier."""
    session = botocore.session.get_session()
    calls = set()
    for path, service in CALLERS.items():
        to_api = {
            re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): name
            for name in session.get_service_model(service).operation_names
        }
        for found in _CALL.finditer((REPO / path).read_text()):
            method = found[1] or found[2]
            assert method in to_api, f"{path}: {method} is not a {service} operation"
            calls.add((service, to_api[method]))
    return calls


def needs(service: str, operation: str) -> tuple[str, str]:
    """The IAM action a call needs, and its resource as the docs write it."""
    if service != "apigateway":
        return f"{service}:{operation}", ""
    http = botocore.session.get_session().get_service_model(service).operation_model(operation).http
    path = http["requestUri"]
    for param, placeholder in PATH_PARAMS.items():
        path = path.replace(param, placeholder)
    return f"apigateway:{http['method']}", f"arn:aws:apigateway:REGION::{path}"


def test_the_table_is_there_and_names_only_statements_of_the_policy() -> None:
    rows, statements = iam_docs_table.rows(), policy_statements()
    assert len(rows) >= 10
    assert {row.statement for row in rows} == set(statements)


@pytest.mark.parametrize("row", iam_docs_table.rows(), ids=lambda row: f"{row.action} {row.resource}")
def test_each_call_in_the_table_is_allowed_by_the_statement_it_names(row: Row) -> None:
    statement = policy_statements()[row.statement]
    assert row.action in statement.actions
    # The docs' placeholders are concrete names to the policy's patterns (API_ID stays API_ID: the same API).
    concrete = row.resource.replace("DEPLOYMENT_ID", "d1").replace("ALARM", "a").replace("FUNCTION", "f")
    concrete = concrete.replace("TOPIC", "t")
    assert any(fnmatchcase(concrete, pattern) for pattern in statement.resources), statement.resources


def test_every_aws_call_the_controller_makes_is_a_row_of_the_table() -> None:
    calls = called_operations()
    # GetStage, UpdateStage, CreateDeployment, GetDeployments, GetStages, DeleteDeployment, GetMetricData,
    # DescribeAlarms, GetFunctionConfiguration, Publish: the scan found the adapters' calls.
    assert len(calls) >= 10, calls
    rows = iam_docs_table.rows()
    for service, operation in sorted(calls):
        action, resource = needs(service, operation)
        matching = [row for row in rows if row.action == action]
        assert matching, f"{operation}: no row for {action}"
        if resource:
            named = {NAMED_STAGE.sub("/stages/STAGE", row.resource) for row in matching}
            assert resource in named, f"{operation}: no row for {action} on {resource}"


def test_every_action_the_policy_grants_is_named_on_the_page() -> None:
    page = DOC.read_text()
    for statement in policy_statements().values():
        for action in statement.actions:
            service, name = action.split(":")
            assert f"`{action}`" in page or f"`{name}`" in page, f"{action} is not on docs/iam.md"
