"""The execute-api data plane: http://127.0.0.1:PORT/restapis/{api_id}/{stage}/_user_request_/{path}.

Per request: pick canary or stage (probability percentTraffic/100), throttle, route in the chosen deployment's
snapshot, substitute stage variables (canary overrides applied) into the AWS_PROXY URI, invoke the function
from its
own zip with a version 1.0 proxy event, map the outcome as API Gateway does, and publish AWS/ApiGateway and
AWS/Lambda metrics.

Outcome mapping (API Gateway developer guide, "Set up Lambda proxy integrations" and the Lambda error pages):
- malformed proxy response, handler exception, Lambda's own timeout: 502 {"message": "Internal server error"}
- integration timeout (timeoutInMillis, default 29 s, shorter than the function's timeout): 504
  {"message": "Endpoint request timed out"}
- missing function, missing invoke permission, Lambda throttling: 500 {"message": "Internal server error"}
- stage throttling: 429 {"message": "Too Many Requests"}; unknown resource/method: 403 "Missing
Authentication Token"
"""

from __future__ import annotations

import base64
import logging
import random
import re
import threading
import time
import uuid
from fnmatch import fnmatchcase
from typing import Any

from moto.apigateway.models import apigateway_backends
from moto.awslambda.models import lambda_backends
from werkzeug.wrappers import Request, Response

from .cloudwatch import store_for
from .faults import FaultRegistry
from .lambda_runtime import FunctionSpec, InvokeOutcome, LambdaRuntime
from .metrics import SETTINGS
from .proxy_integration import (
    MalformedProxyResponse,
    error_response,
    proxy_event,
    proxy_response,
    substitute_stage_variables,
)
from .routes import ApiSnapshot, snapshot_api
from .throttle import Throttler

log = logging.getLogger("localcloud.dataplane")

_LAMBDA_URI = re.compile(r"^arn:[^:]+:apigateway:[^:]+:lambda:path/[^/]+/functions/(?P<fn>.+)/invocations$")
_FN_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):lambda:(?P<region>[^:]+):(?P<account>\d+):function:"
    r"(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$"
)


def _permission_allows(fn: Any, source_arn: str) -> bool:
    """Does the function's resource policy let apigateway.amazonaws.com invoke it for source_arn?"""
    for statement in getattr(fn.policy, "statements", []) or []:
        if statement.get("Effect", "Allow") != "Allow":
            continue
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else (actions or [])
        if not any(a in ("lambda:InvokeFunction", "lambda:*", "*") for a in actions):
            continue
        principal = statement.get("Principal")
        services: list[str] = []
        if isinstance(principal, dict):
            svc = principal.get("Service") or principal.get("AWS")
            services = [svc] if isinstance(svc, str) else list(svc or [])
        elif isinstance(principal, str):
            services = [principal]
        if not any(s in ("apigateway.amazonaws.com", "*") for s in services):
            continue
        condition = statement.get("Condition") or {}
        arn_like = (condition.get("ArnLike") or {}).get("AWS:SourceArn")
        if arn_like and not fnmatchcase(source_arn, arn_like):
            continue
        arn_equals = (condition.get("ArnEquals") or {}).get("AWS:SourceArn")
        if arn_equals and arn_equals != source_arn:
            continue
        return True
    return False


