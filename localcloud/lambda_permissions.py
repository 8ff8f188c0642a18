"""AddPermission rejects a statement id the function's policy already has, as Lambda does.

moto 5.2.5 appended a second statement with the same Sid; RemovePermission then removed only one of them, so
GetPolicy still found the permission and the Terraform provider's delete waiter timed out after 5 minutes
("waiting for Lambda Permission ... delete: found resource"). Lambda answers 409 ResourceConflictException:
https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html (Errors: ResourceConflictException).
"""

from __future__ import annotations

import json
from typing import Any

from moto.awslambda import policy as lambda_policy
from moto.awslambda.exceptions import LambdaClientError


class StatementIdExists(LambdaClientError):
    code = 409

    def __init__(self, sid: str):
        super().__init__(
            "ResourceConflictException",
            f"The statement id ({sid}) provided already exists. Please explicitly delete the statement id "
            "before adding a new one.",
        )


def _guarded(original: Any) -> Any:
    def add_statement(self: Any, raw: str, qualifier: str | None = None) -> Any:
        sid = json.loads(raw).get("StatementId")
        if sid and any(s.get("Sid") == sid for s in self.statements):
            raise StatementIdExists(sid)
        return original(self, raw, qualifier)

    return add_statement


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    lambda_policy.Policy.add_statement = _guarded(lambda_policy.Policy.add_statement)
