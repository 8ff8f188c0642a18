"""The measurement model: raw per-period series -> what each version served (`PeriodSample`). Pure.

A `MetricsSource` (controller/ports.py; CloudWatch in controller/aws/metrics.py) returns `RawSeries`,
datapoints per period keyed by the `Series` names below. Two ways to read the canary and the baseline from
them:

API Gateway's canary dimension (`apigateway_canary`, the default). API Gateway publishes a canary's requests
under `Stage = "{stage}/Canary"` and also counts them in the stage's own metrics, so baseline = stage - canary
for Count, 5XXError and 4XXError. Percentiles cannot be subtracted, and the stage's Latency mixes in the
canary's requests (a slow canary at 50 % drags the stage's p99 up with it), so the baseline's percentile q is
the live function's Duration plus the API Gateway overhead measured on the canary's requests:

    baseline_q = live_duration_q + max(0, canary_latency_q - candidate_duration_q)

so canary_q - baseline_q is the two functions' Duration difference, on the scale users see.

Slow requests (with a slow-request threshold T): CloudWatch's percentile rank `PR(:T)` of `Latency` is the
percentage of requests at or below T, so each side's slow requests are its Count times (100 - PR) %. They are
stage minus canary like the counts, and for the same reason: API Gateway counts the canary's requests in the
stage's metrics too, so the stage's PR mixes both versions, and the canary's slow requests are taken out of
the stage's. A canary without requests has no datapoint and no slow requests; a side with requests but no PR
datapoint is not measured (None, both sides, so the judge's split test reads only periods it has whole).
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html

Per-slot Lambda metrics (`lambda_per_slot`). Blue and green are different functions, so `AWS/Lambda`
Invocations, Errors and Duration per `FunctionName` split the versions too: the live function serves only
production; the candidate function serves the canary and the staging stage, whose own Count and 5XXError are
subtracted. A function error (an unhandled exception, a timeout) is what this source counts as a failed
request; a handler that returns a 500 itself is not a Lambda error, so user gates or alarms must watch that.

`SourceCheck` decides between them in the first settled periods with canary traffic: AWS documents the
`{stage}/Canary` name for the canary's log group, not for its metrics; if that dimension shows no requests
while the candidate function serves production traffic, the per-slot metrics decide from then on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from controller.domain import PeriodSample, WindowStats
from controller.gates import GateValue

PERCENTILES = ("p50", "p90", "p99")


class Series(StrEnum):
    CANARY_COUNT = "canary_count"
    CANARY_5XX = "canary_e5xx"
    CANARY_4XX = "canary_e4xx"
    CANARY_P50 = "canary_p50"
    CANARY_P90 = "canary_p90"
    CANARY_P99 = "canary_p99"
    STAGE_COUNT = "stage_count"
    STAGE_5XX = "stage_e5xx"
    STAGE_4XX = "stage_e4xx"
    STAGING_COUNT = "staging_count"
    STAGING_5XX = "staging_e5xx"
    LIVE_P50 = "live_fn_p50"
    LIVE_P90 = "live_fn_p90"
    LIVE_P99 = "live_fn_p99"
    CANDIDATE_P50 = "candidate_fn_p50"
    CANDIDATE_P90 = "candidate_fn_p90"
    CANDIDATE_P99 = "candidate_fn_p99"
    LIVE_INVOCATIONS = "live_fn_invocations"
    LIVE_ERRORS = "live_fn_errors"
    CANDIDATE_INVOCATIONS = "candidate_fn_invocations"
    CANDIDATE_ERRORS = "candidate_fn_errors"
    # Latency PR(:T) (read only with a slow-request threshold T): the percentage of requests at most T ms.
    CANARY_FAST_SHARE = "canary_fast_share"
    STAGE_FAST_SHARE = "stage_fast_share"


APIGATEWAY_CANARY = "apigateway_canary"
LAMBDA_PER_SLOT = "lambda_per_slot"
SOURCES = (APIGATEWAY_CANARY, LAMBDA_PER_SLOT)


@dataclass(frozen=True)
class RawSeries:
    """Datapoints per period: `values[series][period_start] = value`. A missing key is no datapoint."""

    values: Mapping[str, Mapping[float, float]] = field(default_factory=dict)

    def get(self, series: str, start: float) -> float | None:
        return self.values.get(series, {}).get(start)

    def count(self, series: str, start: float) -> int:
        return int(self.get(series, start) or 0)

    def starts(self, *series: str) -> list[float]:
        return sorted({ts for name in series for ts in self.values.get(name, {})})


def baseline_latency(
    canary_latency: float | None, candidate_duration: float | None, live_duration: float | None
) -> float | None:
    """The live version's percentile as its users would see it, or None when a term is missing.

    A request's API Gateway Latency includes its integration's Duration, so the canary's overhead is at
    least 0; a negative difference only means staging's requests moved the candidate's Duration, and the
    live function's Duration alone is then the honest (stricter) estimate. A missing term is no data, never
    the stage's mixed Latency.
    """
    if canary_latency is None or candidate_duration is None or live_duration is None:
        return None
    return live_duration + max(0.0, canary_latency - candidate_duration)


def slow_count(requests: int, fast_percent: float | None) -> int | None:
    """Requests above the threshold, from their count and PR(:T); None when requests came without a PR.

    No requests means no datapoint from CloudWatch and no slow requests. The product is rounded, since PR
    is a percentage of whole requests, and kept within 0..requests against a PR and a Count that CloudWatch
    aggregates separately.
    """
    if requests == 0:
        return 0
    if fast_percent is None:
        return None
    return min(requests, max(0, round(requests * (1 - fast_percent / 100))))


def slow_requests(
    raw: RawSeries, ts: float, canary_requests: int, baseline_requests: int
) -> tuple[int | None, int | None]:
    """The canary's and the baseline's slow requests in one period: stage minus canary (see the module's
    docstring); both None unless both are measured."""
    canary = slow_count(canary_requests, raw.get(Series.CANARY_FAST_SHARE, ts))
    stage = slow_count(raw.count(Series.STAGE_COUNT, ts), raw.get(Series.STAGE_FAST_SHARE, ts))
    if canary is None or stage is None:
        return None, None
    return canary, min(baseline_requests, max(0, stage - canary))


_API_COUNTS = (
    Series.CANARY_COUNT,
    Series.CANARY_5XX,
    Series.CANARY_4XX,
    Series.STAGE_COUNT,
    Series.STAGE_5XX,
    Series.STAGE_4XX,
)


def apigateway_samples(raw: RawSeries, start: float, end: float) -> list[PeriodSample]:
    """Samples from API Gateway's stage and canary dimensions; only API Gateway counts make a period
    (Duration alone, from staging traffic, samples neither version)."""
    samples = []
    for ts in (t for t in raw.starts(*_API_COUNTS) if start <= t < end):
        c_count = raw.count(Series.CANARY_COUNT, ts)
        c_5xx = raw.count(Series.CANARY_5XX, ts)
        c_4xx = raw.count(Series.CANARY_4XX, ts)
        base_count = max(0, raw.count(Series.STAGE_COUNT, ts) - c_count)
        canary_ms = {p: raw.get(f"canary_{p}", ts) if c_count else None for p in PERCENTILES}
        base_ms = {
            p: baseline_latency(canary_ms[p], raw.get(f"candidate_fn_{p}", ts), raw.get(f"live_fn_{p}", ts))
            if base_count
            else None
            for p in PERCENTILES
        }
        c_slow, base_slow = slow_requests(raw, ts, c_count, base_count)
        canary = WindowStats(
            c_count, c_5xx, c_4xx, canary_ms["p50"], canary_ms["p90"], canary_ms["p99"], slow_requests=c_slow
        )
        baseline = WindowStats(
            base_count,
            max(0, raw.count(Series.STAGE_5XX, ts) - c_5xx),
            max(0, raw.count(Series.STAGE_4XX, ts) - c_4xx),
            base_ms["p50"],
            base_ms["p90"],
            base_ms["p99"],
            slow_requests=base_slow,
        )
        samples.append(PeriodSample(ts, canary, baseline))
    return samples


def production_to_candidate(raw: RawSeries, ts: float) -> int:
    """The candidate function's invocations in a period that did not come from the staging stage."""
    return max(0, raw.count(Series.CANDIDATE_INVOCATIONS, ts) - raw.count(Series.STAGING_COUNT, ts))


