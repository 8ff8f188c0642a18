"""AWS-shaped error responses in whichever wire protocol the caller used (for injected control-plane faults).

The SDKs only retry and classify errors they can parse, so a 429 must look like the service's own
throttling error:
REST-JSON services (API Gateway, Lambda) put the code in x-amzn-ErrorType, JSON-RPC puts it in __type,
smithy-rpc-v2-cbor (CloudWatch in current SDKs) uses a CBOR body, the query protocol uses XML.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

from .rpcv2_cbor import error_body

_CODES = {
    # service -> status -> error code
    "apigateway": {429: "TooManyRequestsException", 503: "ServiceUnavailableException"},
    "lambda": {429: "TooManyRequestsException", 503: "ServiceException", 500: "ServiceException"},
    "monitoring": {429: "Throttling", 503: "ServiceUnavailable", 500: "InternalServiceFault"},
}
_DEFAULT = {
    429: "Throttling",
    500: "InternalFailure",
    502: "InternalFailure",
    503: "ServiceUnavailable",
    504: "RequestTimeout",
}
_MESSAGES = {
    429: "Rate exceeded (local cloud fault injection)",
    500: "Internal failure (local cloud fault injection)",
    502: "Bad gateway (local cloud fault injection)",
    503: "Service unavailable (local cloud fault injection)",
    504: "Request timed out (local cloud fault injection)",
}


def fault_response(
    environ: dict[str, Any],
    service: str | None,
    status: int,
    code: str | None = None,
    message: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """The error in the caller's protocol; code and message default to the service's own for the status."""
    code = code or _CODES.get(service or "", {}).get(status) or _DEFAULT.get(status, "InternalFailure")
    message = message or _MESSAGES.get(status, "Injected fault")
    content_type = environ.get("CONTENT_TYPE", "") or ""
    headers = {"x-amzn-RequestId": "00000000-0000-0000-0000-000000000000", "x-amzn-ErrorType": code}
    headers.update(extra_headers or {})
    if "cbor" in content_type or environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor":
        headers["smithy-protocol"] = "rpc-v2-cbor"
        return Response(
            error_body({"__type": code, "message": message}),
            status=status,
            headers=headers,
            content_type="application/cbor",
        )
    if environ.get("HTTP_X_AMZ_TARGET") or "x-amz-json" in content_type:
        return Response(
            json.dumps({"__type": code, "message": message}),
            status=status,
            headers=headers,
            content_type="application/x-amz-json-1.1",
        )
    if "x-www-form-urlencoded" in content_type:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
            "</Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
        )
        return Response(body, status=status, headers=headers, content_type="text/xml")
    return Response(
        json.dumps({"message": message}), status=status, headers=headers, content_type="application/json"
    )
