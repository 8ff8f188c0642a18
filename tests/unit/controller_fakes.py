"""In-memory stand-ins for the controller's AWS adapters and clock (unit tests only; no AWS, no sleeping)."""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller.aws.deployments import Deployment
from controller.aws.metrics import FunctionPair, MetricsAdapter, MetricsRequest
from controller.aws.stage import Canary, StageState
from controller.config import parse_config
from controller.domain import BaselineHistory
from controller.errors import AwsError
from controller.measurement import RawSeries

CONFIG = {
    "schema_version": 1,
    "region": "us-east-1",
    "api_id": "abc123",
    "api_name": "apigw-canary",
    "production_stage": "production",
    "staging_stage": "staging",
    "invoke_urls": {"production": "http://127.0.0.1:1/p", "staging": "http://127.0.0.1:1/s"},
    "routes": [{"path": "/hello", "method": "GET"}],
    "slot_variable": "slot",
    "slots": {
        "blue": {
            "function_name": "apigw-canary-blue",
            "function_arn": "arn:aws:lambda:::blue",
            "version_label": "v1",
        },
        "green": {
            "function_name": "apigw-canary-green",
            "function_arn": "arn:aws:lambda:::green",
            "version_label": "v2",
        },
    },
    "alarm_names": ["apigw-canary-canary-5xx", "apigw-canary-canary-p99"],
    "rollback_alarm_name": "apigw-canary-rollback",
    "metrics": {"namespace": "AWS/ApiGateway", "api_name": "apigw-canary", "period_seconds": 60},
}


def config(**overrides: Any) -> Any:
    import json

    return parse_config(json.dumps({**copy.deepcopy(CONFIG), **overrides}), "test")


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.stop = threading.Event()
        self.on_sleep: Callable[[float], None] | None = None  # e.g. interrupt at some time

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(self.now)
        return self.stop.is_set()


@dataclass
class _Stage:
    deployment_id: str
    variables: dict[str, str]
    canary: dict[str, Any] | None = None


