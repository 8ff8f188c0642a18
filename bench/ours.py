"""Ours in the benchmark: the controller's own rollout engine (controller/engine.py), one per run.

The simulator calls `decide` once per 60 s period; each run's engine gets that period as a `Tick` at the
period's end and its actions are read back: `SetShare` sets the run's canary share for the next period,
`Promote` and `RollBack` end it. Nothing of the loop is re-implemented here: the judge, the ramp, the
gates and the adaptive strategy are the ones `python -m controller shift --strategy adaptive` runs.

Configured as a user of the benchmark's world would run it:
- `--strategy adaptive` with the controller's judge and ramp defaults;
- the absolute ceilings (`--max-5xx-rate`, `--max-p99-ms`) off: they are a user's SLO, not a detector, and a
  5 % default ceiling would roll back identical releases of a service that errs at 5 %;
- `metrics_lag_s = 0`: like every peer in the simulator, ours sees a period's metrics at its end (on
  CloudWatch the controller reads a period one period later by default, and alarms have the same delay);
- no time limit inside the simulated 30 minutes (`max_duration_s` None): the continuity table reports
  releases still undecided at the horizon as not promoted, as it always has. The judge plans its pass
  margin for the CLI's default time limit (`--strategy adaptive`: 30 minutes, `JUDGE_HORIZON_S`), which
  is the simulated horizon, unless its config names another;
- the guard `shift --strategy adaptive` runs by default (`guard_s`: ten one-minute periods; 0 is
  `--guard 0`): each promoted run's engine judges the promoted release for that long against the live
  version's rate (its day before, or its rate beside the canary if that was higher), with the guard
  `shift` builds from the same history, thresholds, judge margin and noise model, and an `Undo` ends the
  run as undone. With `guard_slow` (`--guard-slow`) the guard reads the promoted release's slow requests
  too, beside the canary's former baseline as `shift` hands them over. With `guard_keep_percent`
  (`--guard-keep`) the former version serves that share of each promoted run's periods beside the release
  (`promoted_share`), the release's failed requests are its own, and the guard splits its slow requests
  against the former version's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from bench.policies import Decision, Policy
from bench.streams import PERIOD_S, Period
from controller.domain import AlarmReading, BaselineHistory, PeriodSample, WindowStats
from controller.engine import Begin, Engine, EngineSettings, Promote, RollBack, SetShare, Tick, Undo
from controller.gates import Thresholds, builtin_gates
from controller.guard import guard_factory, guard_settings
from controller.judge import Judge, JudgeConfig
from controller.judge.config import horizon_periods_for
from controller.ramp import AdaptiveRamp, RampConfig
from controller.shift_options import default_guard_s
from controller.strategies import Adaptive
from controller.strategies import Policy as RolloutPolicy
from controller.strategy import DEFAULT_ADAPTIVE_LIMIT_S, Plan

BENCH_THRESHOLDS = Thresholds(max_5xx_rate=1.0, max_p99_ms=None)
JUDGE_HORIZON_S = DEFAULT_ADAPTIVE_LIMIT_S
NO_ALARMS = AlarmReading()


def rollout_policy(max_duration_s: float | None = None) -> RolloutPolicy:
    plan = Plan("adaptive", (), adaptive=True, max_duration_s=max_duration_s)
    return RolloutPolicy(plan, BENCH_THRESHOLDS, interval_s=PERIOD_S, period_s=PERIOD_S)


@dataclass
class Ours(Policy):
    """The judge plus the adaptive ramp, through the engine. With `use_history` each run's judge gets the
    baseline history the simulator draws for it (what the controller reads from CloudWatch by default)."""

    judge_config: JudgeConfig = field(default_factory=JudgeConfig)
    ramp_config: RampConfig = field(default_factory=RampConfig)
    trusted_ramp_config: RampConfig = field(default_factory=RampConfig.for_trusted_history)
    name: str = "ours"
    use_history: bool = True
    max_duration_s: float | None = None
    judge_class: type = Judge  # the judge each run's engine gets (a judge's constructor: config, history)
    # `shift --guard`: judge a promoted release this long and undo it on a regression (the CLI's default)
    guard_s: float = default_guard_s(adaptive=True, period_s=PERIOD_S)
    guard_slow: bool = False  # `shift --guard-slow`: the guard judges the promoted release's slow requests
    # `shift --guard-keep`: the former version keeps this share of production beside a promoted release
    # while the guard watches it, and the guard splits the release's slow requests against its
    guard_keep_percent: float = 0.0
    reads_history = True

    @property
    def guards(self) -> bool:
        return self.guard_s > 0

    @property
    def guard_periods(self) -> int:  # type: ignore[override]
        return math.ceil(self.guard_s / PERIOD_S)

    @property
    def promoted_share(self) -> float:  # type: ignore[override]
        return 1 - self.guard_keep_percent / 100 if self.guards else 1.0

    @classmethod
    def strict(cls) -> Ours:
        """Ours with the fail test on the concurrent split alone (`--no-trust-baseline-history`)."""
        return cls(JudgeConfig(history_fail=False))

    def start(self, runs: int, requests_per_period: float | np.ndarray) -> None:
        """`requests_per_period`: the traffic each run's engine is told at the start, one figure or one per
        run (the scenario family's runs each have their own)."""
        super().start(runs, requests_per_period)
        self.requests_per_period = np.broadcast_to(np.asarray(requests_per_period, dtype=float), (runs,))
        self._start_engines([None] * runs)

    def _engine(self, history: BaselineHistory | None) -> Engine:
        config = self.judge_config
        if config.horizon_periods is None:
            config = replace(config, horizon_periods=horizon_periods_for(JUDGE_HORIZON_S, PERIOD_S))
        judge = self.judge_class(config, history)
        strategy = Adaptive(
            rollout_policy(self.max_duration_s), AdaptiveRamp(self.ramp_config, self.trusted_ramp_config)
        )
        gates = builtin_gates(BENCH_THRESHOLDS, judge=True, adaptive=True)
        settings = EngineSettings(
            PERIOD_S,
            metrics_lag_s=0.0,
            guard_s=self.guard_s,
            guard_keep_percent=self.guard_keep_percent,
            tick_s=PERIOD_S,
        )
        margin = 1 + config.regression_relative  # the guard allows the judge's margin, as `shift` does
        guard = None
        if self.guards:  # with the noise the judge reads, as `shift` builds it
            reads = judge.noise.reads if isinstance(judge, Judge) else None
            slow = config if self.guard_slow else None
            keep = self.guard_keep_percent
            watch = guard_settings(BENCH_THRESHOLDS, margin, slow, self.guard_periods, keep)
            guard = guard_factory(watch, history, config, reads)
        return Engine(settings, strategy, gates, judge, guard)

    def _start_engines(self, histories: list[BaselineHistory | None]) -> None:
        self.engines = [self._engine(h) for h in histories]
        self.judges = [engine.judge for engine in self.engines]
        traffic = self.requests_per_period.tolist()
        for run, (engine, history) in enumerate(zip(self.engines, histories, strict=True)):
            # What `shift` hands the guard: the live version's day before, when it read one.
            reference = None if history is None else history.window
            self._apply(run, engine.step(Begin(0.0, None, traffic[run], reference)))

    def see_history(self, requests: np.ndarray, errors: np.ndarray, p99_ms: float | None = None) -> None:
        """Totals per run, or per-minute series per run (2-D): the judge gets both; `p99_ms` the day's p99,
        as `shift` reads it with the history (the guard's reference p99)."""
        if not self.use_history:
            return
        histories: list[BaselineHistory | None] = []
        for n, k in zip(np.asarray(requests).tolist(), np.asarray(errors).tolist(), strict=True):
            if isinstance(n, list):
                periods = tuple(zip(n, k, strict=True))
                histories.append(BaselineHistory(sum(n), sum(k), periods, p99_ms))
            else:
                histories.append(BaselineHistory(int(n), int(k), latency_p99_ms=p99_ms))
        self._start_engines(histories)

    def _apply(self, run: int, actions: list) -> str | None:
        outcome = None
        for action in actions:
            if isinstance(action, SetShare):
                self.share[run] = action.percent / 100
            elif isinstance(action, Promote):
                outcome = "promote"
            elif isinstance(action, RollBack):
                outcome = "rollback"
            elif isinstance(action, Undo):
                outcome = "undo"
        return outcome

    def decide(self, t: int, idx: np.ndarray, period: Period) -> Decision:
        rollback = np.zeros(idx.shape, dtype=bool)
        promote = np.zeros(idx.shape, dtype=bool)
        canary = _window_stats(
            period.canary_requests, period.canary_errors, period.canary_latency, period.canary_slow
        )
        baseline = _window_stats(
            period.baseline_requests, period.baseline_errors, period.baseline_latency, period.baseline_slow
        )
        start = t * PERIOD_S
        for i, run in enumerate(idx.tolist()):
            sample = PeriodSample(start, canary[i], baseline[i])
            outcome = self._apply(run, self.engines[run].step(Tick(start + PERIOD_S, (sample,), NO_ALARMS)))
            rollback[i] = outcome == "rollback"
            promote[i] = outcome == "promote"
        return Decision(rollback, promote)

    def watch(self, t: int, idx: np.ndarray, period: Period) -> np.ndarray:
        """The promoted runs' engines that are still guarding read period t: the new release, and the former
        version beside it where it kept a share (`guard_keep_percent`)."""
        undo = np.zeros(idx.shape, dtype=bool)
        served = _window_stats(
            period.canary_requests, period.canary_errors, period.canary_latency, period.canary_slow
        )
        former = _window_stats(
            period.baseline_requests, period.baseline_errors, period.baseline_latency, period.baseline_slow
        )
        kept = self.guard_keep_percent > 0
        start = t * PERIOD_S
        for i, run in enumerate(idx.tolist()):
            engine = self.engines[run]
            if engine.state.phase != "guard":
                continue
            # Without a share kept, the other side served nothing: no requests and, as `shift` reads it, no
            # slow requests.
            beside = former[i] if kept else WindowStats(0, 0, slow_requests=0)
            sample = PeriodSample(start, served[i], beside)
            undo[i] = self._apply(run, engine.step(Tick(start + PERIOD_S, (sample,), NO_ALARMS))) == "undo"
        return undo


def _window_stats(
    requests: np.ndarray, errors: np.ndarray, latency: np.ndarray, slow: np.ndarray | None = None
) -> list[WindowStats]:
    """One version's period, per run, as CloudWatch reports it (a NaN percentile: no datapoint; slow
    requests where the world draws them, as `shift` reads them with a slow-request threshold)."""
    percentiles = np.where(np.isnan(latency), -1.0, latency).tolist()
    slows: list[int | None] = [None] * len(percentiles) if slow is None else slow.tolist()
    return [
        WindowStats(n, x, 0, *(None if v < 0 else v for v in row), slow_requests=k)
        for n, x, row, k in zip(requests.tolist(), errors.tolist(), percentiles, slows, strict=True)
    ]
