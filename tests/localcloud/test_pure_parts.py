"""Fast checks of the pure pieces: metric math, percentiles, route matching, token bucket, the proxy
integration's result mapping, UpdateStage's patch operations."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import pytest
from moto.apigateway.exceptions import BadRequestException

from localcloud.metric_math import Context, MetricMathError, as_series, evaluate
from localcloud.metrics import Bucket, MetricQueryError, is_supported_stat, percentile, statistic
from localcloud.proxy_integration import MalformedProxyResponse, proxy_response, substitute_stage_variables
from localcloud.routes import ApiSnapshot, IntegrationSnapshot, RouteSnapshot, _compile, _sort_key
from localcloud.stage_patch import apply_operations
from localcloud.throttle import TokenBucket

SERIES = {"a": {0: 10.0, 60: 20.0, 120: 30.0}, "b": {0: 2.0, 60: 0.0}}


def run(expression: str):
    ctx = Context(resolve=lambda i: SERIES[i], grid=[0, 60, 120, 180], period=60, metric_ids=["a", "b"])
    return as_series(evaluate(expression, ctx), ctx)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("a / b", {0: 5.0}),  # division by zero drops the point; missing timestamps drop too
        ("100*a/b", {0: 500.0}),
        ("a + 1", {0: 11.0, 60: 21.0, 120: 31.0}),
        ("-a + 2 ^ 2", {0: -6.0, 60: -16.0, 120: -26.0}),
        ("IF(a > 15, 1, 0)", {0: 0.0, 60: 1.0, 120: 1.0}),
        ("IF(a > 15 AND a < 25, a)", {60: 20.0}),
        ("FILL(b, 0)", {0: 2.0, 60: 0.0, 120: 0.0, 180: 0.0}),
        ("FILL(b, REPEAT)", {0: 2.0, 60: 0.0, 120: 0.0, 180: 0.0}),
        ("FILL(a, LINEAR)", {0: 10.0, 60: 20.0, 120: 30.0}),
        ("SUM([a, b])", {0: 12.0, 60: 20.0, 120: 30.0}),
        ("MAX(METRICS())", {0: 10.0, 60: 20.0, 120: 30.0}),
        ("SUM(a)", {0: 60.0, 60: 60.0, 120: 60.0, 180: 60.0}),
        ("PERIOD(a)", {0: 60.0, 60: 60.0, 120: 60.0, 180: 60.0}),
    ],
)
def test_metric_math_expressions(expression, expected):
    assert run(expression) == expected


@pytest.mark.parametrize("expression", ["a +", "a $ b", "NOPE(a)", "(a"])
def test_bad_expressions_raise_with_a_reason(expression):
    with pytest.raises(MetricMathError):
        run(expression)


def test_nearest_rank_percentiles():
    values = [float(v) for v in range(1, 11)]
    assert [percentile(values, p) for p in (0, 10, 50, 90, 99, 100)] == [1.0, 1.0, 5.0, 9.0, 10.0, 10.0]


@pytest.mark.parametrize(
    ("stat", "expected"),
    [
        ("PR(:3)", 30.0),  # at or below 3
        ("PR(3:)", 70.0),  # above 3: the lower bound is exclusive
        ("PR(2:5)", 30.0),  # 3, 4 and 5: exclusive below, inclusive above
        ("PR(:0.5)", 0.0),
        ("PR(:10)", 100.0),
        ("PR(2.5:3.5)", 10.0),
    ],
)
def test_percentile_rank_is_the_share_of_values_in_its_half_open_range(stat, expected):
    assert statistic(Bucket(values=array("d", range(1, 11))), stat) == expected


def test_percentile_rank_needs_raw_values_like_a_percentile():
    # A statistic set (PutMetricData StatisticValues) has no values to rank: no datapoint, as for p99.
    bucket = Bucket(aggregates=[(10.0, 1.0, 5.0, 4.0)])
    assert statistic(bucket, "PR(:3)") is None and statistic(bucket, "p99") is None
    assert statistic(Bucket(), "PR(:3)") is None


@pytest.mark.parametrize("stat", ["PR(:)", "PR(5:2)", "PR(3:3)", "PR(-1:3)", "pr(:3)", "PR(:3", "PR(a:3)"])
def test_a_malformed_percentile_rank_is_not_a_statistic(stat):
    assert not is_supported_stat(stat)
    with pytest.raises(MetricQueryError, match="PR\\(:300\\)"):
        statistic(Bucket(values=array("d", [1.0])), stat)


def _route(path: str, method: str = "GET") -> RouteSnapshot:
    return RouteSnapshot("r", path, method, "NONE", False, IntegrationSnapshot("MOCK", "", None, 29000, None))


def test_literal_paths_beat_parameters_and_greedy_paths():
    resources = [
        _compile(p, {"ANY" if p == "/{proxy+}" else "GET": _route(p)})
        for p in ("/", "/items", "/items/{id}", "/items/special", "/{proxy+}")
    ]
    snapshot = ApiSnapshot(tuple(sorted(resources, key=_sort_key)))
    assert snapshot.match("GET", "/items/special")[0].path == "/items/special"
    route, params = snapshot.match("GET", "/items/42")
    assert (route.path, params) == ("/items/{id}", {"id": "42"})
    route, params = snapshot.match("DELETE", "/a/b/c")
    assert (route.path, params) == ("/{proxy+}", {"proxy": "a/b/c"})
    assert snapshot.match("GET", "/")[0].path == "/"
    assert snapshot.match("POST", "/items") is None


def test_token_bucket_allows_burst_then_rate():
    bucket = TokenBucket(rate=2.0, burst=3.0, tokens=3.0, updated=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) is True  # one token refilled after 0.5 s at 2/s
    assert bucket.take(0.5) is False


def test_token_bucket_read_with_an_older_time_takes_nothing_away():
    # A request thread that read the clock before another thread refilled the bucket.
    bucket = TokenBucket(rate=0.2, burst=1.0, tokens=0.0, updated=0.0)
    bucket.refill(5.0)
    assert bucket.tokens == 1.0
    assert bucket.take(4.5) is True  # not 0.9 tokens: the call is within "1 request every 5 seconds"


def test_stage_variables_are_substituted_and_unknown_ones_vanish():
    uri = (
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        "${stageVariables.fn}:${stageVariables.x}/invocations"
    )
    assert substitute_stage_variables(uri, {"fn": "app-green"}).endswith("/functions/app-green:/invocations")


def test_a_proxy_result_becomes_the_response_without_hop_by_hop_headers():
    result = {
        "statusCode": "201",
        "headers": {"X-Slot": "green", "Connection": "close"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": "aGk=",
        "isBase64Encoded": True,
    }
    response = proxy_response(result, "req-1")
    assert response.status_code == 201 and response.get_data() == b"hi"
    assert response.headers["X-Slot"] == "green" and "Connection" not in response.headers
    assert response.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert response.headers["x-amzn-RequestId"] == "req-1"


@pytest.mark.parametrize(
    "result",
    [
        "not an object",
        {"statusCode": 200, "extra": 1},
        {"statusCode": True},
        {"statusCode": 200, "body": {"a": 1}},
        {"statusCode": 200, "headers": {"A": ["list"]}},
    ],
)
def test_a_malformed_proxy_result_is_refused(result):
    with pytest.raises(MalformedProxyResponse):
        proxy_response(result, "req-1")


@dataclass
class _Stage:
    deployment_id: str
    variables: dict[str, str] = field(default_factory=dict)
    canary_settings: dict | None = None
    tracing_enabled: bool = False


@dataclass
class _Api:
    deployments: tuple[str, ...] = ("d1", "d2")


def _not_handled(stage, op):
    raise AssertionError(f"{op} should have been handled by stage_patch")


def test_adding_a_canary_starts_from_the_stage_deployment_and_promotion_copies_it_over():
    api, stage = _Api(), _Stage("d1", variables={"v": "1"})
    after = apply_operations(
        api,
        stage,
        [
            {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "10"},
            {"op": "replace", "path": "/canarySettings/deploymentId", "value": "d2"},
            {"op": "add", "path": "/canarySettings/stageVariableOverrides/v", "value": "2"},
        ],
        _not_handled,
    )
    assert after.canary_settings == {
        "percentTraffic": 10.0,
        "deploymentId": "d2",
        "stageVariableOverrides": {"v": "2"},
        "useStageCache": False,
    }
    assert stage.canary_settings is None  # the input stage is not touched
    promoted = apply_operations(
        api,
        after,
        [
            {"op": "copy", "from": "/canarySettings/deploymentId", "path": "/deploymentId"},
            {"op": "copy", "from": "/canarySettings/stageVariableOverrides", "path": "/variables"},
            {"op": "remove", "path": "/canarySettings"},
        ],
        _not_handled,
    )
    assert (promoted.deployment_id, promoted.variables, promoted.canary_settings) == ("d2", {"v": "2"}, None)


@pytest.mark.parametrize(
    "op",
    [
        {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "100.5"},
        {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "ten"},
        {"op": "replace", "path": "/canarySettings/deploymentId", "value": "d9"},
        {"op": "replace", "path": "/canarySettings/useStageCache", "value": "maybe"},
        {"op": "move", "path": "/canarySettings/percentTraffic", "value": "1"},
        {"op": "replace", "path": "/canarySettings/colour", "value": "blue"},
        {"op": "copy", "from": "/description", "path": "/deploymentId"},
    ],
)
def test_a_refused_operation_leaves_the_whole_request_unapplied(op):
    stage = _Stage("d1")
    good = {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "5"}
    with pytest.raises(BadRequestException):
        apply_operations(_Api(), stage, [good, op], _not_handled)
    assert stage.canary_settings is None


def test_other_paths_go_to_the_fallback_and_variables_add_becomes_replace():
    seen = []
    after = apply_operations(
        _Api(),
        _Stage("d1"),
        [
            {"op": "add", "path": "/variables/colour", "value": "blue"},
            {"op": "replace", "path": "/tracingEnabled", "value": "true"},
        ],
        lambda stage, op: seen.append(op),
    )
    assert seen == [{"op": "replace", "path": "/variables/colour", "value": "blue"}]
    assert after.tracing_enabled is True