class DataPlane:
    def __init__(self, runtime: LambdaRuntime, faults: FaultRegistry, rng: random.Random | None = None):
        self.runtime = runtime
        self.faults = faults
        self.throttler = Throttler()
        self._rng = rng or random.Random()
        self._api_index: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    # -- lookups ---------------------------------------------------------------------------------------------
    def _find_api(self, api_id: str) -> tuple[str, str, Any] | None:
        cached = self._api_index.get(api_id)
        if cached:
            account, region = cached
            api = dict.get(dict.get(apigateway_backends, account, {}), region)
            if api is not None and api_id in api.apis:
                return account, region, api.apis[api_id]
        for account, regions in dict.items(apigateway_backends):
            for region, backend in dict.items(regions):
                if api_id in backend.apis:
                    self._api_index[api_id] = (account, region)
                    return account, region, backend.apis[api_id]
        return None

    @staticmethod
    def _snapshot(api: Any, deployment_id: str | None) -> ApiSnapshot | None:
        deployment = api.deployments.get(deployment_id) if deployment_id else None
        if deployment is None:
            return None
        snap = getattr(deployment, "snapshot", None)
        if snap is None:  # deployments made outside our CreateDeployment path (e.g. CloudFormation)
            snap = deployment.snapshot = snapshot_api(api)
        return snap

    # -- request
    # ------------------------------------------------------------------------------------------------
    def handle(self, request: Request, api_id: str, stage_name: str, path: str) -> Response:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        found = self._find_api(api_id)
        if found is None:
            return error_response(403, "Forbidden", request_id)
        account, region, api = found
        stage = api.stages.get(stage_name)
        if stage is None:
            return error_response(403, "Forbidden", request_id)
        canary = getattr(stage, "canary_settings", None)
        use_canary = bool(canary) and self._rng.random() * 100.0 < float(canary.get("percentTraffic") or 0.0)
        if use_canary:
            deployment_id = canary.get("deploymentId")
            variables = dict(stage.variables or {})
            variables.update(canary.get("stageVariableOverrides") or {})
        else:
            deployment_id = stage.deployment_id
            variables = dict(stage.variables or {})
        publish_canary = use_canary and SETTINGS.canary_dimension
        stage_dims = [stage_name, f"{stage_name}/Canary"] if publish_canary else [stage_name]
        integration_ms: float | None = None
        try:
            response, integration_ms = self._serve(
                request, account, region, api, stage, stage_name, deployment_id, variables, path, request_id
            )
        except Exception:
            log.exception("data plane failure for %s %s", request.method, request.path)
            response = error_response(500, "Internal server error", request_id)
        response.headers["x-amz-apigw-id"] = base64.b64encode(uuid.uuid4().bytes[:6]).decode()
        response.headers["X-Amzn-Trace-Id"] = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
        latency_ms = (time.perf_counter() - started) * 1000.0
        self._publish_apigw(
            account, region, api.name or api.id, stage_dims, response.status_code, latency_ms, integration_ms
        )
        return response

    def _serve(
        self,
        request: Request,
        account: str,
        region: str,
        api: Any,
        stage: Any,
        stage_name: str,
        deployment_id: str | None,
        variables: dict[str, str],
        path: str,
        request_id: str,
    ) -> tuple[Response, float | None]:
        snapshot = self._snapshot(api, deployment_id)
        if snapshot is None:
            return error_response(403, "Forbidden", request_id), None
        method = request.method.upper()
        matched = snapshot.match(method, path)
        if matched is None:
            return error_response(
                403,
                "Missing Authentication Token",
                request_id,
                {"x-amzn-ErrorType": "MissingAuthenticationTokenException"},
            ), None
        route, path_params = matched
        if not self.throttler.allow(api.id, stage_name, stage.method_settings or {}, route.path, method):
            return error_response(429, "Too Many Requests", request_id), None
        integration = route.integration
        if integration is None:
            return error_response(500, "Internal server error", request_id), None
        if integration.type == "MOCK":
            return Response(
                b"", status=200, headers={"x-amzn-RequestId": request_id, "Content-Type": "application/json"}
            ), 0.0
        if integration.type != "AWS_PROXY":
            log.warning("integration type %s is not emulated by the local data plane", integration.type)
            return error_response(500, "Internal server error", request_id), None
        uri = substitute_stage_variables(integration.uri, variables)
        uri_match = _LAMBDA_URI.match(uri)
        fn_match = _FN_ARN.match(uri_match.group("fn")) if uri_match else None
        if fn_match is None:
            log.warning("Execution failed due to configuration error: invalid Lambda function URI %s", uri)
            return error_response(500, "Internal server error", request_id), None
        fn = self._function(fn_match)
        if fn is None:
            log.warning(
                "Execution failed due to configuration error: function %s not found", uri_match.group("fn")
            )
            return error_response(500, "Internal server error", request_id), None
        source_arn = (
            f"arn:aws:execute-api:{region}:{account}:{api.id}/{stage_name}/{method}"
            f"{route.path if route.path != '/' else '/'}"
        )
        if not integration.credentials and not _permission_allows(fn, source_arn):
            log.warning(
                "Execution failed due to configuration error: Invalid permissions on Lambda function %s",
                fn.function_name,
            )
            return error_response(500, "Internal server error", request_id), None
        event = proxy_event(
            request, account, api, stage_name, route, path, path_params, variables, request_id
        )
        spec = _spec_of(fn)
        inject = self.faults.lambda_injection(fn.function_name)
        integration_timeout = integration.timeout_ms / 1000.0
        wait_s = min(spec.timeout_s, integration_timeout)
        invoke_started = time.perf_counter()
        outcome = self.runtime.invoke(spec, fn.code_bytes, event, str(uuid.uuid4()), wait_s, inject)
        integration_ms = (time.perf_counter() - invoke_started) * 1000.0
        lambda_timed_out = outcome.kind == "timeout" and spec.timeout_s <= integration_timeout
        self._publish_lambda(fn, spec, outcome, lambda_timed_out)
        if outcome.kind == "ok":
            try:
                return proxy_response(outcome.result, request_id), integration_ms
            except MalformedProxyResponse as exc:
                log.warning(
                    "Execution failed due to configuration error: Malformed Lambda proxy response (%s)", exc
                )
                return error_response(502, "Internal server error", request_id), integration_ms
        if outcome.kind == "timeout" and not lambda_timed_out:
            return error_response(504, "Endpoint request timed out", request_id), integration_ms
        if outcome.kind == "throttled":
            return error_response(500, "Internal server error", request_id), integration_ms
        log.info(
            "Lambda %s failed: %s: %s",
            fn.function_name,
            outcome.error_type or "Task timed out",
            outcome.error_message or "",
        )
        return error_response(502, "Internal server error", request_id), integration_ms

    @staticmethod
    def _function(fn_match: re.Match[str]) -> Any:
        backend = dict.get(dict.get(lambda_backends, fn_match.group("account"), {}), fn_match.group("region"))
        if backend is None:
            return None
        try:
            return backend._lambdas.get_function_by_name_or_arn_with_qualifier(
                fn_match.group("name"), fn_match.group("qualifier")
            )
        except Exception:  # UnknownFunctionException and friends
            return None

    # -- metrics
    # ------------------------------------------------------------------------------------------------
    @staticmethod
    def _publish_apigw(
        account: str,
        region: str,
        api_name: str,
        stages: list[str],
        status: int,
        latency_ms: float,
        integration_ms: float | None,
    ) -> None:
        """AWS/ApiGateway metrics for one request.

        Dimension sets: {ApiName} and {ApiName, Stage}. A canary request is also published under
        Stage="{stage}/Canary": "the canary release has its own logs and metrics generated for all canary
        requests. They are reported to a production stage CloudWatch Logs log group as well as a
        canary-specific
        CloudWatch Logs log group" (https://docs.aws.amazon.com/apigateway/latest/developerguide/canary-release.html),
        which names the canary-specific group "{stage-name}/Canary". So the stage's own metrics count every
        request and baseline = stage minus canary.
        """
        is4 = 1.0 if 400 <= status < 500 else 0.0
        is5 = 1.0 if status >= 500 else 0.0
        dim_sets = [frozenset({("ApiName", api_name)})]
        dim_sets += [frozenset({("ApiName", api_name), ("Stage", s)}) for s in stages]
        samples = []
        for dims in dim_sets:
            samples += [
                ("Count", dims, 1.0, "Count"),
                ("4XXError", dims, is4, "Count"),
                ("5XXError", dims, is5, "Count"),
                ("Latency", dims, latency_ms, "Milliseconds"),
            ]
            if integration_ms is not None:
                samples.append(("IntegrationLatency", dims, integration_ms, "Milliseconds"))
        store_for(account, region).put_many("AWS/ApiGateway", samples)

    @staticmethod
    def _publish_lambda(fn: Any, spec: FunctionSpec, outcome: InvokeOutcome, timed_out: bool) -> None:
        dims = frozenset({("FunctionName", fn.function_name)})
        samples: list[tuple[str, frozenset, float, str | None]] = []
        if outcome.kind == "throttled":
            samples.append(("Throttles", dims, 1.0, "Count"))
        else:
            failed = outcome.kind == "error" or timed_out
            samples += [
                ("Invocations", dims, 1.0, "Count"),
                ("Errors", dims, 1.0 if failed else 0.0, "Count"),
                ("Duration", dims, outcome.duration_ms, "Milliseconds"),
            ]
        store_for(spec.account_id, spec.region).put_many("AWS/Lambda", samples)


def _spec_of(fn: Any) -> FunctionSpec:
    env = fn.environment_vars or {}
    return FunctionSpec(
        name=fn.function_name,
        arn=fn.function_arn,
        version=str(fn.version),
        code_sha256=fn.code_sha_256,
        handler=fn.handler or "lambda_function.lambda_handler",
        runtime=fn.run_time or "python3.12",
        environment=tuple(sorted((str(k), str(v)) for k, v in env.items())),
        timeout_s=float(fn.timeout or 3),
        memory_mb=int(fn.memory_size or 128),
        reserved_concurrency=(int(fn.reserved_concurrency) if fn.reserved_concurrency is not None else None),
        region=fn.region,
        account_id=fn.account_id,
    )
