"""Canary and baseline metrics: ONE GetMetricData call per tick for every series the gates need.

Counts: API Gateway publishes a canary's requests under `Stage = "{stage}/Canary"` and also counts them in
the stage's own metrics, so baseline = stage - canary for Count, 5XXError and 4XXError.
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/canary-release.html

Latency: percentiles cannot be subtracted, and the stage's Latency mixes in the canary's requests (a slow
canary at 50% drags the stage's p99 up with it). So the baseline's percentiles come from series that are
not mixed: each slot is its own Lambda function, and `AWS/Lambda` `Duration` with dimension `FunctionName`
gives per-slot percentiles (all versions and aliases of that function).
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
The canary keeps its own API Gateway Latency (what its users see). The baseline's percentile q is the
live function's Duration plus the API Gateway overhead measured on the canary's requests:

    baseline_q = live_duration_q + max(0, canary_latency_q - candidate_duration_q)

so canary_q - baseline_q is the two functions' Duration difference, on the scale users see. The candidate
function also serves the staging stage, so its Duration includes staging's requests (docs/controller.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controller.aws.clients import aws_errors
from controller.judge import BaselineHistory
from controller.stats import WindowStats

LAMBDA_NAMESPACE = "AWS/Lambda"
PERCENTILES = ("p50", "p90", "p99")

# (query id suffix, metric name, statistic) per API Gateway stage dimension. The stage's own Latency is not
# read: it mixes both versions, so it says nothing about either.
CANARY_SERIES = (
    ("count", "Count", "Sum"),
    ("e5xx", "5XXError", "Sum"),
    ("e4xx", "4XXError", "Sum"),
    *((p, "Latency", p) for p in PERCENTILES),
)
STAGE_SERIES = CANARY_SERIES[:3]
MAX_QUERIES = 500  # GetMetricData's limit per call; this adapter needs 15


@dataclass(frozen=True)
class FunctionPair:
    """The Lambda functions behind the two versions: `controller_config.slots[slot].function_name`."""

    live: str
    candidate: str


@dataclass(frozen=True)
class PeriodSample:
    start: float  # epoch seconds of the period's start
    canary: WindowStats  # API Gateway: the canary's counts and Latency
    baseline: WindowStats  # counts: stage - canary; latency: live Duration + the canary's overhead

    @property
    def has_data(self) -> bool:
        return self.canary.requests > 0 or self.baseline.requests > 0


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


class MetricsAdapter:
    def __init__(self, client: Any, namespace: str, api_name: str, stage: str, period_s: int) -> None:
        self._client = client
        self.namespace = namespace
        self.api_name = api_name
        self.stage = stage
        self.period_s = period_s

    def _query(
        self,
        qid: str,
        namespace: str,
        metric: str,
        dims: list[dict[str, str]],
        stat: str,
        period_s: int | None = None,
    ) -> dict:
        return {
            "Id": qid,
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dims},
                "Period": period_s or self.period_s,
                "Stat": stat,
            },
            "ReturnData": True,
        }

    def queries(self, functions: FunctionPair) -> list[dict[str, Any]]:
        queries = []
        for role, stage, series in (
            ("canary", f"{self.stage}/Canary", CANARY_SERIES),
            ("stage", self.stage, STAGE_SERIES),
        ):
            dims = [{"Name": "ApiName", "Value": self.api_name}, {"Name": "Stage", "Value": stage}]
            for suffix, metric, stat in series:
                queries.append(self._query(f"{role}_{suffix}", self.namespace, metric, dims, stat))
        for role, function in (("live", functions.live), ("candidate", functions.candidate)):
            dims = [{"Name": "FunctionName", "Value": function}]
            for pct in PERCENTILES:
                queries.append(self._query(f"{role}_fn_{pct}", LAMBDA_NAMESPACE, "Duration", dims, pct))
        assert len(queries) <= MAX_QUERIES
        return queries

    def history(self, start: float, end: float) -> BaselineHistory:
        """The live version's requests and 5XX errors in [start, end): stage minus canary, summed.

        One GetMetricData of four Sum series at one-hour periods (one-minute periods when the window is not
        a whole number of hours).
        """
        period = 3600 if (end - start) % 3600 == 0 else 60
        queries = []
        for role, stage in (("canary", f"{self.stage}/Canary"), ("stage", self.stage)):
            dims = [{"Name": "ApiName", "Value": self.api_name}, {"Name": "Stage", "Value": stage}]
            for suffix, metric, stat in STAGE_SERIES[:2]:
                queries.append(self._query(f"{role}_{suffix}", self.namespace, metric, dims, stat, period))
        totals: dict[str, float] = {}
        for result in self._results(queries, start, end):
            totals[result["Id"]] = totals.get(result["Id"], 0.0) + sum(result.get("Values", []))
        requests = max(0, round(totals.get("stage_count", 0.0) - totals.get("canary_count", 0.0)))
        errors = max(0, round(totals.get("stage_e5xx", 0.0) - totals.get("canary_e5xx", 0.0)))
        return BaselineHistory(requests, min(errors, requests))

    def fetch(self, start: float, end: float, functions: FunctionPair) -> list[PeriodSample]:
        """Per-period samples in [start, end), oldest first; a period without any datapoint is absent."""
        values: dict[str, dict[float, float]] = {}
        for result in self._results(self.queries(functions), start, end, ScanBy="TimestampAscending"):
            series = values.setdefault(result["Id"], {})
            for ts, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                series[_epoch(ts)] = float(value)
        return build_samples(values, start, end)

    def _results(
        self, queries: list[dict[str, Any]], start: float, end: float, **extra: Any
    ) -> Iterator[dict[str, Any]]:
        """Every MetricDataResult of one GetMetricData request in [start, end), page after page."""
        request: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": datetime.fromtimestamp(start, UTC),
            "EndTime": datetime.fromtimestamp(end, UTC),
            **extra,
        }
        while True:
            with aws_errors("GetMetricData"):
                page = self._client.get_metric_data(**request)
            yield from page.get("MetricDataResults", [])
            token = page.get("NextToken")
            if not token:
                return
            request["NextToken"] = token


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


def build_samples(values: dict[str, dict[float, float]], start: float, end: float) -> list[PeriodSample]:
    # Only API Gateway counts make a period: Duration alone (staging traffic) samples neither version.
    count_ids = ("canary_count", "canary_e5xx", "canary_e4xx", "stage_count", "stage_e5xx", "stage_e4xx")
    stamps = sorted({ts for qid in count_ids for ts in values.get(qid, {}) if start <= ts < end})

    def get(qid: str, ts: float) -> float | None:
        return values.get(qid, {}).get(ts)

    samples = []
    for ts in stamps:
        c_count = int(get("canary_count", ts) or 0)
        c_5xx = int(get("canary_e5xx", ts) or 0)
        c_4xx = int(get("canary_e4xx", ts) or 0)
        base_count = max(0, int(get("stage_count", ts) or 0) - c_count)
        canary_ms = {p: get(f"canary_{p}", ts) if c_count else None for p in PERCENTILES}
        base_ms = {
            p: baseline_latency(canary_ms[p], get(f"candidate_fn_{p}", ts), get(f"live_fn_{p}", ts))
            if base_count
            else None
            for p in PERCENTILES
        }
        canary = WindowStats(
            requests=c_count,
            errors_5xx=c_5xx,
            errors_4xx=c_4xx,
            p50_ms=canary_ms["p50"],
            p90_ms=canary_ms["p90"],
            p99_ms=canary_ms["p99"],
        )
        baseline = WindowStats(
            requests=base_count,
            errors_5xx=max(0, int(get("stage_e5xx", ts) or 0) - c_5xx),
            errors_4xx=max(0, int(get("stage_e4xx", ts) or 0) - c_4xx),
            p50_ms=base_ms["p50"],
            p90_ms=base_ms["p90"],
            p99_ms=base_ms["p99"],
        )
        samples.append(PeriodSample(ts, canary, baseline))
    return samples
