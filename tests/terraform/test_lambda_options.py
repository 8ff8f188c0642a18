"""The slot functions' optional features, checked on a plan (no apply): each option adds exactly the
permissions and settings it needs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .stack import Stack

DLQ = "arn:aws:sqs:us-east-1:123456789012:slot-dlq"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
LAYER = "arn:aws:lambda:us-east-1:123456789012:layer:shared:3"


def planned(plan: Any, address: str) -> dict[str, Any]:
    for change in plan["resource_changes"]:
        if change["address"] == address:
            return change["change"]["after"]
    raise AssertionError(f"{address} not in plan")


def test_vpc_dlq_kms_and_concurrency_options_add_only_their_own_permissions(
    stack_factory: Callable[..., Stack], tmp_path_factory: Any
) -> None:
    stack = stack_factory(
        "root",
        "options",
        {
            "name_prefix": "tft-options",
            "execute_api_endpoint": None,
            "metric_period_seconds": 60,
            "lambda_build_dir": str(tmp_path_factory.mktemp("options-build")),
            "routes": [{"path": "/hello", "method": "GET"}],
            "lambda_vpc_subnet_ids": ["subnet-0123"],
            "lambda_vpc_security_group_ids": ["sg-0123"],
            "lambda_dead_letter_target_arn": DLQ,
            "lambda_kms_key_arn": KEY,
            "lambda_tracing_mode": "PassThrough",
            "lambda_reserved_concurrent_executions": 5,
            "lambda_layers": [LAYER],
        },
    )
    stack.init()
    plan = stack.tf.plan(output=True)

    policy = json.loads(
        planned(plan, 'module.stack.module.slot["green"].aws_iam_role_policy.execution')["policy"]
    )
    statements = {s["Sid"]: s for s in policy["Statement"]}
    # Lambda's VPC permissions and DLQ permissions
    # (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#configuration-vpc-permissions,
    # https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq).
    assert set(statements) == {
        "WriteOwnLogs",
        "ManageVpcNetworkInterfaces",
        "SendToDeadLetterTarget",
        "DecryptEnvironment",
    }  # PassThrough tracing: no X-Ray statement
    assert statements["SendToDeadLetterTarget"]["Action"] == "sqs:SendMessage"
    assert statements["SendToDeadLetterTarget"]["Resource"] == DLQ
    assert (statements["DecryptEnvironment"]["Action"], statements["DecryptEnvironment"]["Resource"]) == (
        "kms:Decrypt",
        KEY,
    )
    assert "ec2:CreateNetworkInterface" in statements["ManageVpcNetworkInterfaces"]["Action"]

    function = planned(plan, 'module.stack.module.slot["green"].aws_lambda_function.this')
    assert function["vpc_config"][0]["subnet_ids"] == ["subnet-0123"]
    assert function["dead_letter_config"] == [{"target_arn": DLQ}]
    assert function["reserved_concurrent_executions"] == 5
    assert function["layers"] == [LAYER]
    assert function["tracing_config"] == [{"mode": "PassThrough"}]
    assert function["kms_key_arn"] == KEY


def test_a_created_dlq_and_a_given_dead_letter_target_are_refused_together(
    stack_factory: Callable[..., Stack], tmp_path_factory: Any
) -> None:
    # A function has one dead-letter target
    # (https://docs.aws.amazon.com/lambda/latest/api/API_DeadLetterConfig.html).
    stack = stack_factory(
        "root",
        "two-dlqs",
        {
            "name_prefix": "tft-two-dlqs",
            "execute_api_endpoint": None,
            "metric_period_seconds": 60,
            "lambda_build_dir": str(tmp_path_factory.mktemp("two-dlqs-build")),
            "routes": [{"path": "/hello", "method": "GET"}],
            "lambda_dead_letter_target_arn": DLQ,
            "create_dlq": True,
        },
    )
    stack.init()
    result = stack.run("plan", "-input=false", "-no-color")
    assert result.returncode == 1
    assert "Set create_dlq or lambda_dead_letter_target_arn, not both" in result.stderr, result.stderr
    assert stack.managed_resources() == []
