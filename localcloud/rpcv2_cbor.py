"""Smithy RPC v2 CBOR front end: CBOR calls reach the same moto handlers (and our patches) as JSON calls.

Current AWS SDKs, among them aws-sdk-go-v2 inside the Terraform AWS provider, talk to CloudWatch (and ~40
other services) in smithy-rpc-v2-cbor: `POST /service/{ServiceShape}/operation/{Operation}`, header
`smithy-protocol: rpc-v2-cbor`, CBOR body. moto 5.2.5 only speaks the services' JSON and query protocols,
so each CBOR call is decoded with botocore's own CBOR parser, re-encoded with botocore's JSON serializer, run
through moto in-process, and the JSON answer is parsed with botocore's JSON parser and written back as CBOR.
Every service whose botocore model lists both `smithy-rpc-v2-cbor` and `json` works this way.

Spec: https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html (responses carry
`smithy-protocol: rpc-v2-cbor`; timestamps are tag 1 epoch seconds; errors are a map with `__type`).
"""

from __future__ import annotations

import base64
import gzip
import io
import re
import threading
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.model import OperationModel, OperationNotFoundError, ServiceModel, Shape
from botocore.parsers import BaseCBORParser, create_parser
from botocore.serialize import CBORSerializer, create_serializer
from werkzeug.wrappers import Response

CBOR_CONTENT_TYPE = "application/cbor"
PROTOCOL_HEADER = "smithy-protocol"
PROTOCOL_VALUE = "rpc-v2-cbor"
_PATH = re.compile(r"^/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)$")
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/(?P<service>[^/]+)/aws4_request")
# Signing names that differ from botocore's service name, so the common case needs no scan of every model.
_SIGNING_ALIASES = {"monitoring": "cloudwatch"}


def is_cbor_call(environ: dict[str, Any]) -> bool:
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and environ.get("HTTP_SMITHY_PROTOCOL", "").lower() == PROTOCOL_VALUE
        and _PATH.match(environ.get("PATH_INFO", "") or "") is not None
    )


class _Decoder(BaseCBORParser):
    """botocore's CBOR reader (indefinite lengths, tag-1 timestamps as aware datetimes, half floats)."""

    def decode(self, body: bytes) -> Any:
        if not body:
            return {}
        return self.parse_data_item(self.get_peekable_stream_from_bytes(body))


class _Encoder(CBORSerializer):
    """botocore's CBOR writer, tolerant of moto's loosely typed numbers."""

    TIMESTAMP_FORMAT = "unixtimestamp"

    def encode(self, value: Any, shape: Shape) -> bytes:
        out = bytearray()
        self._serialize_data_item(out, value, shape)
        return bytes(out)

    def encode_error(self, fields: dict[str, str]) -> bytes:
        out = bytearray()
        out.extend(self._get_initial_byte(self.MAP_MAJOR_TYPE, len(fields)))
        for key, value in fields.items():
            self._serialize_type_string(out, key, None, None)
            self._serialize_type_string(out, value, None, None)
        return bytes(out)

    def _serialize_type_integer(self, serialized: bytearray, value: Any, shape: Any, key: Any) -> None:
        super()._serialize_type_integer(serialized, int(value), shape, key)

    def _serialize_type_float(self, serialized: bytearray, value: Any, shape: Any, key: Any) -> None:
        super()._serialize_type_float(serialized, float(value), shape, key)

    def _serialize_type_double(self, serialized: bytearray, value: Any, shape: Any, key: Any) -> None:
        super()._serialize_type_double(serialized, float(value), shape, key)

    def _serialize_type_boolean(self, serialized: bytearray, value: Any, shape: Any, key: Any) -> None:
        super()._serialize_type_boolean(serialized, bool(value), shape, key)


@dataclass(frozen=True)
class CborCall:
    service: ServiceModel
    operation: OperationModel


