"""The Lambda proxy integration's contract: the event API Gateway sends a function, the result it accepts.

The event is the version 1.0 proxy event; the result must be an object of statusCode, headers,
multiValueHeaders, body and isBase64Encoded and nothing else, or API Gateway answers 502 (API Gateway
developer guide, "Set up Lambda proxy integrations": input and output formats). Hop-by-hop headers the
function sets are dropped, as API Gateway does.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from .routes import RouteSnapshot

_STAGE_VAR = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_.\-:]+)\}")
_ALLOWED_PROXY_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


class MalformedProxyResponse(ValueError):
    """The function's result is not a proxy response API Gateway accepts (it answers 502)."""


def error_response(
    status: int, message: str, request_id: str, extra: dict[str, str] | None = None
) -> Response:
    """API Gateway's own JSON error body, {"message": ...}, with its request id."""
    headers = {"x-amzn-RequestId": request_id, "Content-Type": "application/json"}
    if extra:
        headers.update(extra)
    return Response(json.dumps({"message": message}), status=status, headers=headers)


def substitute_stage_variables(uri: str, variables: dict[str, str]) -> str:
    """The integration URI with each ${stageVariables.name} replaced (an unknown name by nothing)."""
    return _STAGE_VAR.sub(lambda m: variables.get(m.group(1), ""), uri)


def proxy_response(result: Any, request_id: str) -> Response:
    """Turn a Lambda proxy result into the HTTP response, or raise MalformedProxyResponse."""
    if not isinstance(result, dict):
        raise MalformedProxyResponse(f"expected an object, got {type(result).__name__}")
    extra = set(result) - _ALLOWED_PROXY_KEYS
    if extra:
        raise MalformedProxyResponse(f"unexpected field(s) {sorted(extra)}")
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedProxyResponse(f"statusCode must be an integer HTTP status, got {status!r}")
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedProxyResponse("body must be a string")
    headers = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(headers, dict) or not isinstance(multi, dict):
        raise MalformedProxyResponse("headers and multiValueHeaders must be objects")
    is_b64 = result.get("isBase64Encoded", False)
    if not isinstance(is_b64, bool):
        raise MalformedProxyResponse("isBase64Encoded must be a boolean")
    payload: bytes = b""
    if body:
        payload = base64.b64decode(body) if is_b64 else body.encode("utf-8")
    response = Response(payload, status=status)
    response.headers.remove("Content-Type")
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedProxyResponse("multiValueHeaders values must be lists")
        for value in values:
            if str(name).lower() not in _HOP_BY_HOP:
                response.headers.add(str(name), str(value))
    for name, value in headers.items():
        if isinstance(value, dict | list):
            raise MalformedProxyResponse("headers values must be strings")
        if str(name).lower() not in _HOP_BY_HOP:
            response.headers[str(name)] = str(value)
    if "Content-Type" not in response.headers:
        response.headers["Content-Type"] = "application/json"
    response.headers["x-amzn-RequestId"] = request_id
    return response


def proxy_event(
    request: Request,
    account: str,
    api: Any,
    stage_name: str,
    route: RouteSnapshot,
    path: str,
    path_params: dict[str, str],
    variables: dict[str, str],
    request_id: str,
) -> dict[str, Any]:
    """The version 1.0 proxy event API Gateway sends the function for this request."""
    raw = request.get_data()
    body: str | None = None
    is_b64 = False
    if raw:
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            body, is_b64 = base64.b64encode(raw).decode(), True
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    source_ip = request.remote_addr or "127.0.0.1"
    headers.setdefault("X-Forwarded-For", source_ip)
    multi_headers.setdefault("X-Forwarded-For", [source_ip])
    query = {k: v[-1] for k, v in request.args.lists()} or None
    multi_query = {k: list(v) for k, v in request.args.lists()} or None
    now = datetime.now(tz=UTC)
    return {
        "resource": route.path,
        "path": path or "/",
        "httpMethod": request.method.upper(),
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_params or None,
        "stageVariables": variables or None,
        "requestContext": {
            "accountId": account,
            "apiId": api.id,
            "resourceId": route.resource_id,
            "resourcePath": route.path,
            "httpMethod": request.method.upper(),
            "path": f"/{stage_name}{path or '/'}",
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "stage": stage_name,
            "domainName": request.host,
            "domainPrefix": api.id,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": request.headers.get("User-Agent")},
        },
        "body": body,
        "isBase64Encoded": is_b64,
    }
