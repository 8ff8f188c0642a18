"""Deployment snapshots and request routing.

An API Gateway deployment is a snapshot of the API definition: changing an integration afterwards does not
change
what an existing deployment serves ("The resulting deployment id identifies a snapshot (or version) of the
API",
https://docs.aws.amazon.com/apigateway/latest/developerguide/create-canary-deployment.html). moto's
deployments
hold only an id, so we record the routes at CreateDeployment time and the data plane serves from that record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IntegrationSnapshot:
    type: str
    uri: str
    http_method: str | None
    timeout_ms: int
    credentials: str | None


@dataclass(frozen=True)
class RouteSnapshot:
    resource_id: str
    path: str  # resource path template, e.g. /items/{id} or /{proxy+}
    method: str  # GET, POST, ... or ANY
    authorization_type: str
    api_key_required: bool
    integration: IntegrationSnapshot | None


@dataclass(frozen=True)
class _CompiledResource:
    path: str
    pattern: re.Pattern[str]
    param_names: tuple[str, ...]
    literal_segments: int
    greedy: bool
    methods: dict[str, RouteSnapshot]


@dataclass(frozen=True)
class ApiSnapshot:
    """The routes one deployment serves."""

    resources: tuple[_CompiledResource, ...]

    def match(self, method: str, path: str) -> tuple[RouteSnapshot, dict[str, str]] | None:
        """Route for method + path: literal paths beat parameters, parameters beat greedy {proxy+}."""
        path = path or "/"
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
        for resource in self.resources:
            found = resource.pattern.match(path)
            if not found:
                continue
            # The most specific matching resource decides; a method it lacks is not looked up in a greedy
            # parent (API Gateway answers 403 Missing Authentication Token).
            route = resource.methods.get(method) or resource.methods.get("ANY")
            if route is None:
                return None
            params = {name: found.group(f"p{i}") for i, name in enumerate(resource.param_names)}
            return route, params
        return None

    def has_path(self, path: str) -> bool:
        return any(r.pattern.match(path or "/") for r in self.resources)


def _compile(path: str, methods: dict[str, RouteSnapshot]) -> _CompiledResource:
    if path == "/":
        return _CompiledResource(path, re.compile(r"^/$"), (), 0, False, methods)
    parts = [p for p in path.split("/") if p]
    regex = ""
    names: list[str] = []
    literal = 0
    greedy = False
    for part in parts:
        m = re.fullmatch(r"\{([^}+]+)(\+?)\}", part)
        if m:
            group = f"p{len(names)}"
            names.append(m.group(1))
            if m.group(2):
                greedy = True
                regex += f"/(?P<{group}>.+)"
            else:
                regex += f"/(?P<{group}>[^/]+)"
        else:
            literal += 1
            regex += "/" + re.escape(part)
    return _CompiledResource(path, re.compile(f"^{regex}$"), tuple(names), literal, greedy, methods)


def _sort_key(resource: _CompiledResource) -> tuple[int, int, int]:
    # Greedy paths last; among the rest, more literal segments first, then more segments.
    segments = len([p for p in resource.path.split("/") if p])
    return (1 if resource.greedy else 0, -resource.literal_segments, -segments)


def snapshot_api(api: Any) -> ApiSnapshot:
    """Freeze moto RestAPI resources/methods/integrations into an ApiSnapshot."""
    by_id = api.resources
    paths: dict[str, str] = {}

    def path_of(resource_id: str) -> str:
        if resource_id in paths:
            return paths[resource_id]
        res = by_id[resource_id]
        if not res.parent_id:
            result = "/"
        else:
            parent = path_of(res.parent_id)
            result = (parent.rstrip("/") + "/" + res.path_part) if parent != "/" else "/" + res.path_part
        paths[resource_id] = result
        return result

    compiled = []
    for resource_id, res in by_id.items():
        methods: dict[str, RouteSnapshot] = {}
        for method_name, method in res.resource_methods.items():
            integ = method.method_integration
            integration = None
            if integ is not None:
                integration = IntegrationSnapshot(
                    type=str(integ.integration_type or "").upper(),
                    uri=integ.uri or "",
                    http_method=integ.http_method,
                    timeout_ms=int(integ.timeout_in_millis or 29000),
                    credentials=integ.credentials,
                )
            methods[method_name.upper()] = RouteSnapshot(
                resource_id=resource_id,
                path=path_of(resource_id),
                method=method_name.upper(),
                authorization_type=method.authorization_type or "NONE",
                api_key_required=bool(method.api_key_required),
                integration=integration,
            )
        compiled.append(_compile(path_of(resource_id), methods))
    return ApiSnapshot(tuple(sorted(compiled, key=_sort_key)))