class ServiceIndex:
    """Maps the `{ServiceShape}` of a CBOR path (botocore's targetPrefix) to the botocore service model."""

    def __init__(self) -> None:
        self._session = botocore.session.get_session()
        self._lock = threading.Lock()
        self._by_target: dict[str, ServiceModel] = {}
        self._scanned = False

    def _model(self, name: str) -> ServiceModel | None:
        try:
            return self._session.get_service_model(name)
        except Exception:  # noqa: BLE001 - an unknown name is simply not a candidate
            return None

    def find(self, target: str, signing_name: str | None) -> ServiceModel | None:
        with self._lock:
            if target in self._by_target:
                return self._by_target[target]
            for name in filter(None, (_SIGNING_ALIASES.get(signing_name or ""), signing_name)):
                model = self._model(name)
                if model is not None and model.metadata.get("targetPrefix") == target:
                    self._by_target[target] = model
                    return model
            if not self._scanned:
                # Rare path (unsigned call or a signing name unlike the service name): one scan, ~3 s.
                self._scanned = True
                loader = self._session.get_component("data_loader")
                for name in loader.list_available_services("service-2"):
                    meta = loader.load_service_model(name, "service-2").get("metadata", {})
                    if "smithy-rpc-v2-cbor" in meta.get("protocols", []) and meta.get("targetPrefix"):
                        self._by_target.setdefault(
                            meta["targetPrefix"], self._session.get_service_model(name)
                        )
            return self._by_target.get(target)


