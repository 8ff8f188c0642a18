"""Wire the metric store and metric math into moto's CloudWatch backend and responses.

Everything here patches moto in-process, so the Terraform provider, boto3 and the AWS CLI (whatever wire
protocol
they pick: smithy-rpc-v2-cbor, JSON or query) reach the same code through moto's own request parsing.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from moto.cloudwatch import models as cw_models
from moto.cloudwatch import responses as cw_responses
from moto.cloudwatch.exceptions import InvalidParameterCombination, InvalidParameterValue, ValidationError
from moto.core.responses import ActionResult, EmptyResult

from . import metric_math
from .metrics import (
    SETTINGS,
    SUPPORTED_STATS,
    MetricQueryError,
    MetricStore,
    effective_period,
    epoch_to_datetime,
    is_extended_stat,
    is_supported_stat,
    statistic,
    to_epoch,
)

_store_lock = threading.Lock()


def store_of(backend: Any) -> MetricStore:
    store = backend.__dict__.get("_localcloud_store")
    if store is None:
        with _store_lock:
            store = backend.__dict__.get("_localcloud_store")
            if store is None:
                store = backend.__dict__["_localcloud_store"] = MetricStore()
    return store


def store_for(account_id: str, region: str) -> MetricStore:
    return store_of(cw_models.cloudwatch_backends[account_id][region])


def all_backends() -> list[Any]:
    """Instantiated CloudWatch backends only (indexing a BackendDict would create new ones)."""
    out = []
    for account in dict.values(cw_models.cloudwatch_backends):
        out.extend(dict.values(account))
    return out


# ----------------------------------------------------------------------------------------------------
# Backend methods
# ----------------------------------------------------------------------------------------------------
def put_metric_data(self: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
    for i, metric in enumerate(metric_data):
        self._validate_parameters_put_metric_data(metric, i + 1)
    store = store_of(self)
    for metric in metric_data:
        name = metric["MetricName"]
        dims = metric.get("Dimensions") or []
        unit = metric.get("Unit")
        ts = to_epoch(metric.get("Timestamp")) if metric.get("Timestamp") else None
        if metric.get("Values"):
            counts = metric.get("Counts") or [1] * len(metric["Values"])
            for value, count in zip(metric["Values"], counts, strict=False):
                store.put(namespace, name, dims, float(value), ts, unit, count=int(float(count)))
        elif metric.get("StatisticValues"):
            s = metric["StatisticValues"]
            store.put_statistic_set(
                namespace,
                name,
                dims,
                (float(s["Sum"]), float(s["Minimum"]), float(s["Maximum"]), float(s["SampleCount"])),
                ts,
                unit,
            )
        else:
            store.put(namespace, name, dims, float(metric.get("Value", 0.0)), ts, unit)


def list_metrics(
    self: Any, next_token: str | None, namespace: str, metric_name: str, dimensions: list[dict[str, str]]
) -> tuple[str | None, list[dict[str, Any]]]:
    series = store_of(self).list_series(namespace, metric_name, dimensions)
    metrics = [
        {
            "Namespace": s.namespace,
            "MetricName": s.name,
            "Dimensions": [{"Name": n, "Value": v} for n, v in sorted(s.dimensions)],
        }
        for s in series
    ]
    start = int(next_token or 0)
    page = metrics[start : start + 500]
    token = str(start + 500) if start + 500 < len(metrics) else None
    return token, page


def _check_range(start: float, end: float) -> None:
    if start > end:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")
    if start == end:
        raise ValidationError("The parameter StartTime must not equal parameter EndTime.")


def metric_stat_series(
    store: MetricStore, metric_stat: dict[str, Any], start: float, end: float, period: int
) -> dict[int, float]:
    """{window start: value} for one MetricStat over [start, end)."""
    metric = metric_stat["Metric"]
    stat = metric_stat["Stat"]
    if not is_supported_stat(stat):
        raise InvalidParameterValue(
            f"The value {stat} for parameter MetricDataQueries.member.MetricStat.Stat is not supported "
            f"locally; use {SUPPORTED_STATS}."
        )
    out: dict[int, float] = {}
    for window, bucket in store.windows(
        metric["Namespace"],
        metric["MetricName"],
        metric.get("Dimensions"),
        start,
        end,
        period,
        metric_stat.get("Unit"),
    ):
        value = statistic(bucket, stat)
        if value is not None:
            out[window] = value
    return out


def evaluate_queries(
    store: MetricStore, queries: list[dict[str, Any]], start: float, end: float
) -> dict[str, tuple[dict[str, Any], dict[int, float]]]:
    """Evaluate every query (metric stats and metric math); returns {id: (query, series)}."""
    by_id = {q["Id"]: q for q in queries}
    results: dict[str, dict[int, float]] = {}
    in_progress: set[str] = set()
    metric_ids = [q["Id"] for q in queries if "MetricStat" in q]

    def period_of(query: dict[str, Any]) -> int:
        if "MetricStat" in query:
            return effective_period(int(query["MetricStat"].get("Period") or 0))
        return effective_period(int(query.get("Period") or 0) or _first_metric_period())

    def _first_metric_period() -> int:
        for q in queries:
            if "MetricStat" in q:
                return int(q["MetricStat"].get("Period") or 0)
        return SETTINGS.period

    def resolve(query_id: str) -> dict[int, float]:
        if query_id in results:
            return results[query_id]
        query = by_id.get(query_id)
        if query is None:
            raise ValidationError(
                f"Error in expression: Unrecognized identifier {query_id!r}; "
                "every name in an expression must be the Id of another query."
            )
        if query_id in in_progress:
            raise ValidationError(f"Error in expression {query_id!r}: circular reference.")
        in_progress.add(query_id)
        try:
            period = period_of(query)
            if "MetricStat" in query:
                series = metric_stat_series(store, query["MetricStat"], start, end, period)
            else:
                first = int(start // period) * period
                grid = list(range(first, int(end), period))
                ctx = metric_math.Context(resolve=resolve, grid=grid, period=period, metric_ids=metric_ids)
                try:
                    series = metric_math.as_series(metric_math.evaluate(query["Expression"], ctx), ctx)
                except metric_math.MetricMathError as exc:
                    raise ValidationError(f"Error in expression {query_id!r}: {exc}") from exc
            results[query_id] = series
            return series
        finally:
            in_progress.discard(query_id)

    for q in queries:
        if "MetricStat" not in q and "Expression" not in q:
            raise ValidationError(
                f"The parameter MetricDataQueries.member.{q.get('Id')}.MetricStat is required."
            )
        if str(q.get("Expression", "")).upper().startswith("SELECT"):
            raise ValidationError("Metrics Insights (SELECT) queries are not supported by the local cloud.")
        resolve(q["Id"])
    return {qid: (by_id[qid], results[qid]) for qid in by_id}


def get_metric_data(
    self: Any,
    queries: list[dict[str, Any]],
    start_time: datetime,
    end_time: datetime,
    scan_by: str = "TimestampAscending",
) -> list[dict[str, Any]]:
    start, end = to_epoch(start_time), to_epoch(end_time)
    _check_range(start, end)
    try:
        evaluated = evaluate_queries(store_of(self), queries, start, end)
    except MetricQueryError as exc:
        raise InvalidParameterValue(str(exc)) from exc
    out = []
    for query_id, (query, series) in evaluated.items():
        if not query.get("ReturnData", True):
            continue
        stamps = sorted(series, reverse=(scan_by != "TimestampAscending"))
        if "MetricStat" in query:
            label = query.get("Label") or query["MetricStat"]["Metric"]["MetricName"]
        else:
            label = query.get("Label") or query_id
        out.append(
            {
                "id": query_id,
                "label": label,
                "values": [series[t] for t in stamps],
                "timestamps": [epoch_to_datetime(t) for t in stamps],
                "status_code": "Complete",
            }
        )
    return out


def datapoints(
    store: MetricStore,
    namespace: str,
    metric_name: str,
    dimensions: Any,
    start: float,
    end: float,
    period: int,
    statistics: list[str],
    extended: list[str],
    unit: str | None,
) -> list[dict[str, Any]]:
    out = []
    for window, bucket in store.windows(
        namespace, metric_name, dimensions, start, end, effective_period(period), unit
    ):
        point: dict[str, Any] = {"Timestamp": epoch_to_datetime(window)}
        for stat in statistics:
            point[stat] = statistic(bucket, stat)
        if extended:
            point["ExtendedStatistics"] = {p: statistic(bucket, p) for p in extended}
        point["Unit"] = unit or store.unit_of(namespace, metric_name, dimensions) or "None"
        out.append(point)
    return out


# ----------------------------------------------------------------------------------------------------
# Response methods (where moto drops parameters)
# ----------------------------------------------------------------------------------------------------
def response_get_metric_statistics(self: Any) -> ActionResult:
    namespace = self._get_param("Namespace")
    metric_name = self._get_param("MetricName")
    start = to_epoch(self._get_param("StartTime"))
    end = to_epoch(self._get_param("EndTime"))
    period = self._get_int_param("Period")
    statistics = self._get_param("Statistics", []) or []
    extended = self._get_param("ExtendedStatistics", []) or []
    dimensions = self._get_param("Dimensions", []) or []
    unit = self._get_param("Unit")
    if not statistics and not extended:
        raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
    for p in extended:
        if not is_extended_stat(p):
            raise InvalidParameterValue(
                f"The value {p} for parameter ExtendedStatistics is not supported; use a percentile such as "
                "p99 or a percentile rank such as PR(:300) (the basic statistics go in Statistics)."
            )
    if start >= end:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
    points = datapoints(
        store_of(self.cloudwatch_backend),
        namespace,
        metric_name,
        dimensions,
        start,
        end,
        period or 60,
        statistics,
        extended,
        unit,
    )
    return ActionResult({"Label": metric_name, "Datapoints": points})


def response_put_composite_alarm(self: Any) -> ActionResult:
    backend = self.cloudwatch_backend
    name = self._get_param("AlarmName")
    rule = self._get_param("AlarmRule")
    if not name or not rule:
        raise ValidationError("AlarmName and AlarmRule are required for PutCompositeAlarm.")
    backend.put_metric_alarm(
        name=name,
        namespace=None,
        metric_name=None,
        comparison_operator=None,
        evaluation_periods=None,
        period=None,
        threshold=None,
        statistic=None,
        description=self._get_param("AlarmDescription"),
        dimensions=[],
        alarm_actions=self._get_param("AlarmActions", []) or [],
        ok_actions=self._get_param("OKActions", []) or [],
        insufficient_data_actions=self._get_param("InsufficientDataActions", []) or [],
        actions_enabled=self._get_param("ActionsEnabled", True),
        rule=rule,
        tags=self._get_param("Tags", []) or [],
    )
    return EmptyResult()


def response_describe_alarms(self: Any) -> ActionResult:
    result = _original["describe_alarms"](self)
    types = self._get_param("AlarmTypes", []) or []
    if types and isinstance(result.result, dict):
        if "MetricAlarm" not in types:
            result.result["MetricAlarms"] = []
        if "CompositeAlarm" not in types:
            result.result["CompositeAlarms"] = []
    return result


def backend_put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    previous = self.alarms.get(name)
    alarm = _original["put_metric_alarm"](self, name, *args, **kwargs)
    now = alarm.state_updated_timestamp
    if previous is not None:
        # "When this operation updates an existing alarm, its state is left unchanged" (PutMetricAlarm API
        # ref).
        for attr in (
            "state_value",
            "state_reason",
            "state_reason_data",
            "state_updated_timestamp",
            "history",
            "state_transitioned_timestamp",
        ):
            if hasattr(previous, attr):
                setattr(alarm, attr, getattr(previous, attr))
    else:
        # A new alarm starts in INSUFFICIENT_DATA until it is first evaluated (as in CloudWatch).
        alarm.state_value = "INSUFFICIENT_DATA"
        alarm.state_reason = "Unchecked: Initial alarm creation"
        alarm.state_transitioned_timestamp = now
    alarm.alarm_configuration_updated_timestamp = now
    return alarm


_original: dict[str, Any] = {}
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    backend_cls = cw_models.CloudWatchBackend
    response_cls = cw_responses.CloudWatchResponse
    _original["put_metric_alarm"] = backend_cls.put_metric_alarm
    _original["describe_alarms"] = response_cls.describe_alarms
    backend_cls.put_metric_data = put_metric_data
    backend_cls.get_metric_data = get_metric_data
    backend_cls.list_metrics = list_metrics
    backend_cls.put_metric_alarm = backend_put_metric_alarm
    response_cls.get_metric_statistics = response_get_metric_statistics
    response_cls.put_composite_alarm = response_put_composite_alarm
    response_cls.describe_alarms = response_describe_alarms
