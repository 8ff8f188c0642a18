"""CloudWatch metrics that answer with real numbers.

moto 5.2.5 keeps every datum in one list, scans it per query, ignores ExtendedStatistics (datapoints without a
value) and fails GetMetricData with a percentile stat (HTTP 500). This module replaces the storage and the
statistics of moto's CloudWatch backend: values are kept per series in time buckets of the local metric
period, so Sum/Average/SampleCount/Minimum/Maximum, percentiles and percentile ranks (PR) are computed from
the recorded values. The store hangs off moto's own backend object, so PutMetricData, GetMetricData,
GetMetricStatistics, ListMetrics, the alarm evaluator and the data plane all see the same data.
"""

from __future__ import annotations

import math
import re
import threading
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SeriesKey = tuple[str, str, frozenset[tuple[str, str]]]
Window = tuple[int, "Bucket"]

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
# Percentile rank, PR(lower:upper): bounds are absolute values, either one may be left out but not both.
# Up to 10 decimals, as CloudWatch documents for the bounds of its other ranged statistics (TM, WM).
_BOUND = r"\d+(?:\.\d{1,10})?"
_PERCENTILE_RANK = re.compile(rf"^PR\((?P<lower>{_BOUND})?:(?P<upper>{_BOUND})?\)$")
BASIC_STATS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
# What the error messages offer in place of a statistic the local cloud does not compute.
SUPPORTED_STATS = (
    f"{', '.join(BASIC_STATS)}, a percentile such as p50, p90, p99 or p99.9, or a percentile rank such as "
    "PR(:300) or PR(100:2000)"
)
RETENTION_SECONDS = 6 * 3600


@dataclass
class MetricSettings:
    """Process-wide knobs set by the server at start-up."""

    period: int = 60  # the local equivalent of CloudWatch's 60 s standard resolution
    # Whether canary requests are also published under Stage = "{stage}/Canary". AWS documents that name for
    # the canary's log group; off lets the controller's check of its own metrics source be exercised
    # (`--no-canary-metrics`, LOCALCLOUD_CANARY_METRICS=off).
    canary_dimension: bool = True


SETTINGS = MetricSettings()


class MetricQueryError(ValueError):
    """A query the caller got wrong; the CloudWatch layer turns it into InvalidParameterValue."""


@dataclass
class Bucket:
    """Samples of one series in one metric period."""

    values: array = field(default_factory=lambda: array("d"))
    # (sum, minimum, maximum, sample_count) tuples from PutMetricData StatisticValues.
    aggregates: list[tuple[float, float, float, float]] = field(default_factory=list)

    def merged(self, other: Bucket) -> Bucket:
        out = Bucket(array("d", self.values), list(self.aggregates))
        out.values.extend(other.values)
        out.aggregates.extend(other.aggregates)
        return out


@dataclass
class Series:
    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]]
    unit: str | None = None
    buckets: dict[int, Bucket] = field(default_factory=dict)


def to_epoch(value: Any) -> float:
    """Accept datetimes (naive = UTC, as moto parses them), epoch numbers or ISO strings."""
    if value is None:
        return time.time()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if "T" in text else float(text)


def effective_period(requested: int | None) -> int:
    """Round a requested Period up to a multiple of the local metric period (at least one period)."""
    base = SETTINGS.period
    if not requested or requested <= base:
        return base
    return int(math.ceil(requested / base) * base)


def dims_key(dimensions: Any) -> frozenset[tuple[str, str]]:
    if not dimensions:
        return frozenset()
    if isinstance(dimensions, dict):
        return frozenset((str(k), str(v)) for k, v in dimensions.items())
    out = []
    for d in dimensions:
        if isinstance(d, dict):
            out.append((str(d["Name"]), str(d.get("Value"))))
        else:  # moto Dimension objects
            out.append((str(d.name), str(d.value)))
    return frozenset(out)


