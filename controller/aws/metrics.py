"""Canary and baseline metrics: ONE GetMetricData call per tick for every series the gates need.

API Gateway publishes a canary's requests under `Stage = "{stage}/Canary"` and also counts them in the
stage's own metrics, so baseline = stage - canary for counts. Percentiles cannot be subtracted: the
baseline's latency is the stage's, which includes the canary's share (close at low percentages, and it
only makes the latency-vs-baseline gate more lenient as the canary grows).
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/canary-release.html
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controller.aws.clients import aws_errors
from controller.stats import WindowStats

# (query id suffix, metric name, statistic) for each of the two dimensions.
SERIES = (
    ("count", "Count", "Sum"),
    ("e5xx", "5XXError", "Sum"),
    ("e4xx", "4XXError", "Sum"),
    ("p50", "Latency", "p50"),
    ("p90", "Latency", "p90"),
    ("p99", "Latency", "p99"),
)


@dataclass(frozen=True)
class PeriodSample:
    start: float  # epoch seconds of the period's start
    canary: WindowStats
    baseline: WindowStats

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

    def queries(self) -> list[dict[str, Any]]:
        queries = []
        for role, stage in (("canary", f"{self.stage}/Canary"), ("stage", self.stage)):
            dimensions = [{"Name": "ApiName", "Value": self.api_name}, {"Name": "Stage", "Value": stage}]
            for suffix, metric, stat in SERIES:
                queries.append(
                    {
                        "Id": f"{role}_{suffix}",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": self.namespace,
                                "MetricName": metric,
                                "Dimensions": dimensions,
                            },
                            "Period": self.period_s,
                            "Stat": stat,
                        },
                        "ReturnData": True,
                    }
                )
        return queries

    def fetch(self, start: float, end: float) -> list[PeriodSample]:
        """Per-period samples in [start, end), oldest first; a period without any datapoint is absent."""
        values: dict[str, dict[float, float]] = {}
        request: dict[str, Any] = {
            "MetricDataQueries": self.queries(),
            "StartTime": datetime.fromtimestamp(start, UTC),
            "EndTime": datetime.fromtimestamp(end, UTC),
            "ScanBy": "TimestampAscending",
        }
        while True:
            with aws_errors("GetMetricData"):
                page = self._client.get_metric_data(**request)
            for result in page.get("MetricDataResults", []):
                series = values.setdefault(result["Id"], {})
                for ts, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    series[_epoch(ts)] = float(value)
            token = page.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
        return build_samples(values, start, end)


def build_samples(values: dict[str, dict[float, float]], start: float, end: float) -> list[PeriodSample]:
    stamps = sorted({ts for series in values.values() for ts in series if start <= ts < end})

    def get(role: str, suffix: str, ts: float) -> float | None:
        return values.get(f"{role}_{suffix}", {}).get(ts)

    samples = []
    for ts in stamps:
        c_count = int(get("canary", "count", ts) or 0)
        c_5xx = int(get("canary", "e5xx", ts) or 0)
        c_4xx = int(get("canary", "e4xx", ts) or 0)
        s_count = int(get("stage", "count", ts) or 0)
        canary = WindowStats(
            requests=c_count,
            errors_5xx=c_5xx,
            errors_4xx=c_4xx,
            p50_ms=get("canary", "p50", ts) if c_count else None,
            p90_ms=get("canary", "p90", ts) if c_count else None,
            p99_ms=get("canary", "p99", ts) if c_count else None,
        )
        base_count = max(0, s_count - c_count)
        baseline = WindowStats(
            requests=base_count,
            errors_5xx=max(0, int(get("stage", "e5xx", ts) or 0) - c_5xx),
            errors_4xx=max(0, int(get("stage", "e4xx", ts) or 0) - c_4xx),
            p50_ms=get("stage", "p50", ts) if base_count else None,
            p90_ms=get("stage", "p90", ts) if base_count else None,
            p99_ms=get("stage", "p99", ts) if base_count else None,
        )
        samples.append(PeriodSample(ts, canary, baseline))
    return samples
