"""Request shapes of the AWS adapters (botocore Stubber: no network) and the lease rules."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber
from controller_fakes import FakeClock, FakeStages

from controller.aws.alarms import AlarmsAdapter
from controller.aws.clients import client_config
from controller.aws.deployments import DeploymentAdapter, is_snapshot, snapshot_description
from controller.aws.lock import LOCK_VARIABLE, Lease, StageLock, holder_is_dead_local
from controller.aws.metrics import FunctionPair, MetricsAdapter, MetricsRequest
from controller.aws.stage import StageAdapter
from controller.errors import AwsError, LockHeldError
from controller.judge import BaselineHistory
from controller.measurement import RawSeries, apigateway_samples, baseline_latency

STAGE = {"stageName": "production", "deploymentId": "d1", "variables": {"slot": "blue"}}


def client(service: str):
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=client_config(),
    )


def test_clients_retry_throttling_and_5xx_with_standard_mode_and_time_out() -> None:
    config = client_config()
    assert config.retries == {"mode": "standard", "max_attempts": 5}
    assert config.connect_timeout and config.read_timeout


def test_promotion_removes_the_canary_before_changing_the_deployment_in_one_call() -> None:
    # Promotion = the stage takes the canary's deployment and variables, and the canary is removed:
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/promote-canary-deployment.html
    api = client("apigateway")
    with Stubber(api) as stub:
        stub.add_response(
            "update_stage",
            {**STAGE, "deploymentId": "d2", "variables": {"slot": "green"}},
            {
                "restApiId": "abc",
                "stageName": "production",
                "patchOperations": [
                    {"op": "remove", "path": "/canarySettings"},
                    {"op": "replace", "path": "/deploymentId", "value": "d2"},
                    {"op": "replace", "path": "/variables/slot", "value": "green"},
                ],
            },
        )
        state = StageAdapter(api, "abc", "slot").promote_canary("production", "d2", "green")
    assert state.deployment_id == "d2" and state.canary is None


def test_an_undo_with_the_former_version_kept_removes_the_canary_first_in_the_same_call() -> None:
    # API Gateway does not change a stage's deployment while a canary is set; operations apply in order.
    api = client("apigateway")
    with Stubber(api) as stub:
        stub.add_response(
            "update_stage",
            {**STAGE, "deploymentId": "d1", "variables": {"slot": "blue"}},
            {
                "restApiId": "abc",
                "stageName": "production",
                "patchOperations": [
                    {"op": "remove", "path": "/canarySettings"},
                    {"op": "replace", "path": "/deploymentId", "value": "d1"},
                    {"op": "replace", "path": "/variables/slot", "value": "blue"},
                    {"op": "remove", "path": "/variables/controller_promoted"},
                ],
            },
        )
        adapter = StageAdapter(api, "abc", "slot")
        state = adapter.switch("production", "d1", "blue", remove=("controller_promoted",), drop_canary=True)
    assert state.deployment_id == "d1" and state.canary is None


def test_a_canary_is_created_with_its_deployment_and_slot_override() -> None:
    # Canary settings on an existing stage via UpdateStage:
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/create-canary-deployment.html
    api = client("apigateway")
    canary = {"percentTraffic": 0.0, "deploymentId": "d2", "stageVariableOverrides": {"slot": "green"}}
    with Stubber(api) as stub:
        stub.add_response(
            "update_stage",
            {**STAGE, "canarySettings": canary},
            {
                "restApiId": "abc",
                "stageName": "production",
                "patchOperations": [
                    {"op": "replace", "path": "/canarySettings/deploymentId", "value": "d2"},
                    {
                        "op": "replace",
                        "path": "/canarySettings/stageVariableOverrides/slot",
                        "value": "green",
                    },
                    {"op": "replace", "path": "/canarySettings/useStageCache", "value": "false"},
                    {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "0.0"},
                ],
            },
        )
        state = StageAdapter(api, "abc", "slot").create_canary("production", "d2", "green", 0)
    assert state.canary_slot("slot") == "green"


def test_an_unknown_stage_is_a_one_line_aws_error_saying_what_to_check() -> None:
    api = client("apigateway")
    with Stubber(api) as stub:
        stub.add_client_error("get_stage", "NotFoundException", "Invalid stage identifier specified", 404)
        with pytest.raises(AwsError, match="stage 'nope' of REST API abc not found"):
            StageAdapter(api, "abc", "slot").get("nope")


def test_other_aws_errors_name_the_operation_and_code() -> None:
    api = client("apigateway")
    with Stubber(api) as stub:
        stub.add_client_error("update_stage", "BadRequestException", "Invalid patch path", 400)
        with pytest.raises(AwsError, match="remove canary \\(UpdateStage production\\): BadRequestException"):
            StageAdapter(api, "abc", "slot").remove_canary("production")


def test_a_snapshot_is_a_deployment_created_without_a_stage_and_described_as_the_controllers() -> None:
    # Without stageName, CreateDeployment only snapshots the API definition; no stage changes:
    # https://docs.aws.amazon.com/apigateway/latest/api/API_CreateDeployment.html
    api = client("apigateway")
    description = snapshot_description("green", "v2.0.0", 1_800_000_000)
    assert description == "apigw-canary green v2.0.0 2027-01-15T08:00:00Z"
    with Stubber(api) as stub:
        stub.add_response(
            "create_deployment",
            {"id": "snap1", "description": description},
            {"restApiId": "abc", "description": description},
        )
        snapshot = DeploymentAdapter(api, "abc").create(description)
    assert snapshot.id == "snap1" and is_snapshot(snapshot.description)
    assert not is_snapshot("Terraform staging") and not is_snapshot(None) and not is_snapshot("apigw-canaryx")


def test_deployments_in_use_include_every_stage_and_every_canary() -> None:
    # GetStages lists every stage of the API, with its deploymentId and canarySettings.deploymentId:
    # https://docs.aws.amazon.com/apigateway/latest/api/API_GetStages.html
    api = client("apigateway")
    stages = [
        {"stageName": "production", "deploymentId": "d1", "canarySettings": {"deploymentId": "d2"}},
        {"stageName": "staging", "deploymentId": "d3"},
        {"stageName": "qa", "deploymentId": "d4"},
    ]
    with Stubber(api) as stub:
        stub.add_response("get_stages", {"item": stages}, {"restApiId": "abc"})
        assert DeploymentAdapter(api, "abc").in_use() == {"d1", "d2", "d3", "d4"}


def test_deployments_are_listed_across_pages_and_deleted_by_id() -> None:
    # GetDeployments pages with position; DeleteDeployment takes the id:
    # https://docs.aws.amazon.com/apigateway/latest/api/API_GetDeployments.html
    api = client("apigateway")
    with Stubber(api) as stub:
        stub.add_response(
            "get_deployments",
            {"items": [{"id": "a", "description": "x"}], "position": "p2"},
            {"restApiId": "abc"},
        )
        stub.add_response("get_deployments", {"items": [{"id": "b"}]}, {"restApiId": "abc", "position": "p2"})
        stub.add_response("delete_deployment", {}, {"restApiId": "abc", "deploymentId": "b"})
        adapter = DeploymentAdapter(api, "abc")
        assert [(d.id, d.description) for d in adapter.list()] == [("a", "x"), ("b", "")]
        adapter.delete("b")


def test_one_get_metric_data_call_fetches_canary_stage_and_per_function_series() -> None:
    cw = client("cloudwatch")
    adapter = MetricsAdapter(cw, "AWS/ApiGateway", "api", "production", 60)
    functions = FunctionPair(live="app-blue", candidate="app-green")
    t = datetime(2025, 1, 1, 0, 1, tzinfo=UTC)
    results = [
        {"Id": "canary_count", "Timestamps": [t], "Values": [10.0], "StatusCode": "Complete"},
        {"Id": "canary_e5xx", "Timestamps": [t], "Values": [2.0], "StatusCode": "Complete"},
        {"Id": "stage_count", "Timestamps": [t], "Values": [100.0], "StatusCode": "Complete"},
        {"Id": "stage_e5xx", "Timestamps": [t], "Values": [3.0], "StatusCode": "Complete"},
        {"Id": "canary_p99", "Timestamps": [t], "Values": [120.0], "StatusCode": "Complete"},
        {"Id": "candidate_fn_p99", "Timestamps": [t], "Values": [100.0], "StatusCode": "Complete"},
        {"Id": "live_fn_p99", "Timestamps": [t], "Values": [60.0], "StatusCode": "Complete"},
    ]
    with Stubber(cw) as stub:
        stub.add_response(
            "get_metric_data",
            {"MetricDataResults": results},
            {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": "TimestampAscending"},
        )
        raw = adapter.fetch(t.timestamp(), t.timestamp() + 60, MetricsRequest(functions))
    (sample,) = apigateway_samples(raw, t.timestamp(), t.timestamp() + 60)
    queries, _ = adapter.queries(MetricsRequest(functions))
    assert len(queries) == 21  # one call; GetMetricData takes up to 500 queries
    metrics = {q["MetricStat"]["Metric"]["Namespace"]: [] for q in queries}
    for q in queries:
        metric = q["MetricStat"]["Metric"]
        metrics[metric["Namespace"]].append((metric["MetricName"], metric["Dimensions"][-1]["Value"]))
    # Canary metrics carry Stage = "{stage}/Canary":
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
    assert {stage for _, stage in metrics["AWS/ApiGateway"]} == {"production", "production/Canary", "staging"}
    # The stage's Latency mixes both versions, so it is not read at all.
    assert ("Latency", "production") not in metrics["AWS/ApiGateway"]
    # Duration per function: dimension FunctionName
    # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
    # Duration, Invocations and Errors per slot function: the per-slot source (controller/measurement.py).
    assert set(metrics["AWS/Lambda"]) == {
        (metric, fn) for fn in ("app-blue", "app-green") for metric in ("Duration", "Errors", "Invocations")
    }
    assert (sample.canary.requests, sample.canary.errors_5xx, sample.canary.p99_ms) == (10, 2, 120.0)
    # The stage's own counts include the canary's requests, so the baseline's are the difference; its p99 is
    # the live function's Duration plus the 20 ms API Gateway adds on the canary's requests.
    assert (sample.baseline.requests, sample.baseline.errors_5xx, sample.baseline.p99_ms) == (90, 1, 80.0)


def test_the_baseline_history_is_one_call_of_per_minute_sums_stage_minus_canary() -> None:
    cw = client("cloudwatch")
    adapter = MetricsAdapter(cw, "AWS/ApiGateway", "api", "production", 60)
    end = datetime(2025, 1, 2, tzinfo=UTC).timestamp()
    hours = [datetime(2025, 1, 1, h, tzinfo=UTC) for h in range(24)]  # a datapoint an hour is enough here
    results = [
        {"Id": "stage_count", "Timestamps": hours, "Values": [1000.0] * 24, "StatusCode": "Complete"},
        {"Id": "stage_e5xx", "Timestamps": hours, "Values": [6.0] * 24, "StatusCode": "Complete"},
        # a rollout's canary two hours ago: its requests and errors are not the live version's
        {"Id": "canary_count", "Timestamps": hours[5:7], "Values": [100.0, 50.0], "StatusCode": "Complete"},
        {"Id": "canary_e5xx", "Timestamps": hours[5:7], "Values": [4.0, 0.0], "StatusCode": "Complete"},
    ]
    with Stubber(cw) as stub:
        stub.add_response(
            "get_metric_data",
            {"MetricDataResults": results},
            {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": "TimestampAscending"},
        )
        history = adapter.history(end - 86400, end)
        stub.assert_no_pending_responses()
    assert (history.requests, history.errors_5xx) == (24_000 - 150, 144 - 4)
    # Period by period, for the judge to see how much the rate varies beyond binomial noise.
    assert len(history.per_period) == 24 and history.per_period[5:7] == ((900, 2), (950, 6))


def test_the_history_queries_count_and_5xx_sums_of_the_stage_and_its_canary_per_minute() -> None:
    seen: list[dict] = []

    class Recorder:
        def get_metric_data(self, **request):
            seen.append(request)
            return {"MetricDataResults": []}

    adapter = MetricsAdapter(Recorder(), "AWS/ApiGateway", "api", "production", 60)
    assert adapter.history(0, 86400) == BaselineHistory(0, 0)
    (request,) = seen
    sums = [q for q in request["MetricDataQueries"] if q["Id"] != "stage_p99"]
    stats = {
        (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Metric"]["Dimensions"][-1]["Value"])
        for q in sums
    }
    assert stats == {
        (metric, stage) for metric in ("Count", "5XXError") for stage in ("production", "production/Canary")
    }
    # 1,440 one-minute points per series: far under GetMetricData's 100,800 datapoints per call.
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
    assert {q["MetricStat"]["Period"] for q in sums} == {60}
    assert {q["MetricStat"]["Stat"] for q in sums} == {"Sum"}


def _history_request(window_s: float) -> tuple[list[dict], dict]:
    """The GetMetricData requests of one history read over the last window_s, and the request's p99 query."""
    seen: list[dict] = []

    class Recorder:
        def get_metric_data(self, **request):
            seen.append(request)
            return {"MetricDataResults": []}

    end = 1_800_000_000.0
    MetricsAdapter(Recorder(), "AWS/ApiGateway", "api", "production", 60).history(end - window_s, end)
    (p99,) = [q for q in seen[0]["MetricDataQueries"] if q["Id"] == "stage_p99"]
    return seen, p99