class MetricStore:
    """Thread-safe series store; one per CloudWatch backend (account + region)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[SeriesKey, Series] = {}
        self._last_prune = time.time()

    # -- writing -------------------------------------------------------------------------------------------
    def put(
        self,
        namespace: str,
        name: str,
        dimensions: Any,
        value: float,
        timestamp: float | None = None,
        unit: str | None = None,
        count: int = 1,
    ) -> None:
        self.put_many(namespace, [(name, dims_key(dimensions), value, unit)], timestamp, count)

    def put_many(
        self,
        namespace: str,
        samples: list[tuple[str, frozenset[tuple[str, str]], float, str | None]],
        timestamp: float | None = None,
        count: int = 1,
    ) -> None:
        """Record several samples at once (the data plane publishes ~15 per request under one lock)."""
        ts = time.time() if timestamp is None else timestamp
        bucket_start = int(ts // SETTINGS.period) * SETTINGS.period
        with self._lock:
            for name, dims, value, unit in samples:
                series = self._series_for(namespace, name, dims, unit)
                bucket = series.buckets.get(bucket_start)
                if bucket is None:
                    bucket = series.buckets[bucket_start] = Bucket()
                if count == 1:
                    bucket.values.append(value)
                else:
                    bucket.values.extend([value] * count)
            self._maybe_prune(ts)

    def put_statistic_set(
        self,
        namespace: str,
        name: str,
        dimensions: Any,
        stats: tuple[float, float, float, float],
        timestamp: float | None = None,
        unit: str | None = None,
    ) -> None:
        ts = time.time() if timestamp is None else timestamp
        bucket_start = int(ts // SETTINGS.period) * SETTINGS.period
        with self._lock:
            series = self._series_for(namespace, name, dims_key(dimensions), unit)
            series.buckets.setdefault(bucket_start, Bucket()).aggregates.append(stats)

    def _series_for(self, namespace: str, name: str, dims: frozenset, unit: str | None) -> Series:
        key = (namespace, name, dims)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = Series(namespace, name, dims, unit)
        elif unit:
            series.unit = unit
        return series

    def _maybe_prune(self, now: float) -> None:
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        horizon = now - RETENTION_SECONDS
        for series in self._series.values():
            for start in [s for s in series.buckets if s < horizon]:
                del series.buckets[start]

    # -- reading -------------------------------------------------------------------------------------------
    def list_series(
        self, namespace: str | None = None, name: str | None = None, dimension_filters: Any = None
    ) -> list[Series]:
        wanted = []
        for d in dimension_filters or []:
            wanted.append((d["Name"], d.get("Value")))
        with self._lock:
            out = []
            for series in self._series.values():
                if namespace and series.namespace != namespace:
                    continue
                if name and series.name != name:
                    continue
                names = dict(series.dimensions)
                if any(n not in names or (v is not None and names[n] != v) for n, v in wanted):
                    continue
                out.append(series)
            return out

    def unit_of(self, namespace: str, name: str, dimensions: Any) -> str | None:
        series = self._series.get((namespace, name, dims_key(dimensions)))
        return series.unit if series else None

    def windows(
        self,
        namespace: str,
        name: str,
        dimensions: Any,
        start: float,
        end: float,
        period: int,
        unit: str | None = None,
    ) -> list[Window]:
        """Merged buckets per period window (epoch-aligned) with start in [start rounded down, end).

        Dimensions must match exactly, as in CloudWatch: a metric is identified by namespace, name and its
        full
        dimension set.
        """
        key = (namespace, name, dims_key(dimensions))
        first = int(start // period) * period
        with self._lock:
            series = self._series.get(key)
            if series is None or (unit and series.unit and series.unit != unit):
                return []
            grouped: dict[int, Bucket] = {}
            for bucket_start, bucket in series.buckets.items():
                if bucket_start < first or bucket_start >= end:
                    continue
                window = int(bucket_start // period) * period
                existing = grouped.get(window)
                grouped[window] = bucket.merged(Bucket()) if existing is None else existing.merged(bucket)
        return sorted(grouped.items())


def statistic(bucket: Bucket, stat: str) -> float | None:
    """One CloudWatch statistic of one window; None when it cannot be computed."""
    values = bucket.values
    sample_count = len(values) + sum(a[3] for a in bucket.aggregates)
    if sample_count == 0:
        return None
    if stat == "SampleCount":
        return float(sample_count)
    if stat == "Sum":
        return float(math.fsum(values) + sum(a[0] for a in bucket.aggregates))
    if stat == "Average":
        return float((math.fsum(values) + sum(a[0] for a in bucket.aggregates)) / sample_count)
    if stat == "Minimum":
        return float(min([*values, *(a[1] for a in bucket.aggregates)]))
    if stat == "Maximum":
        return float(max([*values, *(a[2] for a in bucket.aggregates)]))
    match = _PERCENTILE.match(stat)
    if match:
        if not values:
            return None  # percentiles need raw values; statistic sets cannot provide them (as in CloudWatch)
        return percentile(sorted(values), float(match.group(1)))
    bounds = rank_bounds(stat)
    if bounds is not None:
        # A statistic set says nothing about where its values lie, so, as for percentiles, only raw values
        # answer (a bucket that also holds sets is answered from its raw values alone).
        return percentile_rank(values, *bounds) if values else None
    raise MetricQueryError(f"The statistic {stat!r} is not supported locally; use {SUPPORTED_STATS}.")


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest recorded value with at least pct% of samples at or below it."""
    if pct <= 0:
        return float(sorted_values[0])
    rank = math.ceil(pct / 100.0 * len(sorted_values))
    return float(sorted_values[min(max(rank, 1), len(sorted_values)) - 1])


def rank_bounds(stat: str) -> tuple[float | None, float | None] | None:
    """PR(lower:upper) -> its bounds (None: that side open); None when stat is no valid percentile rank.

    A rank needs at least one bound, and a range whose lower bound is not below its upper one holds no
    value at all: both are a mistake in the query rather than a 0 % answer.
    """
    match = _PERCENTILE_RANK.match(stat)
    if match is None:
        return None
    lower, upper = (None if text is None else float(text) for text in match.group("lower", "upper"))
    if lower is None and upper is None:
        return None
    if lower is not None and upper is not None and lower >= upper:
        return None
    return lower, upper


def percentile_rank(values: Iterable[float], lower: float | None, upper: float | None) -> float:
    """The percentage of values in (lower, upper]: CloudWatch's PR is exclusive below, inclusive above."""
    items = list(values)
    inside = sum(1 for v in items if (lower is None or v > lower) and (upper is None or v <= upper))
    return 100.0 * inside / len(items)


def is_supported_stat(stat: str) -> bool:
    return stat in BASIC_STATS or bool(_PERCENTILE.match(stat)) or rank_bounds(stat) is not None


def is_extended_stat(stat: str) -> bool:
    """What GetMetricStatistics takes in ExtendedStatistics: every supported statistic but the basic five."""
    return is_supported_stat(stat) and stat not in BASIC_STATS


def epoch_to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
