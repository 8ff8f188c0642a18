"""CloudWatch as the controller's `MetricsSource`: ONE GetMetricData call per tick for every series.

It returns raw per-period datapoints (`controller.measurement.RawSeries`); turning them into the canary's and
the baseline's numbers is the measurement model's job (controller/measurement.py), not this adapter's.

Series read each tick (21, 23 with a slow-request threshold, plus a user gate's): API Gateway `Count`,
`5XXError`, `4XXError` for the production stage and for `{stage}/Canary` (with the canary's `Latency`
p50/p90/p99), `Count` and `5XXError` for the staging stage, and `AWS/Lambda` `Duration` p50/p90/p99,
`Invocations` and `Errors` per slot function; with a slow-request threshold T, also `Latency` `PR(:T)` (the
percentage of requests at most T ms) for the production stage and for `{stage}/Canary`.

The baseline history (one more GetMetricData, before the rollout): `Count` and `5XXError` sums of the stage
and its canary per minute, and the stage's `Latency` p99 over the whole window (the default threshold).
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from controller.aws.clients import aws_errors
from controller.domain import BaselineHistory
from controller.measurement import PERCENTILES, RawSeries, Series, gate_series
from controller.user_gates import MetricQuery, MetricRef, UserGate

LAMBDA_NAMESPACE = "AWS/Lambda"
MAX_QUERIES = 500  # GetMetricData's limit per call
HISTORY_PERIOD_S = 60  # the history is read per minute: the judge sees how much the rate varies
HISTORY_P99 = "stage_p99"  # the history's query id of the stage's Latency p99 over the whole window


@dataclass(frozen=True)
class FunctionPair:
    """The Lambda functions behind the two versions: `controller_config.slots[slot].function_name`."""

    live: str
    candidate: str


@dataclass(frozen=True)
class MetricsRequest:
    functions: FunctionPair
    user_gates: tuple[UserGate, ...] = ()  # bound (placeholders filled) metric and expression gates
    # Latency above which a request is slow (ms); None: no slow-request series are read.
    slow_threshold_ms: float | None = None


def _plain(value: float) -> str:
    """A number as CloudWatch's statistic names take it: 250.0 -> "250", 0.5 -> "0.5", 1e6 -> "1000000"
    (no exponent, which `:g` would write from a million on)."""
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def fast_share_stat(threshold_ms: float) -> str:
    """CloudWatch's percentile rank of requests at or below the threshold: PR(:T), a percentage."""
    return f"PR(:{_plain(threshold_ms)})"


def history_latency_period(window_s: float) -> int:
    """The Period that reads the history's p99 as one datapoint: the window rounded down to whole minutes
    (GetMetricData's periods above a minute are multiples of 60 s), at least one minute."""
    return max(HISTORY_PERIOD_S, int(window_s // HISTORY_PERIOD_S) * HISTORY_PERIOD_S)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _stat_query(qid: str, metric: MetricRef, period_s: int, return_data: bool = True) -> dict[str, Any]:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {
                "Namespace": metric.namespace,
                "MetricName": metric.name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in metric.dimensions],
            },
            "Period": period_s,
            "Stat": metric.stat,
        },
        "ReturnData": return_data,
    }


def _gate_queries(prefix: str, query: MetricQuery, period_s: int) -> list[dict[str, Any]]:
    """One side of a user gate: its metric, or its metrics (hidden) and the expression over them, with the
    ids renamed so that several gates' `m1`s do not collide in one request."""
    if query.metric is not None:
        return [_stat_query(prefix, query.metric, period_s)]
    assert query.expression is not None
    ids = {qid: f"{prefix}_{qid}" for qid, _ in query.metrics}
    out = [_stat_query(ids[qid], metric, period_s, return_data=False) for qid, metric in query.metrics]
    expression = re.sub(
        r"\b[a-z][A-Za-z0-9_]*\b", lambda m: ids.get(m.group(0), m.group(0)), query.expression
    )
    out.append({"Id": prefix, "Expression": expression, "Period": period_s, "ReturnData": True})
    return out