def test_the_history_reads_the_stages_p99_over_the_whole_window_in_the_same_call() -> None:
    seen, p99 = _history_request(86400)
    assert len(seen) == 1  # each MetricStat has its own Period, so the sums and the p99 share one call
    metric = p99["MetricStat"]["Metric"]
    assert (metric["MetricName"], metric["Dimensions"]) == (
        "Latency",
        [{"Name": "ApiName", "Value": "api"}, {"Name": "Stage", "Value": "production"}],
    )
    assert (p99["MetricStat"]["Stat"], p99["MetricStat"]["Period"]) == ("p99", 86400)


@pytest.mark.parametrize(("window_s", "period_s"), [(5400, 5400), (3630, 3600), (90, 60), (45, 60)])
def test_the_history_p99_period_is_the_window_in_whole_minutes_at_least_one(window_s, period_s) -> None:
    # GetMetricData periods are multiples of 60 s for standard-resolution metrics.
    _, p99 = _history_request(window_s)
    assert p99["MetricStat"]["Period"] == period_s


def test_the_history_p99_is_its_datapoint_or_the_largest_where_the_window_straddles_two() -> None:
    cw = client("cloudwatch")
    adapter = MetricsAdapter(cw, "AWS/ApiGateway", "api", "production", 60)
    end = datetime(2025, 1, 2, 0, 30, tzinfo=UTC).timestamp()
    minute = [datetime(2025, 1, 2, 0, 0, tzinfo=UTC)]
    counts = {"Id": "stage_count", "Timestamps": minute, "Values": [100.0], "StatusCode": "Complete"}
    days = [datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)]
    answers = [
        [counts, {"Id": "stage_p99", "Timestamps": days[:1], "Values": [212.5], "StatusCode": "Complete"}],
        [counts, {"Id": "stage_p99", "Timestamps": days, "Values": [180.0, 240.0], "StatusCode": "Complete"}],
        [counts, {"Id": "stage_p99", "Timestamps": [], "Values": [], "StatusCode": "Complete"}],
    ]
    with Stubber(cw) as stub:
        for results in answers:
            stub.add_response(
                "get_metric_data",
                {"MetricDataResults": results},
                {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": "TimestampAscending"},
            )
        p99s = [adapter.history(end - 86400, end).latency_p99_ms for _ in answers]
    # Every part of the window has at most 1 % of its requests above its p99, so the whole window has at
    # most 1 % above the largest: that one keeps the threshold in the tail. No datapoint: not read.
    assert p99s == [212.5, 240.0, None]


def test_the_baseline_latency_is_the_live_duration_plus_the_canarys_overhead_never_less() -> None:
    assert baseline_latency(canary_latency=130.0, candidate_duration=110.0, live_duration=40.0) == 60.0
    # Staging requests can lift the candidate's Duration above its canary Latency; the overhead is then
    # taken as 0 rather than below the live function's own Duration.
    assert baseline_latency(canary_latency=100.0, candidate_duration=150.0, live_duration=40.0) == 40.0


def test_a_missing_duration_leaves_the_baseline_latency_unknown_instead_of_using_the_stage() -> None:
    values = {
        "canary_count": {60.0: 50.0},
        "stage_count": {60.0: 100.0},
        "canary_p99": {60.0: 300.0},
        "stage_p99": {60.0: 290.0},
        "candidate_fn_p99": {60.0: 280.0},
    }
    (sample,) = apigateway_samples(RawSeries(values), 60.0, 120.0)
    assert sample.baseline.requests == 50
    assert sample.baseline.p99_ms is None


def test_periods_outside_the_window_or_without_any_datapoint_are_left_out() -> None:
    values = {"stage_count": {0.0: 5.0, 60.0: 7.0, 120.0: 9.0}, "canary_count": {60.0: 1.0}}
    samples = apigateway_samples(RawSeries(values), 60.0, 120.0)
    assert [(s.start, s.canary.requests, s.baseline.requests) for s in samples] == [(60.0, 1, 6)]


def test_one_describe_alarms_call_covers_metric_and_composite_alarms() -> None:
    cw = client("cloudwatch")
    # Without AlarmTypes, DescribeAlarms returns metric alarms only:
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html
    with Stubber(cw) as stub:
        stub.add_response(
            "describe_alarms",
            {
                "MetricAlarms": [{"AlarmName": "a", "StateValue": "OK"}],
                "CompositeAlarms": [{"AlarmName": "rollback", "StateValue": "ALARM"}],
            },
            {"AlarmNames": ["a", "rollback", "gone"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]},
        )
        adapter = AlarmsAdapter(cw, ("a", "rollback", "gone"))
        states = adapter.states()
    assert states == {"a": "OK", "rollback": "ALARM"}
    assert adapter.missing(states) == ("gone",)


# -- the lease -----------------------------------------------------------------------------------------


def test_lease_values_round_trip_and_use_only_stage_variable_characters() -> None:
    lease = Lease("build-7.example:1234", 1_700_000_123)
    assert lease.encode() == "holder=build-7.example:1234,expires=1700000123"
    assert Lease.parse(lease.encode()) == lease


def test_a_garbled_lock_value_counts_as_expired() -> None:
    assert Lease.parse("whatever").expires == 0


def test_acquire_writes_the_lease_and_confirms_it_by_reading_back() -> None:
    clock = FakeClock()
    stages = FakeStages(clock)
    lock = StageLock(stages, "production", 90, holder="me:1", clock=clock)
    lock.acquire()
    assert Lease.parse(stages.get("production").variable(LOCK_VARIABLE)) == Lease("me:1", clock() + 90)


def test_losing_the_write_race_is_reported_as_lock_held() -> None:
    clock = FakeClock()
    stages = FakeStages(clock)
    original = stages.set_variable

    def racing_write(stage, name, value):
        original(stage, name, value)
        return original(stage, name, Lease("fast:2", clock() + 90).encode())  # the other writer lands last

    stages.set_variable = racing_write
    with pytest.raises(LockHeldError, match="fast:2"):
        StageLock(stages, "production", 90, holder="me:1", clock=clock).acquire()


def test_renewal_after_overrunning_the_lease_checks_nobody_took_it_over() -> None:
    clock = FakeClock()
    stages = FakeStages(clock)
    lock = StageLock(stages, "production", 60, holder="me:1", clock=clock)
    lock.acquire()
    clock.now += 61
    stages.set_variable("production", LOCK_VARIABLE, Lease("other:9", clock() + 60).encode())
    with pytest.raises(LockHeldError, match="lost the lock"):
        lock.renew()
    assert Lease.parse(stages.get("production").variable(LOCK_VARIABLE)).holder == "other:9"


def test_release_leaves_someone_elses_lease_alone() -> None:
    clock = FakeClock()
    stages = FakeStages(clock)
    lock = StageLock(stages, "production", 60, holder="me:1", clock=clock)
    lock.acquire()
    stages.set_variable("production", LOCK_VARIABLE, Lease("other:9", clock() + 60).encode())
    lock.release()
    assert stages.get("production").variable(LOCK_VARIABLE) is not None


def test_a_lease_of_a_dead_process_on_this_host_may_be_taken_over() -> None:
    host = socket.gethostname()
    assert holder_is_dead_local(f"{host}:{2**22 + 12345}")  # beyond pid_max defaults: never running
    assert not holder_is_dead_local(f"{host}:{os.getpid()}")
    assert not holder_is_dead_local(f"some-other-host:{2**22 + 12345}")
