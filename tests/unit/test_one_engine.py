"""The benchmark runs the product: one observation stream, through `shift`'s runner (with fakes) and through
the benchmark's policy for ours, gives the same shares period by period and the same decision."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from controller_fakes import FakeAlarms, FakeClock, FakeDeployments, FakeStages, config

from bench.ours import BENCH_THRESHOLDS, JUDGE_HORIZON_S, Ours
from bench.scenarios import MINUTES, Scenario, identical, regression
from bench.streams import PERIOD_S, Streams
from controller.aws.lock import StageLock
from controller.aws.metrics import MetricsRequest
from controller.domain import BaselineHistory, Outcome
from controller.events import Recorder
from controller.judge import Judge, JudgeConfig
from controller.judge.config import horizon_periods_for
from controller.measurement import RawSeries
from controller.ramp import AdaptiveRamp, RampConfig
from controller.runner import ShiftRun
from controller.shift_options import ShiftOptions
from controller.strategies import Policy
from controller.strategy import Plan

T0 = 1_700_000_040.0  # a period boundary
HISTORY_S = 24 * 3600.0


@dataclass
class StreamMetrics:
    """A MetricsSource over the benchmark's pre-drawn streams for one run: each period's counts and
    percentiles at the share the stage had in that period, as API Gateway and Lambda would publish them."""

    scenario: Scenario
    streams: Streams
    run: int
    stages: FakeStages
    history_: BaselineHistory
    cache: dict[tuple[int, float], dict[str, float]] = field(default_factory=dict)

    def _period(self, t: int, share: float) -> dict[str, float]:
        key = (t, share)
        if key not in self.cache:
            s = self.scenario
            p = self.streams.period(
                t, np.array([self.run]), np.array([share]), s.requests_per_s, s.canary, s.baseline
            )
            out = {
                "canary_count": float(p.canary_requests[0]),
                "canary_e5xx": float(p.canary_errors[0]),
                "canary_e4xx": 0.0,
                "stage_count": float(p.canary_requests[0] + p.baseline_requests[0]),
                "stage_e5xx": float(p.canary_errors[0] + p.baseline_errors[0]),
                "stage_e4xx": 0.0,
            }
            for i, pct in enumerate(("p50", "p90", "p99")):
                canary_ms, live_ms = p.canary_latency[0, i], p.baseline_latency[0, i]
                if not math.isnan(canary_ms):
                    out[f"canary_{pct}"] = out[f"candidate_fn_{pct}"] = float(canary_ms)
                if not math.isnan(live_ms):
                    out[f"live_fn_{pct}"] = float(live_ms)
            self.cache[key] = out
        return self.cache[key]

    def _share_at(self, when: float) -> float:
        share = 0.0
        for at, percent in self.stages.percent_history:
            if at <= when:
                share = percent / 100
        return share

    def fetch(self, start: float, end: float, request: MetricsRequest) -> RawSeries:
        values: dict[str, dict[float, float]] = {}
        ts = start
        while ts < end:
            t = round((ts - T0) / PERIOD_S)
            if t < 0:  # before the rollout: the whole stage on the live version
                volume = self.scenario.requests_per_s * PERIOD_S
                series = {"canary_count": 0.0, "stage_count": volume, "stage_e5xx": 0.0}
            else:
                series = self._period(t, self._share_at(ts))
            for name, value in series.items():
                values.setdefault(name, {})[ts] = value
            ts += PERIOD_S
        return RawSeries(values)

    def history(self, start: float, end: float) -> BaselineHistory:
        return self.history_


def through_the_runner(scenario: Scenario, streams: Streams, run: int, history: BaselineHistory):
    clock = FakeClock(start=T0)
    stages = FakeStages(clock)
    metrics = StreamMetrics(scenario, streams, run, stages, history)
    plan = Plan("adaptive", (), adaptive=True, max_duration_s=None)
    options = ShiftOptions(
        policy=Policy(plan, BENCH_THRESHOLDS, interval_s=PERIOD_S, period_s=PERIOD_S),
        metrics_lag_s=0.0,
        baseline_history_s=HISTORY_S,
    )
    cfg = config(alarm_names=[], rollback_alarm_name=None)
    outcome_holder: dict[str, object] = {}

    def stop_at_horizon(now: float) -> None:
        if now > T0 + MINUTES * PERIOD_S and "outcome" not in outcome_holder:
            clock.stop.set()  # past the benchmark's horizon, its last period read: undecided

    clock.on_sleep = stop_at_horizon
    run_ = ShiftRun(
        cfg,
        ShiftOptions(**{**options.__dict__, "on_interrupt": "leave"}),
        stages=stages,
        deployments=FakeDeployments(stages),
        metrics=metrics,
        alarms=FakeAlarms(()),
        lock=StageLock(stages, "production", ttl_s=600, holder="ci:1", clock=clock),
        events=Recorder(clock),
        clock=clock,
        stop=clock.stop,
        sleep=clock.sleep,
        # The benchmark's judge plans its margin for the benchmark's horizon; so does this one.
        judge_factory=lambda h: Judge(
            JudgeConfig(horizon_periods=horizon_periods_for(JUDGE_HORIZON_S, PERIOD_S)), h
        ),
        ramp_factory=lambda: AdaptiveRamp(RampConfig(), RampConfig.for_trusted_history()),
    )
    outcome = run_.run()
    decided_at = clock() - T0
    shares = [metrics._share_at(T0 + t * PERIOD_S) for t in range(round(decided_at / PERIOD_S))]
    return outcome, shares, decided_at


def through_the_benchmark(scenario: Scenario, streams: Streams, run: int, history: BaselineHistory):
    policy = Ours()
    policy.start(1, scenario.requests_per_s * PERIOD_S)
    per_minute = np.array([history.per_period])
    policy.see_history(per_minute[:, :, 0], per_minute[:, :, 1])
    idx = np.array([0])
    shares = []
    for t in range(MINUTES):
        shares.append(float(policy.share[0]))
        p = streams.period(
            t, np.array([run]), policy.share[idx], scenario.requests_per_s, scenario.canary, scenario.baseline
        )
        decision = policy.decide(t, idx, p)
        if decision.promote[0]:
            return Outcome.PROMOTED, shares, (t + 1) * PERIOD_S
        if decision.rollback[0]:
            return Outcome.ROLLED_BACK, shares, (t + 1) * PERIOD_S
    return Outcome.INTERRUPTED, shares, MINUTES * PERIOD_S


@pytest.mark.parametrize(
    "scenario",
    [
        regression(0.005, 0.02, 50, seed=101),
        identical(0.005, 50, seed=201),
        regression(0.001, 0.05, 50, seed=102),
    ],
    ids=lambda s: s.name,
)
def test_the_runner_and_the_benchmark_decide_identically_on_one_stream(scenario: Scenario) -> None:
    runs = 12
    streams = Streams(runs, MINUTES, scenario.seed)
    requests, errors = streams.history(scenario.requests_per_s, HISTORY_S, scenario.baseline)
    outcomes = set()
    for run in range(runs):
        minutes = tuple(zip(requests[run].tolist(), errors[run].tolist(), strict=True))  # the day, per minute
        history = BaselineHistory(int(requests[run].sum()), int(errors[run].sum()), minutes)
        bench = through_the_benchmark(scenario, streams, run, history)
        runner = through_the_runner(scenario, streams, run, history)
        assert runner[0] == bench[0], f"run {run}: outcome"
        if bench[0] is Outcome.INTERRUPTED:
            # Undecided at the horizon: the benchmark stops at its last period, the runner at the clock's stop
            # a tick later.
            assert runner[2] == pytest.approx(bench[2], abs=1.0), f"run {run}: stopped at"
        else:
            assert runner[2] == bench[2], f"run {run}: decided at"
        assert runner[1] == pytest.approx(bench[1], abs=1e-9), f"run {run}: shares"
        outcomes.add(bench[0])
    assert outcomes & {Outcome.PROMOTED, Outcome.ROLLED_BACK}  # the streams led somewhere
