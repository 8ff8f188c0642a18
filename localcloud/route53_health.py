"""Route 53 health checks that really check: a background monitor probes each endpoint health check's
loopback endpoint every (scaled) RequestInterval, and GetHealthCheckStatus reports what it saw.

moto 5.2.5 stores health checks but never checks them; its GetHealthCheckStatus answers one fixed
"Success" observation whatever the endpoint does. Here:
- every endpoint health check (HTTP, HTTPS, *_STR_MATCH, TCP) is probed by `health_checks.probe`;
- each checker region (the health check's Regions, else all eight Route 53 checker regions, as AWS does when
  Regions is empty) keeps its own view with FailureThreshold semantics; locally one probe per interval
  stands for all checkers, so their views agree;
- GetHealthCheckStatus answers one HealthCheckObservation per checker region (Region, IPAddress 127.0.0.1,
  StatusReport Status + CheckedTime of its last result); none before the first probe;
- `AWS/Route53` `HealthCheckStatus` (1 healthy, 0 unhealthy) and `HealthCheckPercentageHealthy` with
  dimension `HealthCheckId` are published in us-east-1, where Route 53 publishes them
  (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-checks.html).

Interval: AWS checks every 10 or 30 s. Locally the interval is scaled like the metric period,
RequestInterval x metric_period / 60 (at least 0.5 s): 30 s becomes 1 s with a 2 s metric period, and stays
30 s with the default 60 s period. CALCULATED, CLOUDWATCH_METRIC and RECOVERY_CONTROL checks are not
evaluated.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.route53 import models as r53_models
from moto.route53 import responses as r53_responses
from moto.route53.exceptions import InvalidInput

from .cloudwatch import store_for
from .health_checks import ENDPOINT_TYPES, CheckerView, ProbeResult, ProbeTarget, is_healthy, observe, probe
from .metrics import SETTINGS

log = logging.getLogger("localcloud.route53")

CHECKER_REGIONS = (
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
)
METRICS_REGION = "us-east-1"
MIN_LOCAL_INTERVAL_S = 0.5


def local_interval(request_interval: int | None) -> float:
    return max(MIN_LOCAL_INTERVAL_S, float(request_interval or 30) * SETTINGS.period / 60.0)


def target_of(check: Any) -> ProbeTarget:
    host = check.ip_address or check.fqdn or ""
    default_port = 443 if str(check.type_).startswith("HTTPS") else 80
    return ProbeTarget(
        type=str(check.type_),
        host=str(host),
        port=int(check.port or default_port),
        path=str(check.resource_path or "/"),
        host_header=str(check.fqdn or host),
        search_string=check.search_string if str(check.type_).endswith("STR_MATCH") else None,
    )


@dataclass
class _CheckState:
    signature: tuple[Any, ...]  # the config the views were formed under; a change starts afresh
    views: dict[str, CheckerView] = field(default_factory=dict)
    next_due: float = 0.0
    in_flight: bool = False


class HealthCheckMonitor:
    """Owns the probing thread; `observations(id)` and `healthy(id)` read what it found."""

    def __init__(self, tick_s: float = 0.1, workers: int = 4):
        self._tick = tick_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="health-check")
        self._lock = threading.Lock()
        self._states: dict[str, _CheckState] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="route53-health-checks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.schedule(time.monotonic())
            except Exception:  # a bad health check must not stop the others
                log.exception("health check scheduling failed")

    def schedule(self, now: float) -> int:
        """Start a probe for every endpoint health check that is due; returns how many started."""
        checks = {}
        for account, partitions in dict.items(r53_models.route53_backends):
            for backend in dict.values(partitions):
                for check in list(backend.health_checks.values()):
                    checks[check.id] = (account, check)
        started = 0
        with self._lock:
            for gone in set(self._states) - set(checks):
                del self._states[gone]
            for check_id, (account, check) in checks.items():
                if check.type_ not in ENDPOINT_TYPES or check.disabled:
                    continue
                signature = (target_of(check), check.failure_threshold, tuple(check.regions or ()))
                state = self._states.get(check_id)
                if state is None or state.signature != signature:
                    state = self._states[check_id] = _CheckState(signature)
                if state.in_flight or now < state.next_due:
                    continue
                state.in_flight = True
                state.next_due = now + local_interval(check.request_interval)
                self._pool.submit(self._probe, account, check_id, check, signature)
                started += 1
        return started

    def _probe(self, account: str, check_id: str, check: Any, signature: tuple[Any, ...]) -> None:
        result = probe(signature[0])
        regions = list(check.regions or CHECKER_REGIONS)
        with self._lock:
            state = self._states.get(check_id)
            if state is None or state.signature != signature:
                return
            state.in_flight = False
            for region in regions:
                view = state.views.get(region, CheckerView())
                state.views[region] = observe(view, result, int(check.failure_threshold or 3))
            views = list(state.views.values())
        self._publish(account, check_id, views, bool(check.inverted), result)

    @staticmethod
    def _publish(
        account: str, check_id: str, views: list[CheckerView], inverted: bool, last: ProbeResult
    ) -> None:
        dims = frozenset({("HealthCheckId", check_id)})
        healthy = is_healthy(views, inverted)
        share = 100.0 * sum(1 for v in views if v.healthy) / len(views)
        store_for(account, METRICS_REGION).put_many(
            "AWS/Route53",
            [
                ("HealthCheckStatus", dims, 1.0 if healthy else 0.0, "None"),
                ("HealthCheckPercentageHealthy", dims, share, "Percent"),
            ],
            timestamp=last.checked_at,
        )

    def observations(self, check_id: str) -> list[dict[str, Any]]:
        with self._lock:
            state = self._states.get(check_id)
            views = dict(state.views) if state else {}
        return [
            {
                "Region": region,
                "IPAddress": "127.0.0.1",
                "StatusReport": {
                    "Status": view.last.status,
                    "CheckedTime": datetime.fromtimestamp(view.last.checked_at, tz=UTC),
                },
            }
            for region, view in views.items()
            if view.last is not None
        ]

    def healthy(self, check: Any) -> bool:
        """Route 53's verdict for one health check object (healthy while there is no data yet)."""
        with self._lock:
            state = self._states.get(check.id)
            views = list(state.views.values()) if state else []
        return is_healthy(views, bool(check.inverted), bool(check.disabled))


_MONITOR: HealthCheckMonitor | None = None


def get_health_check_status(self: Any) -> ActionResult:
    health_check_id = self._get_param("HealthCheckId")
    check = self.backend.get_health_check(health_check_id)
    if check.type_ not in ENDPOINT_TYPES:
        # "You can't use GetHealthCheckStatus to get the status of a calculated health check."
        # (https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetHealthCheckStatus.html)
        raise InvalidInput(
            f"Health check {health_check_id} is {check.type_}: it has no checker observations."
        )
    observations = _MONITOR.observations(health_check_id) if _MONITOR else []
    return ActionResult({"HealthCheckObservations": observations})


def install(monitor: HealthCheckMonitor) -> None:
    global _MONITOR
    _MONITOR = monitor
    r53_responses.Route53.get_health_check_status = get_health_check_status
