"""The reads and announcements before the engine starts: the run's plan, the baseline history, the traffic
that sizes an adaptive first share."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from controller.aws.metrics import MetricsRequest
from controller.config import ControllerConfig
from controller.domain import BaselineHistory
from controller.engine import JudgePort
from controller.errors import AwsError
from controller.event_types import BaselineHistoryRead, RunStarted, Thresholds, WarningEvent
from controller.events import Events
from controller.gates import Gate
from controller.judge.dispersion import DISPERSION_FLOOR, read_persistence
from controller.measurement import samples
from controller.ports import MetricsSource
from controller.shift_options import ShiftOptions
from controller.strategies import Adaptive, FixedSteps, Policy, RampPort, Strategy
from controller.traffic import Slots


def describe_gate(gate: Gate) -> str:
    describe = getattr(gate, "describe", None)
    return describe() if callable(describe) else gate.name


def announce_run(
    cfg: ControllerConfig,
    options: ShiftOptions,
    events: Events,
    slots: Slots,
    resumed: float | None,
    holder: str,
    gates: Sequence[Gate],
) -> None:
    plan, policy = options.policy.plan, options.policy
    events.emit(
        RunStarted(
            api_name=cfg.api_name,
            stage=cfg.production_stage,
            strategy=plan.name,
            live_slot=slots.live,
            candidate_slot=slots.candidate,
            live_version=cfg.slot(slots.live).version_label,
            candidate_version=cfg.slot(slots.candidate).version_label,
            candidate_deployment=slots.candidate_deployment,
            steps=tuple(s.percent for s in plan.steps),
            bakes_s=tuple(s.bake_s for s in plan.steps),
            interval_s=policy.interval_s,
            bake_s=max((s.bake_s for s in plan.steps), default=0.0),
            thresholds=Thresholds(policy.thresholds.max_5xx_rate, policy.thresholds.max_p99_ms),
            resumed_from=resumed,
            holder=holder,
            gates=tuple(describe_gate(g) for g in gates),
        )
    )


def read_history(
    metrics: MetricsSource, events: Events, window_s: float, period_s: float, now: float
) -> BaselineHistory | None:
    """What the live version served before this rollout (stage minus canary), for the judge.

    The window ends at the last whole metric period; on a resumed run it covers the canary's time too, which
    stage minus canary leaves out. Unreadable history is a warning: the judge then runs on the concurrent
    baseline alone.
    """
    if window_s <= 0:
        return None
    end = math.floor(now / period_s) * period_s
    try:
        return metrics.history(end - window_s, end)
    except AwsError as exc:
        events.emit(WarningEvent(message=f"baseline history unavailable, judging without it: {exc}"))
        return None


def slow_threshold(flag_ms: float | None, history: BaselineHistory | None) -> float | None:
    """The judge's slow-request threshold: `--slow-ms`, else the live version's p99 over its history.

    The p99 is rounded up to a whole ms (at least 1): a round number in the log and in the statistic's name,
    and up keeps the live version's slow share at or under 1 %. None (no p99, no flag): no slow-request
    test, the judge's percentile check runs alone.
    """
    if flag_ms is not None:
        return flag_ms
    if history is None or history.latency_p99_ms is None:
        return None
    return float(max(1, math.ceil(history.latency_p99_ms)))


def announce_history(
    events: Events,
    history: BaselineHistory,
    judge: JudgePort,
    window_s: float,
    slow_threshold_ms: float | None = None,
) -> None:
    noise = read_persistence(history.per_period, DISPERSION_FLOOR) if history.per_period else None
    events.emit(
        BaselineHistoryRead(
            window_s=window_s,
            requests=history.requests,
            errors_5xx=history.errors_5xx,
            error_rate=history.error_rate,
            used=judge.uses_history,
            trusted=judge.trusts_history,
            noise_cv=math.sqrt(noise.per_period_c2) if noise else None,
            noise_lasts_periods=noise.block if noise else 1,
            noise_carried=judge.carries_lasting_noise,
            outlier_periods=judge.outliers.periods,
            outlier_share=judge.outliers.share,
            outliers_capped=judge.caps_outliers,
            slow_threshold_ms=slow_threshold_ms,
        )
    )
    if judge.outliers.periods:
        spikes = (
            f"{judge.outliers.periods} of the live version's periods are 5XX spikes its noise model cannot "
            "explain (beyond the negative binomial's 1e-5 tail around their neighbours)"
        )
        if judge.caps_outliers:
            consequence = (
                f"the judge caps each period's evidence so that up to {judge.outliers.share:.1%} of periods "
                "may be anything: one spike on the canary cannot roll a healthy release back, and costs its "
                "pass evidence little"
            )
        else:
            consequence = (
                "the judge counts every period whole (--outliers ignore), so a spike on the canary can roll "
                "back a healthy release more often than its 1 % bound, or hold it past the time limit"
            )
        events.emit(WarningEvent(message=f'{spikes}; {consequence} (docs/judge.md, "Noise in spikes")'))
    if noise is not None and noise.lasts:
        lasts = (
            f"the live version's 5XX noise lasts: over {noise.block} periods its rate varies as independent "
            f"periods of CV {math.sqrt(noise.c2):.2f} would, against {math.sqrt(noise.per_period_c2):.2f} "
            "period by period"
        )
        if judge.carries_lasting_noise:
            consequence = (
                "the judge carries it, so a lasting burst is not read as a regression, and where it leaves "
                "too few independent looks before the time limit the pass margin widens past 2x (each "
                "judgement reports it: a regression under it can pass)"
            )
        else:
            consequence = (
                "the judge takes periods as independent (--lasting-noise ignore), so a lasting burst on one "
                "version can roll back a healthy release more often than its 1 % bound"
            )
        events.emit(WarningEvent(message=f'{lasts}; {consequence} (docs/judge.md, "Noise that lasts")'))


def recent_requests_per_period(
    metrics: MetricsSource, events: Events, request: MetricsRequest, period_s: float, now: float
) -> float:
    """The stage's requests in its latest complete period before the canary (sizes the first share)."""
    end = math.floor(now / period_s) * period_s
    try:
        raw = metrics.fetch(end - 5 * period_s, end, request)
    except AwsError as exc:
        events.emit(WarningEvent(message=f"could not size the first canary share: {exc}"))
        return 0.0
    with_data = [s for s in samples(raw, "apigateway_canary", end - 5 * period_s, end) if s.has_data]
    if not with_data:
        return 0.0
    return float(with_data[-1].canary.requests + with_data[-1].baseline.requests)


def choose_strategy(
    policy: Policy,
    ramp_factory: Callable[[], RampPort] | None,
    metrics: MetricsSource,
    events: Events,
    request: MetricsRequest,
    now: float,
) -> tuple[Strategy, float]:
    """The strategy, and for the adaptive one the stage's recent traffic to size its first share."""
    if not policy.plan.adaptive:
        return FixedSteps(policy), 0.0
    assert ramp_factory is not None, "the adaptive strategy needs a ramp"
    requests = recent_requests_per_period(metrics, events, request, policy.period_s, now)
    return Adaptive(policy, ramp_factory()), requests
