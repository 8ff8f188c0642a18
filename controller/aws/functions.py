"""The slots' Lambda functions, read only: the code and configuration each one has now.

`undo` refuses to put production back on a slot whose function changed since the promotion; the promotion
record keeps the function's CodeSha256 and RevisionId, which GetFunctionConfiguration returns
(https://docs.aws.amazon.com/lambda/latest/api/API_GetFunctionConfiguration.html). RevisionId changes with
any update of the function's code or configuration
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from controller.aws.clients import aws_errors


@dataclass(frozen=True)
class FunctionIdentity:
    code_sha256: str  # hex (stage variables allow no + or /, which base64 has)
    revision_id: str
    version: str
    last_modified: str = ""


def sha_hex(code_sha256_b64: str) -> str:
    try:
        return base64.b64decode(code_sha256_b64, validate=True).hex()
    except (binascii.Error, ValueError):
        return "".join(c for c in code_sha256_b64 if c.isalnum()).lower()


class FunctionsAdapter:
    def __init__(self, client: Any) -> None:
        self._client = client

    def identity(self, function_name: str) -> FunctionIdentity:
        with aws_errors(f"GetFunctionConfiguration {function_name}"):
            raw = self._client.get_function_configuration(FunctionName=function_name)
        return FunctionIdentity(
            code_sha256=sha_hex(raw.get("CodeSha256", "")),
            revision_id=raw.get("RevisionId", ""),
            version=raw.get("Version", ""),
            last_modified=raw.get("LastModified", ""),
        )
