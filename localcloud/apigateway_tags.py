"""API Gateway TagResource / UntagResource / GetTags for every taggable resource.

moto 5.2.5 routes /tags/{arn} only for stage ARNs (and only when the ARN arrives undecoded), so the SDKs'
TagResource on a REST API answers 404. The front app sends /tags/arn:...:apigateway:... here instead.
https://docs.aws.amazon.com/apigateway/latest/api/API_TagResource.html
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.apigateway.models import apigateway_backends
from werkzeug.wrappers import Request, Response

_ARN = re.compile(r"^arn:[^:]+:apigateway:(?P<region>[^:]*):[^:]*:(?P<path>/.+)$")


def _error(status: int, error_type: str, message: str) -> Response:
    return Response(
        json.dumps({"message": message}),
        status=status,
        headers={"x-amzn-ErrorType": error_type, "Content-Type": "application/json"},
    )


def _resource(backend: Any, path: str) -> Any:
    parts = [p for p in path.split("/") if p]
    try:
        if len(parts) == 2 and parts[0] == "restapis":
            return backend.get_rest_api(parts[1])
        if len(parts) == 4 and parts[0] == "restapis" and parts[2] == "stages":
            return backend.get_stage(parts[1], parts[3])
        if len(parts) == 2 and parts[0] == "domainnames":
            return backend.get_domain_name(parts[1])
        if len(parts) == 2 and parts[0] == "apikeys":
            return backend.get_api_key(parts[1])
        if len(parts) == 2 and parts[0] == "usageplans":
            return backend.get_usage_plan(parts[1])
        if len(parts) == 2 and parts[0] == "vpclinks":
            return backend.get_vpc_link(parts[1])
    except Exception:  # moto raises its own NotFound types; all mean the same here
        return None
    return None


def handle(request: Request, account_id: str, default_region: str) -> Response:
    arn = request.path[len("/tags/") :]
    match = _ARN.match(arn)
    if not match:
        return _error(400, "BadRequestException", f"Invalid resource ARN {arn!r}")
    backend = apigateway_backends[account_id][match.group("region") or default_region]
    resource = _resource(backend, match.group("path"))
    if resource is None:
        return _error(404, "NotFoundException", f"Invalid resource identifier specified: {arn}")
    tags = dict(getattr(resource, "tags", None) or {})
    if request.method == "GET":
        return Response(json.dumps({"tags": tags}), status=200, content_type="application/json")
    if request.method in ("PUT", "POST"):
        body = request.get_json(force=True, silent=True) or {}
        new_tags = body.get("tags") or {}
        if not isinstance(new_tags, dict):
            return _error(400, "BadRequestException", "tags must be a map of strings")
        tags.update({str(k): str(v) for k, v in new_tags.items()})
        resource.tags = tags
        return Response(status=204)
    if request.method == "DELETE":
        for key in request.args.getlist("tagKeys"):
            tags.pop(key, None)
        resource.tags = tags
        return Response(status=204)
    return _error(405, "BadRequestException", f"Method {request.method} is not supported on /tags")
