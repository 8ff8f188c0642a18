"""An incoming AWS API request, read far enough to authorise it: who signed it, for which service and region,
which operation, with which parameters.

- Credentials: the SigV4 `Authorization` header (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`) or a
  presigned URL's `X-Amz-Credential`; the session token from `X-Amz-Security-Token`
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html). Signatures are not verified.
- Operation, per wire protocol: `Action=` (query protocol: IAM, STS, SNS, CloudWatch query), `X-Amz-Target`
  (JSON protocol), `/service/{S}/operation/{Op}` (Smithy RPC v2 CBOR), and for REST protocols the operation
  whose botocore `requestUri` template and HTTP method match the path (Lambda). API Gateway needs no
  operation name: its IAM actions are the HTTP verb on the path.
The body is read once and put back, so moto reads the same bytes.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import botocore.session

from . import rpcv2_cbor

_CREDENTIAL = re.compile(
    r"Credential=(?P<key>[^/\s,]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request"
)
_CBOR_PATH = re.compile(r"^/service/[^/]+/operation/(?P<operation>[^/]+)$")
# Signing names whose botocore model has another name.
_MODEL_NAMES = {"monitoring": "cloudwatch", "email": "ses", "states": "stepfunctions", "es": "opensearch"}


@dataclass(frozen=True)
class AwsCall:
    access_key_id: str
    session_token: str | None
    signing_name: str  # the credential scope's service ("monitoring" for CloudWatch)
    region: str
    protocol: str  # "query" | "json" | "cbor" | "rest"
    operation: str | None  # None: a REST call no botocore operation matches
    method: str
    raw_path: str  # as sent, percent-encoding kept (API Gateway's resource ARNs use it)
    params: dict[str, Any] = field(default_factory=dict)
    source_ip: str = ""

    @property
    def service_prefix(self) -> str:
        """The IAM service prefix (https://docs.aws.amazon.com/service-authorization/latest/reference/)."""
        return "cloudwatch" if self.signing_name == "monitoring" else self.signing_name

    def param(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if isinstance(value, str) and value else None

    def param_list(self, name: str) -> list[str]:
        """A list parameter in any protocol: JSON/CBOR lists, or query `Name.member.N` keys."""
        value = self.params.get(name)
        if isinstance(value, list):
            return [str(v) for v in value]
        members = []
        for key, item in self.params.items():
            match = re.fullmatch(re.escape(name) + r"\.member\.(\d+)", key)
            if match:
                members.append((int(match.group(1)), str(item)))
        return [item for _, item in sorted(members)]

    def tags(self) -> dict[str, str]:
        """Tags in a request, whichever shape the service uses (list of Key/Value, or a map)."""
        value = self.params.get("Tags") or self.params.get("tags")
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        if isinstance(value, list):
            return {str(t.get("Key")): str(t.get("Value", "")) for t in value if isinstance(t, dict)}
        out = {}
        for key, item in self.params.items():
            match = re.fullmatch(r"Tags\.member\.(\d+)\.Key", key)
            if match:
                out[str(item)] = str(self.params.get(f"Tags.member.{match.group(1)}.Value", ""))
        return out


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put an equivalent stream back for whoever handles the request next."""
    length = environ.get("CONTENT_LENGTH")
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        return b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _flat(query: str) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}


class _RestIndex:
    """botocore's REST operations of a service, matched by HTTP method and requestUri template."""

    def __init__(self) -> None:
        self._session = botocore.session.get_session()
        self._lock = threading.Lock()
        self._routes: dict[str, list[tuple[int, str, re.Pattern[str], tuple[str, ...], Any]]] = {}

    def _build(self, service: str) -> list[tuple[int, str, re.Pattern[str], tuple[str, ...], Any]]:
        try:
            model = self._session.get_service_model(_MODEL_NAMES.get(service, service))
        except Exception:  # noqa: BLE001 - no model: no REST operation can be named
            return []
        routes = []
        for name in model.operation_names:
            operation = model.operation_model(name)
            http = operation.http
            uri, _, query = http.get("requestUri", "/").partition("?")
            regex = re.sub(
                r"\\\{([A-Za-z0-9_]+)(\\\+)?\\\}",
                lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})",
                re.escape(uri),
            )
            literal = len(re.sub(r"\{[^}]+\}", "", uri))
            required = tuple(part.split("=", 1)[0] for part in query.split("&") if part)
            routes.append((literal, http.get("method", "POST"), re.compile(regex), required, operation))
        routes.sort(key=lambda route: -route[0])
        return routes

    def match(
        self, service: str, method: str, path: str, query: dict[str, str]
    ) -> tuple[Any, dict[str, str]]:
        with self._lock:
            if service not in self._routes:
                self._routes[service] = self._build(service)
            routes = self._routes[service]
        for _, verb, regex, required, operation in routes:
            if verb != method or any(key not in query for key in required):
                continue
            found = regex.fullmatch(path)
            if found:
                return operation, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
        return None, {}


