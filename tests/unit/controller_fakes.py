"""In-memory stand-ins for the controller's AWS adapters and clock (unit tests only; no AWS, no sleeping)."""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.aws.metrics import PeriodSample
from controller.aws.stage import Canary, StageState
from controller.config import parse_config
from controller.errors import AwsError
from controller.stats import WindowStats

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

    def create_canary(self, stage: str, deployment_id: str, slot: str, percent: float) -> StageState:
        self._check("create_canary")
        self.log.append(("create_canary", stage, deployment_id, slot, str(percent)))
        self.stages[stage].canary = {
            "percent": percent,
            "deployment_id": deployment_id,
            "overrides": {"slot": slot},
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

    def promote_canary(self, stage: str, deployment_id: str, slot: str) -> StageState:
        self._check("promote_canary")
        self.log.append(("promote_canary", stage, deployment_id, slot))
        s = self.stages[stage]
        s.canary = None
        s.deployment_id = deployment_id
        s.variables["slot"] = slot
        self.percent_history.append((self.clock(), 0.0))
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


@dataclass
class TrafficModel:
    """Synthetic CloudWatch: requests per period split by the canary percent in force, with error rates."""

    stages: FakeStages
    requests_per_period: int = 1000
    candidate_error_rate: float = 0.0
    live_error_rate: float = 0.0
    candidate_p99_ms: float = 50.0
    live_p99_ms: float = 50.0
    period_s: int = 60
    calls: list[tuple[float, float]] = field(default_factory=list)
    called_at: list[float] = field(default_factory=list)
    fail: bool = False

    def percent_at(self, t: float) -> float:
        percent = 0.0
        for at, p in self.stages.percent_history:
            if at <= t:
                percent = p
        return percent

    def fetch(self, start: float, end: float) -> list[PeriodSample]:
        self.calls.append((start, end))
        self.called_at.append(self.stages.clock())
        if self.fail:
            raise AwsError("GetMetricData: Throttling: injected")
        samples = []
        t = start
        while t < end:
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
            canary = WindowStats(
                canary_n, canary_errors, 0, p99_ms=self.candidate_p99_ms if canary_n else None
            )
            baseline = WindowStats(live_n, live_errors, 0, p99_ms=self.live_p99_ms if live_n else None)
            if canary_n or live_n:
                samples.append(PeriodSample(t, canary, baseline))
            t += self.period_s
        return samples


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
