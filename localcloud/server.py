"""The local cloud process: one WSGI app on 127.0.0.1 in front of moto's server app.

Routes, in order:
- /_localcloud/*                          health, faults, alarm evaluation (our own endpoints)
- /restapis/{id}/{stage}/_user_request_/* the execute-api data plane
- with --enforce-iam, any AWS call its caller's IAM policies do not allow: AccessDenied (iam_enforcement)
- any AWS call while a control-plane fault for its service is active: that fault's error
- with --enforce-quotas, an API Gateway or CloudWatch call over its AWS rate quota: its throttle error
- /tags/arn:...:apigateway:...            API Gateway tagging (moto 404s on it)
- POST /service/{S}/operation/{Op} with smithy-protocol: rpc-v2-cbor   CBOR calls, run through moto as JSON
- everything else                         moto's DomainDispatcherApplication (with our in-process patches)
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from . import (
    apigateway_canary,
    apigateway_tags,
    apigateway_updates,
    cloudwatch,
    lambda_dead_letter,
    lambda_permissions,
    route53_answers,
    route53_health,
    route53_records,
    rpcv2_cbor,
)
from .alarms import AlarmEvaluator
from .aws_errors import fault_response
from .dataplane import DataPlane
from .faults import FaultError, FaultRegistry
from .iam_enforcement import IamEnforcer
from .lambda_runtime import LambdaRuntime
from .metrics import SETTINGS
from .quotas import QuotaEnforcer
from .route53_health import HealthCheckMonitor
from .watchdog import RequestWatchdog

log = logging.getLogger("localcloud")

DEFAULT_ACCOUNT = "123456789012"
_DATA_PLANE = re.compile(r"^/restapis/(?P<api>[^/]+)/(?P<stage>[^/]+)/_user_request_(?P<path>/.*)?$")
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 4566
    metric_period: int = 60
    enforce_iam: bool = False
    enforce_quotas: bool = False


def metric_period_from_env(default: int = 60) -> int:
    raw = os.environ.get("LOCALCLOUD_METRIC_PERIOD")
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise SystemExit(f"LOCALCLOUD_METRIC_PERIOD must be a whole number of seconds, got {raw!r}") from None
    return value


def canary_metrics_from_env() -> bool:
    raw = os.environ.get("LOCALCLOUD_CANARY_METRICS", "on").strip().lower()
    if raw not in ("on", "off"):
        raise SystemExit(f"LOCALCLOUD_CANARY_METRICS must be on or off, got {raw!r}")
    return raw == "on"


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


class LocalCloudApp:
    def __init__(
        self,
        moto_app: Any,
        dataplane: DataPlane,
        faults: FaultRegistry,
        evaluator: AlarmEvaluator,
        iam: IamEnforcer | None = None,
    ):
        self.moto_app = moto_app
        self.iam = iam
        self.dataplane = dataplane
        self.faults = faults
        self.evaluator = evaluator
        self.cbor = rpcv2_cbor.CborFrontEnd(moto_app)
        self.started_at = time.time()
        self.quotas: QuotaEnforcer | None = None  # set when the server enforces AWS's rate quotas
        self.health_checks = HealthCheckMonitor()
        self.watchdog = RequestWatchdog()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.watchdog.watching(_describe_request(environ)):
            return self._dispatch(environ, start_response)

    def _dispatch(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "") or ""
        if path.startswith("/_localcloud/"):
            return self._admin(Request(environ))(environ, start_response)
        match = _DATA_PLANE.match(path)
        if match:
            request = Request(environ)
            response = self.dataplane.handle(
                request, match.group("api"), match.group("stage"), match.group("path") or "/"
            )
            return response(environ, start_response)
        denied = self.iam(environ) if self.iam is not None else None
        if denied is not None:
            return denied(environ, start_response)
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", "") or "")
        service = scope.group("service") if scope else None
        status = self.faults.control_plane_status(service)
        if status is not None:
            return fault_response(environ, service, status)(environ, start_response)
        if self.quotas is not None:
            refused = self.quotas.check(environ, service, scope.group("region") if scope else None)
            if refused is not None:
                return refused(environ, start_response)
        if path.startswith("/tags/arn:") and ":apigateway:" in path and service in (None, "apigateway"):
            region = scope.group("region") if scope else "us-east-1"
            return apigateway_tags.handle(Request(environ), DEFAULT_ACCOUNT, region)(environ, start_response)
        if rpcv2_cbor.is_cbor_call(environ):
            return self.cbor(environ, start_response)
        return self.moto_app(environ, start_response)

    def _admin(self, request: Request) -> Response:
        path = request.path
        if path == "/_localcloud/health":
            return _json(
                {
                    "status": "ok",
                    "pid": os.getpid(),
                    "metric_period": SETTINGS.period,
                    "canary_metrics": SETTINGS.canary_dimension,
                    "iam_enforced": self.iam is not None,
                    "uptime_s": round(time.time() - self.started_at, 3),
                    "quotas": "enforce" if self.quotas is not None else "off",
                }
            )
        if path == "/_localcloud/quotas":
            return _json(self.quotas.describe() if self.quotas is not None else {"enforced": False})
        if path == "/_localcloud/faults":
            if request.method == "GET":
                return _json({"faults": [f.to_json() for f in self.faults.list()]})
            if request.method == "POST":
                body = request.get_json(force=True, silent=True)
                if not isinstance(body, dict):
                    return _json({"message": "Send a JSON object; see docs/contracts.md (Faults)."}, 400)
                try:
                    fault = self.faults.add(body)
                except FaultError as exc:
                    return _json({"message": str(exc)}, 400)
                return _json(fault.to_json(), 201)
            if request.method == "DELETE":
                return _json({"cleared": self.faults.clear()})
        if path.startswith("/_localcloud/faults/") and request.method == "DELETE":
            cleared = self.faults.clear(path.rsplit("/", 1)[-1])
            return _json({"cleared": cleared}, 200 if cleared else 404)
        if path == "/_localcloud/alarms/evaluate" and request.method == "POST":
            return _json({"evaluated": self.evaluator.evaluate_all()})
        if path == "/_localcloud/route53/answer":
            try:
                return _json(
                    route53_answers.answer_query(request.args, DEFAULT_ACCOUNT, self.health_checks.healthy)
                )
            except route53_answers.AnswerError as exc:
                return _json({"message": str(exc)}, 400)
        if path == "/_localcloud/workers":
            return _json({"pids": self.dataplane.runtime.worker_pids()})
        return _json({"message": f"No such local cloud endpoint: {request.method} {path}"}, 404)


def _describe_request(environ: dict[str, Any]) -> str:
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", "") or "")
    target = environ.get("HTTP_X_AMZ_TARGET") or (scope.group("service") if scope else "-")
    return f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')} ({target})"


def build_moto_app() -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    return app


def install_patches() -> None:
    apigateway_canary.install()
    apigateway_updates.install()
    cloudwatch.install()
    lambda_permissions.install()
    lambda_dead_letter.install()
    route53_records.install()


class LocalCloudServer:
    """Owns the HTTP server, the alarm evaluator and the Lambda workers; stop() ends all of them."""

    def __init__(self, config: ServerConfig):
        if config.host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"The local cloud binds loopback only; {config.host!r} is not allowed.")
        if config.metric_period < 1:
            raise SystemExit("--metric-period must be at least 1 second")
        self.config = config
        SETTINGS.period = config.metric_period
        SETTINGS.canary_dimension = canary_metrics_from_env()
        if config.enforce_iam:
            # AWS managed policies (arn:aws:iam::aws:policy/...) can then be attached; ~0.3 s per account.
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        install_patches()
        from moto.moto_server.werkzeug_app import MotoRequestHandler

        class QuietHandler(MotoRequestHandler):
            # Per-request access lines would cost more than the data plane itself at hundreds of req/s.
            def log_request(self, code: Any = "-", size: Any = "-") -> None:
                pass

        self.faults = FaultRegistry()
        self.evaluator = AlarmEvaluator()
        self._server: BaseWSGIServer = make_server(
            config.host,
            config.port,
            None,
            threaded=True,
            request_handler=QuietHandler,  # type: ignore[arg-type]
        )
        self.port = self._server.server_port
        os.environ["MOTO_PORT"] = str(self.port)
        self.runtime = LambdaRuntime(endpoint_url=f"http://127.0.0.1:{self.port}")
        self.app = LocalCloudApp(
            build_moto_app(),
            DataPlane(self.runtime, self.faults),
            self.faults,
            self.evaluator,
            IamEnforcer() if config.enforce_iam else None,
        )
        self.app.quotas = QuotaEnforcer(account=DEFAULT_ACCOUNT) if config.enforce_quotas else None
        self.health_checks = self.app.health_checks
        route53_health.install(self.health_checks)
        self._server.app = self.app
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        self.evaluator.start()
        self.health_checks.start()
        self.app.watchdog.start()
        log.info(
            "local cloud listening on http://%s:%d (metric period %ds, IAM %s, quotas %s)",
            self.config.host,
            self.port,
            self.config.metric_period,
            "enforced" if self.config.enforce_iam else "not enforced",
            "enforced" if self.config.enforce_quotas else "off",
        )
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._cleanup()

    def stop(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            threading.Thread(target=self._server.shutdown, daemon=True).start()

    def _cleanup(self) -> None:
        self.evaluator.stop()
        self.health_checks.stop()
        self.app.watchdog.stop()
        self.runtime.shutdown()
        self._server.server_close()


def serve(config: ServerConfig, port_file: str | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    server = LocalCloudServer(config)

    def on_signal(signum: int, frame: Any) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if port_file:
        tmp = port_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"port": server.port, "pid": os.getpid()}, fh)
        os.replace(tmp, port_file)
    server.serve_forever()