class FakeStages:
    """API Gateway stages as data; records every change; can fail on chosen operations."""

    def __init__(self, clock: FakeClock, live: str = "blue", candidate: str = "green") -> None:
        self.clock = clock
        self.stages = {
            "production": _Stage("dep-live", {"slot": live}),
            "staging": _Stage("dep-new", {"slot": candidate}),
        }
        # The REST API's deployments (id -> description): Terraform's two, then the controller's snapshots.
        self.deployments: dict[str, str] = {"dep-live": "", "dep-new": "staging (terraform)"}
        self.log: list[tuple[str, ...]] = []
        self.fail_on: set[str] = set()
        self.percent_history: list[tuple[float, float]] = []  # (time, canary percent on production)

    def _state(self, name: str) -> StageState:
        stage = self.stages[name]
        canary = None
        if stage.canary is not None:
            canary = Canary(
                stage.canary["percent"], stage.canary["deployment_id"], dict(stage.canary["overrides"])
            )
        return StageState(name, stage.deployment_id, dict(stage.variables), canary)

    def _check(self, op: str) -> None:
        if op in self.fail_on:
            raise AwsError(f"{op}: ServiceUnavailable: injected")

    def get(self, stage: str) -> StageState:
        self._check("get")
        return self._state(stage)

    def create_canary(
        self, stage: str, deployment_id: str, slot: str, percent: float, overrides=None
    ) -> StageState:
        self._check("create_canary")
        self.log.append(("create_canary", stage, deployment_id, slot, str(percent)))
        self.stages[stage].canary = {
            "percent": percent,
            "deployment_id": deployment_id,
            "overrides": {**(overrides or {}), "slot": slot},
        }
        self.percent_history.append((self.clock(), percent))
        return self._state(stage)

    def set_canary_percent(self, stage: str, percent: float) -> StageState:
        self._check("set_canary_percent")
        self.log.append(("set_canary_percent", stage, str(percent)))
        assert self.stages[stage].canary is not None, "percent set without a canary"
        self.stages[stage].canary["percent"] = percent
        self.percent_history.append((self.clock(), percent))
        return self._state(stage)

    def promote_canary(self, stage: str, deployment_id: str, slot: str, variables=None) -> StageState:
        self._check("promote_canary")
        self.log.append(("promote_canary", stage, deployment_id, slot))
        s = self.stages[stage]
        s.canary = None
        s.deployment_id = deployment_id
        s.variables["slot"] = slot
        s.variables.update(variables or {})
        self.percent_history.append((self.clock(), 0.0))
        return self._state(stage)

    def switch(
        self,
        stage: str,
        deployment_id: str,
        slot: str,
        remove: tuple[str, ...] = (),
        drop_canary: bool = False,
    ) -> StageState:
        self._check("switch")
        self.log.append(("switch", stage, deployment_id, slot))
        s = self.stages[stage]
        assert drop_canary or s.canary is None, "API Gateway: no deployment change while a canary is set"
        s.canary = None
        s.deployment_id = deployment_id
        s.variables["slot"] = slot
        for name in remove:
            s.variables.pop(name, None)
        return self._state(stage)

    def remove_canary(self, stage: str) -> StageState:
        self._check("remove_canary")
        self.log.append(("remove_canary", stage))
        self.stages[stage].canary = None
        self.percent_history.append((self.clock(), 0.0))
        return self._state(stage)

    def set_slot(self, stage: str, slot: str) -> StageState:
        self._check("set_slot")
        self.log.append(("set_slot", stage, slot))
        self.stages[stage].variables["slot"] = slot
        return self._state(stage)

    def set_variable(self, stage: str, name: str, value: str) -> StageState:
        self._check("set_variable")
        self.stages[stage].variables[name] = value
        return self._state(stage)

    def remove_variable(self, stage: str, name: str) -> StageState:
        self._check("remove_variable")
        self.stages[stage].variables.pop(name, None)
        return self._state(stage)

    def changes(self) -> list[str]:
        return [entry[0] for entry in self.log]


class FakeDeployments:
    """The deployments of FakeStages' REST API, with AWS's rule that a deployment in use cannot be deleted.

    Changes go to the stages' log, so "nothing changed" covers deployments too.
    https://docs.aws.amazon.com/apigateway/latest/api/API_DeleteDeployment.html
    """

    def __init__(self, stages: FakeStages) -> None:
        self.stages = stages
        self.created = 0
        self.fail_on: set[str] = set()
        self.calls: list[str] = []

    def _check(self, op: str) -> None:
        self.calls.append(op)
        if op in self.fail_on:
            raise AwsError(f"{op}: ServiceUnavailable: injected")

    def create(self, description: str) -> Deployment:
        self._check("create")
        self.created += 1
        deployment_id = f"dep-snap-{self.created}"
        self.stages.deployments[deployment_id] = description
        self.stages.log.append(("create_deployment", deployment_id, description))
        return Deployment(deployment_id, description)

    def list(self) -> list[Deployment]:
        self._check("list")
        return [Deployment(i, d) for i, d in self.stages.deployments.items()]

    def in_use(self) -> set[str]:
        self._check("in_use")
        used = set()
        for stage in self.stages.stages.values():
            used.add(stage.deployment_id)
            if stage.canary is not None:
                used.add(stage.canary["deployment_id"])
        return used

    def delete(self, deployment_id: str) -> None:
        self._check("delete")
        if deployment_id in self.in_use():
            raise AwsError(
                f"DeleteDeployment {deployment_id}: BadRequestException: Active stages pointing to this "
                "deployment must be moved or deleted"
            )
        del self.stages.deployments[deployment_id]
        self.stages.log.append(("delete_deployment", deployment_id))


