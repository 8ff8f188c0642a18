"""One tick's reads for a rollout: metrics (through the measurement model) and alarms, as an engine Tick.

The metrics source checks itself here (controller/measurement.py, `SourceCheck`): when it decides that the
per-slot Lambda metrics must stand in for API Gateway's canary dimension, it says so in an event and on the
production stage (`status` shows it) until the run ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from controller import measurement
from controller.aws.metrics import FunctionPair, MetricsRequest
from controller.aws.stage import METRICS_SOURCE_VARIABLE
from controller.config import ControllerConfig
from controller.domain import AlarmReading, PeriodSample
from controller.engine import Tick
from controller.errors import AwsError
from controller.event_types import MetricsSourceChosen, WarningEvent
from controller.events import Events
from controller.ports import AlarmsSource, MetricsSource, TrafficRouter
from controller.traffic import Slots
from controller.user_gates import UserGate


def placeholders(cfg: ControllerConfig, slots: Slots) -> dict[str, str]:
    """The values a gates file's ${...} placeholders take in this rollout."""
    return {
        "candidate_slot": slots.candidate,
        "live_slot": slots.live,
        "candidate_function": cfg.slot(slots.candidate).function_name,
        "live_function": cfg.slot(slots.live).function_name,
        "api_name": cfg.api_name,
        "stage": cfg.production_stage,
        "region": cfg.region,
    }


@dataclass
class Observer:
    cfg: ControllerConfig
    metrics: MetricsSource
    alarms: AlarmsSource
    stages: TrafficRouter
    events: Events
    slots: Slots
    lag_s: float
    user_gates: tuple[UserGate, ...] = ()  # bound
    since: float = 0.0  # the first period the source check reads (the rollout's start)
    source: measurement.SourceCheck = field(default_factory=measurement.SourceCheck)
    # Latency above which a request counts as slow for the judge's slow-request test (None: not read).
    slow_threshold_ms: float | None = None
    # Guarding with the former version kept beside the promoted release (`shift --guard-keep`): the stage's
    # canary is the former version, so the sides are read the other way round (see `observe`).
    former_beside: bool = False

    @property
    def period(self) -> int:
        return self.cfg.metrics.period_seconds

    @property
    def request(self) -> MetricsRequest:
        cfg, slots = self.cfg, self.slots
        live, candidate = cfg.slot(slots.live).function_name, cfg.slot(slots.candidate).function_name
        # The measurement model's candidate is the function behind the stage's canary (and the staging
        # stage): with the former version kept beside the promoted release, the former one.
        functions = FunctionPair(candidate, live) if self.former_beside else FunctionPair(live, candidate)
        gates = tuple(g for g in self.user_gates if g.query is not None)
        return MetricsRequest(functions, gates, self.slow_threshold_ms)

    def observe(self, now: float, fetch_from: float) -> Tick:
        """One GetMetricData and one DescribeAlarms. Every complete period since `fetch_from` is re-read each
        tick, so a datapoint CloudWatch publishes late counts at the next tick; the engine decides which of
        them the judge may read."""
        end = math.floor(now / self.period) * self.period
        raw = measurement.RawSeries()
        if end > fetch_from:
            try:
                raw = self.metrics.fetch(fetch_from, end, self.request)
            except AwsError as exc:
                message = f"metrics unavailable this tick (counted as no data): {exc}"
                self.events.emit(WarningEvent(message=message))
        settled = math.floor((now - self.lag_s) / self.period) * self.period
        decided = self.source.check(raw, self.since, settled)
        if decided is not None:
            self.events.emit(MetricsSourceChosen(source=self.source.source, reason=decided))
            if self.source.source != measurement.APIGATEWAY_CANARY:
                self.stages.set_variable(
                    self.cfg.production_stage, METRICS_SOURCE_VARIABLE, self.source.source
                )
        samples = measurement.samples(raw, self.source.source, fetch_from, end)
        if self.former_beside:  # the engine reads the promoted release as the canary, the former as baseline
            samples = [PeriodSample(s.start, s.baseline, s.canary) for s in samples]
        names = tuple(g.name for g in self.user_gates if g.query is not None)
        users = measurement.user_values(raw, names, fetch_from, end)
        return Tick(now, tuple(samples), self._alarms(), users)

    def _alarms(self) -> AlarmReading:
        if not self.alarms.names:
            return AlarmReading()
        try:
            return AlarmReading(tuple(self.alarms.states().items()))
        except AwsError as exc:
            self.events.emit(WarningEvent(message=f"alarm states unavailable this tick: {exc}"))
            return AlarmReading(known=False)

    def forget_source(self) -> None:
        """At the end of the run: the stage no longer says which source decides."""
        if self.source.source != measurement.APIGATEWAY_CANARY:
            self.stages.remove_variable(self.cfg.production_stage, METRICS_SOURCE_VARIABLE)