def lambda_samples(raw: RawSeries, start: float, end: float) -> list[PeriodSample]:
    """Samples from the per-slot Lambda metrics (see the module docstring). No slow requests: the threshold
    is on API Gateway's Latency, which Lambda's Duration is not (it leaves out API Gateway's overhead)."""
    samples = []
    series = (Series.LIVE_INVOCATIONS, Series.CANDIDATE_INVOCATIONS)
    for ts in (t for t in raw.starts(*series) if start <= t < end):
        c_count = production_to_candidate(raw, ts)
        staging_errors = raw.count(Series.STAGING_5XX, ts)
        c_errors = max(0, raw.count(Series.CANDIDATE_ERRORS, ts) - staging_errors)
        b_count = raw.count(Series.LIVE_INVOCATIONS, ts)
        canary = WindowStats(
            c_count,
            min(c_errors, c_count),
            0,
            *(raw.get(f"candidate_fn_{p}", ts) if c_count else None for p in PERCENTILES),
        )
        baseline = WindowStats(
            b_count,
            min(raw.count(Series.LIVE_ERRORS, ts), b_count),
            0,
            *(raw.get(f"live_fn_{p}", ts) if b_count else None for p in PERCENTILES),
        )
        samples.append(PeriodSample(ts, canary, baseline))
    return samples