def nearest_rank(values: list[float], stat: str) -> float:
    """CloudWatch-style percentile ("p99") of raw values: the smallest with stat% of them at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(float(stat[1:]) / 100 * len(ordered)))
    return ordered[rank - 1]


def durations(n: int, p99_ms: float) -> list[float]:
    """n evenly spread handler durations, uniform on [0, p99/0.99], so their p99 is p99_ms."""
    return [p99_ms / 0.99 * (i + 0.5) / n for i in range(n)]


@dataclass
class TrafficModel:
    """Synthetic CloudWatch behind the real MetricsAdapter: requests per period split by the canary percent
    in force, with error rates and latencies, published the way AWS publishes them.

    API Gateway counts canary requests both under Stage "production/Canary" and in the stage's own series, so
    the stage's Latency mixes both versions; AWS/Lambda Duration is per function (FunctionName). A request's
    API Gateway Latency is its function's Duration plus `api_overhead_ms`. The candidate's function also
    serves `staging_requests_per_period` staging requests with `staging_p99_ms`.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
    """

    stages: FakeStages
    requests_per_period: int = 1000
    candidate_error_rate: float = 0.0
    live_error_rate: float = 0.0
    candidate_p99_ms: float = 50.0  # the candidate function's Duration p99
    live_p99_ms: float = 50.0
    api_overhead_ms: float = 10.0
    staging_requests_per_period: int = 0
    staging_p99_ms: float = 50.0
    live_function: str = "apigw-canary-blue"
    candidate_function: str = "apigw-canary-green"
    period_s: int = 60
    calls: list[tuple[float, float]] = field(default_factory=list)
    called_at: list[float] = field(default_factory=list)
    queries_per_call: list[int] = field(default_factory=list)
    functions_asked: set[FunctionPair] = field(default_factory=set)
    fail: bool = False
    history_asked: list[tuple[float, float]] = field(default_factory=list)
    canary_dimension: bool = True  # False: API Gateway publishes no {stage}/Canary metrics
    # More series, e.g. a user gate's metric: (namespace, name, dimensions, stat) -> value for a period
    extra: dict[tuple, Callable[[float, float], float | None]] = field(default_factory=dict)

    def percent_at(self, t: float) -> float:
        percent = 0.0
        for at, p in self.stages.percent_history:
            if at <= t:
                percent = p
        return percent

    def fetch(self, start: float, end: float, request: MetricsRequest) -> RawSeries:
        self.functions_asked.add(request.functions)
        adapter = MetricsAdapter(self, "AWS/ApiGateway", "apigw-canary", "production", self.period_s)
        return adapter.fetch(start, end, request)

    def history(self, start: float, end: float) -> BaselineHistory:
        self.history_asked.append((start, end))
        adapter = MetricsAdapter(self, "AWS/ApiGateway", "apigw-canary", "production", self.period_s)
        return adapter.history(start, end)

    # -- the CloudWatch client the adapter calls ----------------------------------------------------------

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        start, end = request["StartTime"].timestamp(), request["EndTime"].timestamp()
        self.calls.append((start, end))
        self.called_at.append(self.stages.clock())
        self.queries_per_call.append(len(request["MetricDataQueries"]))
        if self.fail:
            raise AwsError("GetMetricData: Throttling: injected")
        # Percentile ranks are computed for the thresholds asked, like CloudWatch's own PR(:T).
        ranks = tuple(
            q["MetricStat"]["Stat"]
            for q in request["MetricDataQueries"]
            if "MetricStat" in q and q["MetricStat"]["Stat"].startswith("PR(:")
        )
        periods = []
        t = start
        while t < end:
            periods.append((t, self.period(t, ranks)))
            t += self.period_s
        results = []
        for query in request["MetricDataQueries"]:
            if "MetricStat" not in query:
                continue  # metric math: this fake answers plain metrics only
            stat = query["MetricStat"]
            metric = stat["Metric"]
            key = (
                metric["Namespace"],
                metric["MetricName"],
                tuple(sorted((d["Name"], d["Value"]) for d in metric["Dimensions"])),
                stat["Stat"],
            )
            stamps, values = [], []
            for t, series in periods:
                value = series.get(key)
                if key in self.extra:
                    value = self.extra[key](t, self.percent_at(t))
                if value is not None:
                    stamps.append(datetime.fromtimestamp(t, UTC))
                    values.append(value)
            results.append({"Id": query["Id"], "Timestamps": stamps, "Values": values})
        return {"MetricDataResults": results}

    def period(self, t: float, ranks: tuple[str, ...] = ()) -> dict[tuple, float]:
        """Every datapoint CloudWatch would hold for the period starting at t (absent when no requests),
        with API Gateway Latency's percentile ranks `ranks` ("PR(:T)") too."""
        share = self.percent_at(t) / 100
        # Each period's total differs a little, so a test can tell periods apart by their counts.
        wobble = int(t // self.period_s) % 97 if self.requests_per_period else 0
        total = self.requests_per_period + wobble
        canary_n = round(total * share)
        live_n = total - canary_n
        # Errors dithered per period by a fixed, evenly spread offset, so small periods are not rounded
        # up or down on average: each version's long-run rate is exactly the one asked for.
        index = int(t // self.period_s)
        canary_errors = math.floor(canary_n * self.candidate_error_rate + (index * 0.6180339887) % 1)
        live_errors = math.floor(live_n * self.live_error_rate + (index * 0.7548776662 + 0.5) % 1)
        live_ms = durations(live_n, self.live_p99_ms) if live_n else []
        canary_ms = durations(canary_n, self.candidate_p99_ms) if canary_n else []
        staging_ms = durations(self.staging_requests_per_period, self.staging_p99_ms)
        out: dict[tuple, float] = {}

        def api(stage: str, count: int, errors: int, latencies: list[float]) -> None:
            dims = (("ApiName", "apigw-canary"), ("Stage", stage))
            if not count:
                return
            out[("AWS/ApiGateway", "Count", dims, "Sum")] = count
            out[("AWS/ApiGateway", "5XXError", dims, "Sum")] = errors
            out[("AWS/ApiGateway", "4XXError", dims, "Sum")] = 0
            for pct in ("p50", "p90", "p99"):
                out[("AWS/ApiGateway", "Latency", dims, pct)] = nearest_rank(latencies, pct)
            for rank in ranks:
                threshold = float(rank[len("PR(:") : -1])
                at_most = sum(1 for v in latencies if v <= threshold)
                out[("AWS/ApiGateway", "Latency", dims, rank)] = 100.0 * at_most / len(latencies)

        def function(name: str, values: list[float], errors: int) -> None:
            dims = (("FunctionName", name),)
            if not values:
                return
            out[("AWS/Lambda", "Invocations", dims, "Sum")] = len(values)
            out[("AWS/Lambda", "Errors", dims, "Sum")] = errors
            for pct in ("p50", "p90", "p99"):
                out[("AWS/Lambda", "Duration", dims, pct)] = nearest_rank(values, pct)

        overhead = self.api_overhead_ms
        if self.canary_dimension:
            api("production/Canary", canary_n, canary_errors, [d + overhead for d in canary_ms])
        api("production", total, canary_errors + live_errors, [d + overhead for d in canary_ms + live_ms])
        api("staging", self.staging_requests_per_period, 0, [d + overhead for d in staging_ms])
        function(self.live_function, live_ms, live_errors)
        function(self.candidate_function, canary_ms + staging_ms, canary_errors)
        return out


class FakeAlarms:
    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.state: dict[str, str] = {name: "OK" for name in names}
        self.calls = 0
        self.fail = False
        self.schedule: list[tuple[float, str, str]] = []  # (from time, name, state)
        self.clock: FakeClock | None = None

    def states(self) -> dict[str, str]:
        self.calls += 1
        if self.fail:
            raise AwsError("DescribeAlarms: Throttling: injected")
        if self.clock is not None:
            for at, name, state in self.schedule:
                if self.clock() >= at:
                    self.state[name] = state
        return dict(self.state)