class MetricsAdapter:
    def __init__(
        self,
        client: Any,
        namespace: str,
        api_name: str,
        stage: str,
        period_s: int,
        staging_stage: str = "staging",
    ) -> None:
        self._client = client
        self.namespace = namespace
        self.api_name = api_name
        self.stage = stage
        self.staging_stage = staging_stage
        self.period_s = period_s

    def _api(self, stage: str, metric: str, stat: str) -> MetricRef:
        return MetricRef(self.namespace, metric, stat, (("ApiName", self.api_name), ("Stage", stage)))

    def _fn(self, function: str, metric: str, stat: str) -> MetricRef:
        return MetricRef(LAMBDA_NAMESPACE, metric, stat, (("FunctionName", function),))

    def series(self, functions: FunctionPair, slow_threshold_ms: float | None = None) -> dict[str, MetricRef]:
        canary, stage, staging = f"{self.stage}/Canary", self.stage, self.staging_stage
        out = {
            Series.CANARY_COUNT: self._api(canary, "Count", "Sum"),
            Series.CANARY_5XX: self._api(canary, "5XXError", "Sum"),
            Series.CANARY_4XX: self._api(canary, "4XXError", "Sum"),
            Series.STAGE_COUNT: self._api(stage, "Count", "Sum"),
            Series.STAGE_5XX: self._api(stage, "5XXError", "Sum"),
            Series.STAGE_4XX: self._api(stage, "4XXError", "Sum"),
            Series.STAGING_COUNT: self._api(staging, "Count", "Sum"),
            Series.STAGING_5XX: self._api(staging, "5XXError", "Sum"),
            Series.LIVE_INVOCATIONS: self._fn(functions.live, "Invocations", "Sum"),
            Series.LIVE_ERRORS: self._fn(functions.live, "Errors", "Sum"),
            Series.CANDIDATE_INVOCATIONS: self._fn(functions.candidate, "Invocations", "Sum"),
            Series.CANDIDATE_ERRORS: self._fn(functions.candidate, "Errors", "Sum"),
        }
        for pct in PERCENTILES:
            out[f"canary_{pct}"] = self._api(canary, "Latency", pct)
            out[f"live_fn_{pct}"] = self._fn(functions.live, "Duration", pct)
            out[f"candidate_fn_{pct}"] = self._fn(functions.candidate, "Duration", pct)
        if slow_threshold_ms is not None:
            # The stage's too: its slow requests minus the canary's are the baseline's (measurement.py).
            share = fast_share_stat(slow_threshold_ms)
            out[Series.CANARY_FAST_SHARE] = self._api(canary, "Latency", share)
            out[Series.STAGE_FAST_SHARE] = self._api(stage, "Latency", share)
        return {str(k): v for k, v in out.items()}

    def queries(self, request: MetricsRequest) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """The GetMetricData queries and, for each returned id, its RawSeries key."""
        queries, keys = [], {}
        for key, metric in sorted(self.series(request.functions, request.slow_threshold_ms).items()):
            queries.append(_stat_query(key, metric, self.period_s))  # series names are valid query ids
            keys[key] = key
        for index, gate in enumerate(request.user_gates):
            for side, query in (("candidate", gate.candidate), ("baseline", gate.baseline)):
                if query is None:
                    continue
                prefix = f"g{index}{side[0]}"
                queries += _gate_queries(prefix, query, self.period_s)
                keys[prefix] = gate_series(gate.name, side)
        if len(queries) > MAX_QUERIES:
            raise ValueError(f"{len(queries)} metric queries exceed GetMetricData's {MAX_QUERIES}")
        return queries, keys

    def fetch(self, start: float, end: float, request: MetricsRequest) -> RawSeries:
        """Every series' datapoints in [start, end), one GetMetricData request (page after page)."""
        queries, keys = self.queries(request)
        values: dict[str, dict[float, float]] = {}
        for result in self._results(queries, start, end, ScanBy="TimestampAscending"):
            key = keys.get(result["Id"])
            if key is None:
                continue
            series = values.setdefault(key, {})
            for ts, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                series[_epoch(ts)] = float(value)
        return RawSeries(values)

    def history(self, start: float, end: float) -> BaselineHistory:
        """The live version's requests and 5XX errors in [start, end), minute by minute: stage minus canary;
        and the stage's Latency p99 over the whole window.

        One GetMetricData: four Sum series at one-minute periods (the metric period when it is longer), and
        the p99 at a period of the whole window (each MetricStat has its own Period). The p99 is the stage's,
        canary included: percentiles cannot be subtracted, and a rollout's canary is a small part of a day.
        """
        period = max(HISTORY_PERIOD_S, self.period_s)
        roles = (
            ("canary_count", self._api(f"{self.stage}/Canary", "Count", "Sum")),
            ("canary_e5xx", self._api(f"{self.stage}/Canary", "5XXError", "Sum")),
            ("stage_count", self._api(self.stage, "Count", "Sum")),
            ("stage_e5xx", self._api(self.stage, "5XXError", "Sum")),
        )
        queries = [_stat_query(qid, metric, period) for qid, metric in roles]
        p99 = self._api(self.stage, "Latency", "p99")
        queries.append(_stat_query(HISTORY_P99, p99, history_latency_period(end - start)))
        per: dict[str, dict[float, float]] = {}
        for result in self._results(queries, start, end, ScanBy="TimestampAscending"):
            series = per.setdefault(result["Id"], {})
            for ts, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                series[_epoch(ts)] = series.get(_epoch(ts), 0.0) + float(value)
        return history_from(per)

    def _results(
        self, queries: Sequence[dict[str, Any]], start: float, end: float, **extra: Any
    ) -> Iterator[dict[str, Any]]:
        """Every MetricDataResult of one GetMetricData request in [start, end), page after page."""
        request: dict[str, Any] = {
            "MetricDataQueries": list(queries),
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


def history_from(per: dict[str, dict[float, float]]) -> BaselineHistory:
    """Stage minus canary, period by period, oldest first; periods without stage traffic are left out.

    The p99 is one datapoint, or several where CloudWatch aligns its periods to the clock and the window
    straddles a boundary: their maximum then, since the p99s of the parts cannot be merged, and the largest
    is at least the whole window's p99 (above it lie at most 1 % of every part's requests), so the
    threshold stays in the live version's tail rather than moving into its body.
    """
    periods = []
    for ts in sorted(per.get("stage_count", {})):
        requests = max(0, round(per["stage_count"][ts] - per.get("canary_count", {}).get(ts, 0.0)))
        errors = max(
            0, round(per.get("stage_e5xx", {}).get(ts, 0.0) - per.get("canary_e5xx", {}).get(ts, 0.0))
        )
        if requests:
            periods.append((requests, min(errors, requests)))
    p99s = per.get(HISTORY_P99, {}).values()
    return BaselineHistory(
        sum(n for n, _ in periods),
        sum(k for _, k in periods),
        per_period=tuple(periods),
        latency_p99_ms=max(p99s) if p99s else None,
    )
