"""Control-plane answers the Terraform AWS provider depends on when it destroys what the module created.

Pages followed:
ADDPERM https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html
DLQ     https://docs.aws.amazon.com/lambda/latest/api/API_DeadLetterConfig.html
FNCONF  https://docs.aws.amazon.com/lambda/latest/api/API_FunctionConfiguration.html
UPDACC  https://docs.aws.amazon.com/apigateway/latest/api/API_UpdateAccount.html
PATCH   https://docs.aws.amazon.com/apigateway/latest/api/patch-operations.html
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.testing import zip_handler


def test_adding_a_permission_with_a_statement_id_the_policy_has_is_a_conflict(
    aws_client: Any, make_function: Any
) -> None:
    lam = aws_client("lambda")
    name = make_function(permission=False)
    grant = {
        "FunctionName": name,
        "StatementId": "apigw",
        "Action": "lambda:InvokeFunction",
        "Principal": "apigateway.amazonaws.com",
    }
    lam.add_permission(**grant)
    # ADDPERM: ResourceConflictException (409) when the statement id is already in the policy.
    with pytest.raises(ClientError) as raised:
        lam.add_permission(**grant)
    assert raised.value.response["Error"]["Code"] == "ResourceConflictException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409

    # So one RemovePermission leaves no statement behind (the provider's delete waiter polls GetPolicy).
    lam.remove_permission(FunctionName=name, StatementId="apigw")
    with pytest.raises(ClientError) as gone:
        statements = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
        assert not statements
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_replacing_the_account_cloudwatch_role_without_a_value_clears_it(
    aws_client: Any, lambda_role: str
) -> None:
    apigw = aws_client("apigateway")
    apigw.update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": lambda_role}]
    )
    assert apigw.get_account()["cloudwatchRoleArn"] == lambda_role
    # UPDACC/PATCH: the provider resets the account on destroy with `replace /cloudwatchRoleArn` and no value.
    apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn"}])
    assert not apigw.get_account().get("cloudwatchRoleArn")


def test_a_functions_dead_letter_target_is_kept_returned_and_removed_with_an_empty_arn(
    aws_client: Any, make_function: Any, lambda_role: str
) -> None:
    lam = aws_client("lambda")
    queue = "arn:aws:sqs:us-east-1:123456789012:slot-dlq"
    topic = "arn:aws:sns:us-east-1:123456789012:slot-dlq"
    created = lam.create_function(
        FunctionName=f"dlq-{uuid.uuid4().hex[:8]}",
        Runtime="python3.12",
        Role=lambda_role,
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": zip_handler("def lambda_handler(event, context):\n    return {}\n")},
        DeadLetterConfig={"TargetArn": queue},
    )
    assert created["DeadLetterConfig"] == {"TargetArn": queue}
    assert lam.get_function_configuration(FunctionName=created["FunctionName"])["DeadLetterConfig"] == {
        "TargetArn": queue
    }
    name = make_function(permission=False)
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=name)
    # DLQ, FNCONF: the target set by UpdateFunctionConfiguration comes back in the function's configuration.
    updated = lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": queue})
    assert updated["DeadLetterConfig"] == {"TargetArn": queue}
    assert lam.get_function(FunctionName=name)["Configuration"]["DeadLetterConfig"] == {"TargetArn": queue}
    listed = [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == name]
    assert listed[0]["DeadLetterConfig"] == {"TargetArn": queue}
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": topic})
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {"TargetArn": topic}
    # An empty TargetArn removes it (what the provider sends when dead_letter_config goes away).
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=name)