def _params(value: Any, shape: Shape | None) -> Any:
    """Decoded CBOR (wire names) -> botocore parameters (member names); unknown members are dropped."""
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        out = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if wire in value and value[wire] is not None:
                out[name] = _params(value[wire], member)
        return out
    if kind == "list" and isinstance(value, list):
        return [_params(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _params(v, shape.value) for k, v in value.items()}
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    return value


def _error_shape(operation: OperationModel, service: ServiceModel, code: str) -> Shape | None:
    for shape in operation.error_shapes:
        if shape.name == code or shape.metadata.get("error", {}).get("code") == code:
            return shape
    return service.shape_for_error_code(code)


class CborFrontEnd:
    def __init__(self, moto_app: Any):
        self.moto_app = moto_app
        self.index = ServiceIndex()
        self._decoder = _Decoder()
        self._encoder = _Encoder()
        self._json_parser = create_parser("json")
        self._json_serializer = create_serializer("json", include_validation=False)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.handle(environ)(environ, start_response)

    def handle(self, environ: dict[str, Any]) -> Response:
        match = _PATH.match(environ.get("PATH_INFO", "") or "")
        assert match is not None
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", "") or "")
        service = self.index.find(match.group("service"), scope.group("service") if scope else None)
        if service is None:
            return self._error(
                None, None, 404, "UnknownOperationException", f"Unknown service {match.group('service')!r}"
            )
        try:
            operation = service.operation_model(match.group("operation"))
        except OperationNotFoundError:
            return self._error(
                None,
                None,
                404,
                "UnknownOperationException",
                f"Unknown operation {match.group('operation')!r}",
            )
        body = _read_body(environ)
        try:
            decoded = self._decoder.decode(body)
        except Exception as exc:  # noqa: BLE001 - any malformed body is the caller's SerializationException
            return self._error(
                service, operation, 400, "SerializationException", f"Cannot decode CBOR: {exc}"
            )
        if not isinstance(decoded, dict):
            return self._error(
                service, operation, 400, "SerializationException", "The body must be a CBOR map"
            )
        call = CborCall(service, operation)
        status, headers, payload = self._call_moto(environ, call, _params(decoded, operation.input_shape))
        return self._respond(call, status, headers, payload)

    def _call_moto(
        self, environ: dict[str, Any], call: CborCall, params: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes]:
        request = self._json_serializer.serialize_to_request(params, call.operation)
        body = request["body"] if isinstance(request["body"], bytes) else request["body"].encode()
        dropped = ("HTTP_SMITHY_PROTOCOL", "HTTP_ACCEPT", "HTTP_CONTENT_ENCODING", "HTTP_TRANSFER_ENCODING")
        inner = {k: v for k, v in environ.items() if k not in dropped}
        inner.update(
            {
                "PATH_INFO": "/",
                "QUERY_STRING": "",
                "RAW_URI": "/",
                "REQUEST_URI": "/",
                "CONTENT_TYPE": request["headers"]["Content-Type"],
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_X_AMZ_TARGET": request["headers"]["X-Amz-Target"],
                "wsgi.input": io.BytesIO(body),
            }
        )
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = dict(headers)
            return lambda data: None

        chunks = self.moto_app(inner, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        return captured["status"], captured["headers"], payload

    def _respond(self, call: CborCall, status: int, headers: dict[str, str], payload: bytes) -> Response:
        lowered = {k.lower(): v for k, v in headers.items()}
        parsed = self._json_parser.parse(
            {"body": payload, "headers": lowered, "status_code": status}, call.operation.output_shape
        )
        request_id = lowered.get("x-amzn-requestid") or parsed.get("ResponseMetadata", {}).get("RequestId")
        if status >= 300:
            error = parsed.get("Error", {})
            code = str(error.get("Code") or "InternalFailure")
            return self._error(
                call.service, call.operation, status, code, str(error.get("Message") or ""), request_id
            )
        parsed.pop("ResponseMetadata", None)
        out_headers = {PROTOCOL_HEADER: PROTOCOL_VALUE}
        if request_id:
            out_headers["x-amzn-RequestId"] = request_id
        shape = call.operation.output_shape
        if shape is None:
            # No output structure: an empty body (clients read a missing body as an empty output).
            return Response(b"", status=200, headers=out_headers)
        return Response(
            self._encoder.encode(parsed, shape),
            status=200,
            headers=out_headers,
            content_type=CBOR_CONTENT_TYPE,
        )

    def _error(
        self,
        service: ServiceModel | None,
        operation: OperationModel | None,
        status: int,
        code: str,
        message: str,
        request_id: str | None = None,
    ) -> Response:
        code = code.rsplit("#", 1)[-1].split(":", 1)[0]
        shape = _error_shape(operation, service, code) if service and operation else None
        headers = {PROTOCOL_HEADER: PROTOCOL_VALUE}
        if request_id:
            headers["x-amzn-RequestId"] = request_id
        type_name = code
        if shape is not None and service is not None:
            # SDKs pick the exception class by the error *shape* name; awsQueryCompatible services also send
            # the query-protocol code ("ResourceNotFound" for DashboardNotFoundError) in x-amzn-query-error.
            meta = shape.metadata.get("error", {})
            type_name = f"com.amazonaws.{service.service_name}#{shape.name}"
            status = int(meta.get("httpStatusCode", status))
            if "awsQueryCompatible" in service.metadata:
                fault = "Sender" if meta.get("senderFault") else "Receiver"
                headers["x-amzn-query-error"] = f"{meta.get('code', shape.name)};{fault}"
        body = self._encoder.encode_error({"__type": type_name, "message": message})
        return Response(body, status=status, headers=headers, content_type=CBOR_CONTENT_TYPE)


def decode(body: bytes) -> Any:
    """A CBOR document as Python values (an empty body is an empty map)."""
    return _Decoder().decode(body)


def error_body(fields: dict[str, str]) -> bytes:
    """A CBOR map of strings, e.g. {"__type": code, "message": text} (used for injected faults too)."""
    return _Encoder().encode_error(fields)


def _read_body(environ: dict[str, Any]) -> bytes:
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        # Chunked uploads: werkzeug marks the stream as terminated, so read() stops at the end of the body.
        body = stream.read()
    else:
        body = b""
    # SDKs gzip large PutMetricData bodies (the operation's requestcompression trait).
    if "gzip" in (environ.get("HTTP_CONTENT_ENCODING") or "").lower():
        body = gzip.decompress(body)
    return body
