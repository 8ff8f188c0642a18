"""CloudWatch metrics: data-plane metrics, statistics, percentiles and metric math.

Pages followed:
APIGW   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
CANARY  https://docs.aws.amazon.com/apigateway/latest/developerguide/canary-release.html
GMS     https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html
GMD     https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
STATS   https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html
MATH    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html
LAMBDA  https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cw(aws_client):
    return aws_client("cloudwatch")


def _window():
    now = datetime.now(UTC)
    return now - timedelta(minutes=10), now + timedelta(minutes=1)


def _dims(api_name: str, stage: str) -> list[dict[str, str]]:
    return [{"Name": "ApiName", "Value": api_name}, {"Name": "Stage", "Value": stage}]


def _stat(cw, namespace, name, dims, stat="Sum", period=60):
    start, end = _window()
    points = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=dims,
        StartTime=start,
        EndTime=end,
        Period=period,
        Statistics=[stat],
    )["Datapoints"]
    return sum(p[stat] for p in points) if stat in ("Sum", "SampleCount") else points


def test_percentiles_and_basic_statistics_come_from_recorded_values(cw):
    namespace = unique("Test")
    values = list(range(1, 101))  # 1..100
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[{"MetricName": "Latency", "Values": [float(v) for v in values], "Unit": "Milliseconds"}],
    )
    start, end = _window()
    points = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        StartTime=start,
        EndTime=end,
        Period=600,
        Statistics=["Sum", "Average", "SampleCount", "Minimum", "Maximum"],
        ExtendedStatistics=["p50", "p90", "p99", "p99.9"],
    )["Datapoints"]
    assert len(points) == 1
    point = points[0]
    # GMS: ExtendedStatistics are percentiles p0.0-p100, answered in Datapoint.ExtendedStatistics.
    assert (point["Sum"], point["Average"], point["SampleCount"]) == (5050.0, 50.5, 100.0)
    assert (point["Minimum"], point["Maximum"]) == (1.0, 100.0)
    assert point["ExtendedStatistics"] == {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 100.0}
    assert point["Unit"] == "Milliseconds"


def test_get_metric_data_answers_percentile_stats_and_metric_math(cw):
    namespace = unique("Test")
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": "Requests", "Values": [1.0], "Counts": [40.0]},
            {"MetricName": "Errors", "Values": [1.0], "Counts": [10.0]},
            {"MetricName": "Latency", "Values": [10.0, 20.0, 500.0], "Counts": [50.0, 49.0, 1.0]},
        ],
    )
    start, end = _window()

    def stat(qid, name, s, ret=True):
        return {
            "Id": qid,
            "ReturnData": ret,
            "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": name}, "Period": 600, "Stat": s},
        }

    result = cw.get_metric_data(
        StartTime=start,
        EndTime=end,
        MetricDataQueries=[
            stat("requests", "Requests", "Sum", False),
            stat("errors", "Errors", "Sum", False),
            stat("p99", "Latency", "p99"),
            stat("p50", "Latency", "p50"),
            {"Id": "rate", "Expression": "errors / requests"},
            {"Id": "pct", "Expression": "100*errors/requests"},
            {"Id": "flag", "Expression": "IF(pct > 20, 1, 0)"},
            {"Id": "filled", "Expression": "FILL(errors, 0) + 1"},
        ],
    )["MetricDataResults"]
    by_id = {r["Id"]: r for r in result}
    # GMD: Stat may be any statistic including percentiles; ReturnData=false queries are not returned.
    assert set(by_id) == {"p99", "p50", "rate", "pct", "flag", "filled"}
    assert by_id["p99"]["Values"] == [20.0] and by_id["p50"]["Values"] == [10.0]
    # MATH: arithmetic across time series.
    assert by_id["rate"]["Values"] == [0.25]
    assert by_id["pct"]["Values"] == [25.0]
    assert by_id["flag"]["Values"] == [1.0]
    # FILL gives the periods without data a value, so "filled" has a point for every period in the range.
    filled = by_id["filled"]["Values"]
    assert 11.0 in filled and len(filled) >= 2 and set(filled) == {11.0, 1.0}
    assert all(r["StatusCode"] == "Complete" for r in result)


def test_percentile_rank_is_answered_by_get_metric_data_and_get_metric_statistics(cw):
    namespace = unique("Test")
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": "Latency",
                "Values": [100.0, 300.0, 301.0, 2000.0],
                "Counts": [50.0, 30.0, 15.0, 5.0],
            },
            {
                "MetricName": "Summary",
                "StatisticValues": {"SampleCount": 2, "Sum": 3, "Minimum": 1, "Maximum": 2},
            },
        ],
    )
    start, end = _window()

    def query(qid, name, stat):
        metric = {"Namespace": namespace, "MetricName": name}
        return {"Id": qid, "MetricStat": {"Metric": metric, "Period": 600, "Stat": stat}}

    result = cw.get_metric_data(
        StartTime=start,
        EndTime=end,
        MetricDataQueries=[
            query("upto", "Latency", "PR(:300)"),
            query("between", "Latency", "PR(100:2000)"),
            query("above", "Latency", "PR(300:)"),
            query("sets", "Summary", "PR(:5)"),
        ],
    )["MetricDataResults"]
    by_id = {r["Id"]: r["Values"] for r in result}
    # STATS: PR(:300) is the percentage of values at or below 300; the lower bound is exclusive, the upper
    # inclusive. A statistic set has no values to rank: no datapoint, as for a percentile.
    assert by_id == {"upto": [80.0], "between": [50.0], "above": [20.0], "sets": []}
    points = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        StartTime=start,
        EndTime=end,
        Period=600,
        ExtendedStatistics=["PR(:300)", "p50"],
    )["Datapoints"]
    assert [p["ExtendedStatistics"] for p in points] == [{"PR(:300)": 80.0, "p50": 100.0}]


def test_the_controllers_adapter_reads_slow_requests_and_the_history_p99_from_the_local_cloud(cw):
    from controller.aws.metrics import FunctionPair, MetricsAdapter, MetricsRequest
    from controller.measurement import apigateway_samples

    namespace, minute = unique("Test"), int(time.time() // 60) * 60 - 60
    canary, stage = _dims("api", "production/Canary"), _dims("api", "production")

    def put(dims, name, values, counts):
        datum = {"MetricName": name, "Dimensions": dims, "Values": values, "Counts": counts}
        cw.put_metric_data(Namespace=namespace, MetricData=[{**datum, "Timestamp": minute + 30}])

    # 100 canary requests, 10 of them slow; the stage counts them too, with the live version's 900 (none
    # slow, 4 at 200 ms): APIGW/CANARY, as the data plane publishes them.
    put(canary, "Count", [1.0], [100.0])
    put(canary, "Latency", [100.0, 500.0], [90.0, 10.0])
    put(stage, "Count", [1.0], [1000.0])
    put(stage, "Latency", [100.0, 200.0, 500.0], [986.0, 4.0, 10.0])
    adapter = MetricsAdapter(cw, namespace, "api", "production", 60)
    request = MetricsRequest(FunctionPair("blue-fn", "green-fn"), slow_threshold_ms=250.0)
    raw = adapter.fetch(minute - 60, minute + 120, request)
    (sample,) = apigateway_samples(raw, minute - 60, minute + 120)
    assert (sample.start, sample.canary.requests, sample.baseline.requests) == (minute, 100, 900)
    assert (sample.canary.slow_requests, sample.baseline.slow_requests) == (10, 0)
    # The history's p99 is the stage's over the whole window (one datapoint): the 990th of 1,000 values.
    history = adapter.history(minute + 120 - 3600, minute + 120)
    assert (history.requests, history.latency_p99_ms) == (900, 200.0)


def test_a_malformed_percentile_rank_is_an_invalid_parameter(cw):
    from botocore.exceptions import ClientError

    start, end = _window()
    metric = {"Namespace": unique("Test"), "MetricName": "Latency"}
    with pytest.raises(ClientError) as err:
        cw.get_metric_data(
            StartTime=start,
            EndTime=end,
            MetricDataQueries=[{"Id": "x", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "PR(:)"}}],
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "PR(:300)" in err.value.response["Error"]["Message"]


def test_unknown_identifier_in_expression_is_a_validation_error(cw):
    from botocore.exceptions import ClientError

    start, end = _window()
    with pytest.raises(ClientError) as err:
        cw.get_metric_data(
            StartTime=start, EndTime=end, MetricDataQueries=[{"Id": "x", "Expression": "nope * 2"}]
        )
    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_data_plane_publishes_stage_and_canary_metrics(make_function, make_api, aws_client, cw):
    apigw = aws_client("apigateway")
    good = make_function(env={"VERSION": "v1"})
    bad = make_function(env={"MODE": "raise"})
    api = make_api()
    apigw.create_deployment(restApiId=api.id, stageName="production", variables={"slot": good})
    with requests.Session() as http:
        assert http.get(api.url("production", "/missing")).status_code == 403
        apigw.create_deployment(
            restApiId=api.id,
            stageName="production",
            canarySettings={"percentTraffic": 50, "stageVariableOverrides": {"slot": bad}},
        )
        statuses = [http.get(api.url("production")).status_code for _ in range(40)]
    canary_requests = statuses.count(502)
    assert 0 < canary_requests < 40
    stage, canary = _dims(api.name, "production"), _dims(api.name, "production/Canary")
    # APIGW: Count is the number of requests, 5XXError/4XXError the errors, with ApiName+Stage dimensions;
    # CANARY: canary requests get their own metrics and are also reported with the stage's.
    assert _stat(cw, "AWS/ApiGateway", "Count", stage, "SampleCount") == 41
    assert _stat(cw, "AWS/ApiGateway", "5XXError", stage) == canary_requests
    assert _stat(cw, "AWS/ApiGateway", "4XXError", stage) == 1
    assert _stat(cw, "AWS/ApiGateway", "Count", canary, "SampleCount") == canary_requests
    assert _stat(cw, "AWS/ApiGateway", "5XXError", canary) == canary_requests
    assert _stat(cw, "AWS/ApiGateway", "Count", [{"Name": "ApiName", "Value": api.name}], "SampleCount") == 41
    latency = _stat(cw, "AWS/ApiGateway", "Latency", stage, "Maximum")
    integration = _stat(cw, "AWS/ApiGateway", "IntegrationLatency", stage, "Maximum")
    assert latency[0]["Maximum"] >= integration[0]["Maximum"] > 0
    # LAMBDA: Invocations, Errors, Duration per FunctionName.
    fn_bad = [{"Name": "FunctionName", "Value": bad}]
    assert _stat(cw, "AWS/Lambda", "Invocations", fn_bad) == canary_requests
    assert _stat(cw, "AWS/Lambda", "Errors", fn_bad) == canary_requests
    assert _stat(cw, "AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": good}]) == 0
    listed = cw.list_metrics(Namespace="AWS/ApiGateway", Dimensions=[{"Name": "ApiName", "Value": api.name}])
    names = {
        (m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])))
        for m in listed["Metrics"]
    }
    assert ("Count", (("ApiName", api.name), ("Stage", "production/Canary"))) in names


def test_dimension_sets_must_match_exactly(cw):
    namespace = unique("Test")
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": "M",
                "Value": 5.0,
                "Dimensions": [{"Name": "A", "Value": "1"}, {"Name": "B", "Value": "2"}],
            }
        ],
    )
    # CloudWatch identifies a metric by its full dimension set: a subset query finds nothing.
    assert _stat(cw, namespace, "M", [{"Name": "A", "Value": "1"}]) == 0
    assert _stat(cw, namespace, "M", [{"Name": "B", "Value": "2"}, {"Name": "A", "Value": "1"}]) == 5.0