@functools.lru_cache(maxsize=1)
def _rest_index() -> _RestIndex:
    return _RestIndex()


def _rest_params(service: str, environ: dict[str, Any], path: str, body: bytes) -> tuple[str | None, dict]:
    query = _flat(environ.get("QUERY_STRING", "") or "")
    operation, labels = _rest_index().match(service, environ.get("REQUEST_METHOD", "GET"), path, query)
    if operation is None:
        return None, {}
    params: dict[str, Any] = {}
    shape = operation.input_shape
    if shape is not None:
        # Query-string members by their wire names (e.g. Lambda's Qualifier).
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "querystring" and wire in query:
                params[name] = query[wire]
        if body and "payload" not in shape.serialization:
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict):
                params.update(decoded)
    # Path labels by member name (the template names some by wire name: Lambda's {ARN} is `Resource`).
    members = {
        member.serialization.get("name", name): name
        for name, member in (shape.members.items() if shape is not None else ())
        if member.serialization.get("location") == "uri"
    }
    params.update({members.get(label, label): value for label, value in labels.items()})
    return operation.name, params


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    session_token: str | None
    signing_name: str
    region: str


def parse_credentials(environ: dict[str, Any]) -> Credentials | None:
    """The SigV4 credential scope and session token of a request; None when it is not signed."""
    auth = environ.get("HTTP_AUTHORIZATION", "") or ""
    credential = _CREDENTIAL.search(auth)
    query: dict[str, str] = {}
    if credential is None:
        query = _flat(environ.get("QUERY_STRING", "") or "")
        if "X-Amz-Credential" not in query:
            return None
        credential = _CREDENTIAL.search("Credential=" + query["X-Amz-Credential"])
        if credential is None:
            return None
    token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN") or query.get("X-Amz-Security-Token")
    return Credentials(
        credential.group("key"), token, credential.group("service"), credential.group("region")
    )


def parse_call(environ: dict[str, Any], credentials: Credentials) -> AwsCall:
    """The call as far as IAM cares: operation and parameters in whichever protocol it was sent."""
    query = _flat(environ.get("QUERY_STRING", "") or "")
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "") or "/"
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or urllib.parse.quote(path)
    raw_path = raw_uri.split("?", 1)[0]
    content_type = (environ.get("CONTENT_TYPE") or "").lower()
    service = credentials.signing_name
    body = _read_body(environ)
    params: dict[str, Any] = {}
    cbor = _CBOR_PATH.match(path)
    if cbor and rpcv2_cbor.is_cbor_call(environ):
        protocol, operation = "cbor", cbor.group("operation")
        try:
            raw = gzip.decompress(body) if "gzip" in (environ.get("HTTP_CONTENT_ENCODING") or "") else body
            decoded = rpcv2_cbor.decode(raw)
        except Exception:  # noqa: BLE001 - the CBOR front end answers malformed bodies itself
            decoded = {}
        params = decoded if isinstance(decoded, dict) else {}
    elif environ.get("HTTP_X_AMZ_TARGET"):
        protocol = "json"
        operation = environ["HTTP_X_AMZ_TARGET"].rsplit(".", 1)[-1]
        try:
            decoded = json.loads(body) if body else {}
        except ValueError:
            decoded = {}
        params = decoded if isinstance(decoded, dict) else {}
    elif "Action" in query or ("x-www-form-urlencoded" in content_type and b"Action=" in body):
        protocol = "query"
        params = {**query, **_flat(body.decode("utf-8", errors="replace"))}
        operation = params.get("Action")
    else:
        protocol = "rest"
        operation, params = _rest_params(service, environ, path, body)
    return AwsCall(
        access_key_id=credentials.access_key_id,
        session_token=credentials.session_token,
        signing_name=service,
        region=credentials.region,
        protocol=protocol,
        operation=operation,
        method=method,
        raw_path=raw_path,
        params=params,
        source_ip=environ.get("REMOTE_ADDR", ""),
    )
