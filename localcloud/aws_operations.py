"""Which AWS operation an HTTP request calls, read the way the service itself routes it.

- API Gateway (REST APIs and V2, both signed as `apigateway`): method + path against the request URIs of
  botocore's own service models (`POST /restapis/{restapi_id}/deployments` is CreateDeployment). CreateRestApi
  and ImportRestApi are further split by endpoint type, because their quotas differ: the body's
  `endpointConfiguration.types` / the `endpointConfigurationTypes` query parameter; EDGE when absent, as
  API Gateway defaults to it.
- CloudWatch (signed as `monitoring`): the JSON protocol's `X-Amz-Target`, the smithy-rpc-v2-cbor path
  `/service/GraniteServiceVersion20100801/operation/{Op}`, or the query protocol's `Action` form field.

A body that has to be read is put back (`wsgi.input`), so moto still sees it.
"""

from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import botocore.session

_CBOR_PATH = re.compile(r"^/service/[^/]+/operation/(?P<op>[^/]+)$")
_ENDPOINT_SPLIT = ("CreateRestApi", "ImportRestApi")


@dataclass(frozen=True)
class Operation:
    service: str  # signing name
    name: str  # e.g. CreateDeployment, CreateRestApi:REGIONAL, CreateVpcLink (V2)


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    query: tuple[tuple[str, str], ...]  # literal query parameters the URI requires, e.g. mode=import
    literal_chars: int  # more literal text = more specific; the most specific match wins
    operation: str


def _compile(method: str, request_uri: str, operation: str) -> _Route:
    path, _, query = request_uri.partition("?")
    regex = ""
    literal = 0
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            regex += ".+" if part.endswith("+}") else "[^/]+"
        else:
            regex += re.escape(part)
            literal += len(part)
    required = tuple((k, v[0]) for k, v in parse_qs(query).items())
    return _Route(method, re.compile(f"^{regex}/?$"), required, literal + len(query), operation)


class _RestRoutes:
    """Request URIs of API Gateway's REST-JSON models, built once on first use."""

    def __init__(self, services: tuple[tuple[str, str], ...]) -> None:
        self._services = services
        self._routes: list[_Route] | None = None
        self._lock = threading.Lock()

    def routes(self) -> list[_Route]:
        if self._routes is None:
            with self._lock:
                if self._routes is None:
                    session = botocore.session.get_session()
                    routes = []
                    for service, suffix in self._services:
                        model = session.get_service_model(service)
                        for name in model.operation_names:
                            http = model.operation_model(name).http
                            routes.append(_compile(http["method"], http["requestUri"], name + suffix))
                    self._routes = sorted(routes, key=lambda r: -r.literal_chars)
        return self._routes

    def match(self, method: str, path: str, query: dict[str, list[str]]) -> str | None:
        for route in self.routes():
            if route.method != method or not route.pattern.match(path):
                continue
            if all(query.get(k, [None])[0] == v for k, v in route.query):
                return route.operation
        return None


# API Gateway V2 operations carry the suffix AWS's quota table gives them: "CreateVpcLink (V2)".
_APIGATEWAY = _RestRoutes((("apigateway", ""), ("apigatewayv2", " (V2)")))


def _buffered_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back for whoever reads it next."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _endpoint_type(operation: str, environ: dict[str, Any], query: dict[str, list[str]]) -> str:
    if operation == "ImportRestApi":
        types = (query.get("endpointConfigurationTypes") or [""])[0]
    else:
        try:
            body = json.loads(_buffered_body(environ) or b"{}")
        except ValueError:
            body = {}
        types_list = ((body or {}).get("endpointConfiguration") or {}).get("types") or []
        types = types_list[0] if types_list else ""
    return "EDGE" if (types or "EDGE").upper() == "EDGE" else "REGIONAL"


def _apigateway_operation(environ: dict[str, Any]) -> str | None:
    method = (environ.get("REQUEST_METHOD") or "GET").upper()
    path = environ.get("PATH_INFO") or "/"
    query = parse_qs(environ.get("QUERY_STRING") or "")
    operation = _APIGATEWAY.match(method, path, query)
    if operation in _ENDPOINT_SPLIT:
        return f"{operation}:{_endpoint_type(operation, environ, query)}"
    return operation


def _cloudwatch_operation(environ: dict[str, Any]) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET") or ""
    if target:
        return target.rsplit(".", 1)[-1]
    cbor = _CBOR_PATH.match(environ.get("PATH_INFO") or "")
    if cbor:
        return cbor.group("op")
    if "x-www-form-urlencoded" in (environ.get("CONTENT_TYPE") or ""):
        form = parse_qs(_buffered_body(environ).decode("utf-8", "replace"))
        return (form.get("Action") or [None])[0]
    return (parse_qs(environ.get("QUERY_STRING") or "").get("Action") or [None])[0]


def classify(environ: dict[str, Any], service: str | None) -> Operation | None:
    """The operation a request calls, for the services whose quotas are enforced; None for the others."""
    if service == "apigateway":
        name = _apigateway_operation(environ)
    elif service == "monitoring":
        name = _cloudwatch_operation(environ)
    else:
        return None
    return Operation(service, name) if name else None
