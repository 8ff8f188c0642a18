"""Control-plane answers the Terraform AWS provider depends on when it destroys what the module created.

Pages followed:
ADDPERM https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html
UPDACC  https://docs.aws.amazon.com/apigateway/latest/api/API_UpdateAccount.html
PATCH   https://docs.aws.amazon.com/apigateway/latest/api/patch-operations.html
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError


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