def samples(raw: RawSeries, source: str, start: float, end: float) -> list[PeriodSample]:
    if source == LAMBDA_PER_SLOT:
        return lambda_samples(raw, start, end)
    return apigateway_samples(raw, start, end)


# Production requests the candidate function must have served, with the canary dimension silent, before
# the per-slot metrics take over: a few, so that a test invocation or two of the function cannot switch it.
MIN_UNSEEN_CANARY_REQUESTS = 5


@dataclass
class SourceCheck:
    """Which source decides: checked on settled periods once the canary has had traffic, decided once."""

    source: str = APIGATEWAY_CANARY
    decided: bool = False
    canary_requests: int = 0  # the canary dimension's Count over the checked periods
    candidate_requests: int = 0  # production requests the candidate function served in them
    checked: set[float] = field(default_factory=set)

    def check(self, raw: RawSeries, since: float, settled_end: float) -> str | None:
        """Add the settled periods in [since, settled_end) not checked yet; the reason for the decision
        when this call makes it, else None."""
        if self.decided:
            return None
        for ts in raw.starts(Series.CANARY_COUNT, Series.CANDIDATE_INVOCATIONS, Series.STAGE_COUNT):
            if since <= ts < settled_end and ts not in self.checked:
                self.checked.add(ts)
                self.canary_requests += raw.count(Series.CANARY_COUNT, ts)
                self.candidate_requests += production_to_candidate(raw, ts)
        if self.canary_requests > 0:
            self.decided = True
            return (
                f"API Gateway's canary dimension counted {self.canary_requests} requests; it decides, "
                "with baseline = stage minus canary"
            )
        if self.candidate_requests >= MIN_UNSEEN_CANARY_REQUESTS:
            self.decided = True
            self.source = LAMBDA_PER_SLOT
            return (
                f"the canary dimension shows no requests while the candidate function served "
                f"{self.candidate_requests} production requests: the per-slot Lambda metrics decide"
            )
        return None


def gate_series(gate: str, side: str) -> str:
    """The RawSeries key of a user gate's values; side is "candidate" or "baseline"."""
    return f"gate:{gate}:{side}"


def user_values(
    raw: RawSeries, gate_names: tuple[str, ...], start: float, end: float
) -> dict[str, list[GateValue]]:
    """Each user metric gate's values per period in [start, end): the candidate's and the baseline's."""
    out: dict[str, list[GateValue]] = {}
    for name in gate_names:
        candidate = raw.values.get(gate_series(name, "candidate"), {})
        baseline = raw.values.get(gate_series(name, "baseline"), {})
        stamps = sorted(ts for ts in {*candidate, *baseline} if start <= ts < end)
        out[name] = [GateValue(ts, candidate.get(ts), baseline.get(ts)) for ts in stamps]
    return out
