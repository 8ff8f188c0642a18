"""The execute-api data plane: routing, canary split, stage variables, outcome mapping, throttling.

Pages followed:
PROXY    https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
CANARY   https://docs.aws.amazon.com/apigateway/latest/developerguide/canary-release.html
STAGEVAR https://docs.aws.amazon.com/apigateway/latest/developerguide/stage-variables.html
THROTTLE https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html
ERRORS   https://repost.aws/knowledge-center/api-gateway-internal-server-error (permissions, throttling ->
500)
"""

from __future__ import annotations

import collections

import pytest
import requests


@pytest.fixture
def apigw(aws_client):
    return aws_client("apigateway")


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


@pytest.fixture
def blue_green(make_function, make_api, apigw):
    """production on blue; functions answer their VERSION."""
    blue = make_function(env={"VERSION": "v1"})
    green = make_function(env={"VERSION": "v2"})
    api = make_api()
    apigw.create_deployment(restApiId=api.id, stageName="production", variables={"slot": blue})
    return api, blue, green


def test_proxy_event_and_context_reach_the_handler(make_function, make_api, apigw, http):
    fn = make_function(env={"VERSION": "v1"})
    api = make_api(function=fn, paths=("/items/{id}",), method="POST")
    apigw.create_deployment(restApiId=api.id, stageName="dev", variables={"color": "red"})
    resp = http.post(api.url("dev", "/items/42?q=1&q=2"), data="hello")
    assert resp.status_code == 200
    body = resp.json()
    # PROXY: version 1.0 input format fields.
    assert body["resource"] == "/items/{id}"
    assert body["path"] == "/items/42"
    assert body["httpMethod"] == "POST"
    assert body["pathParameters"] == {"id": "42"}
    assert body["query"] == {"q": "2"}
    assert body["body"] == "hello"
    assert body["stageVariables"] == {"color": "red"}
    assert body["stage"] == "dev"
    assert body["functionName"] == fn
    assert 0 < body["remainingMs"] <= 3000
    assert resp.headers["X-Version"] == "v1"
    assert resp.headers["x-amzn-RequestId"]


def test_unknown_resource_answers_403_missing_authentication_token(blue_green, http):
    api, _, _ = blue_green
    resp = http.get(api.url("production", "/nothing-here"))
    assert resp.status_code == 403
    assert resp.json() == {"message": "Missing Authentication Token"}


def test_canary_takes_its_share_of_2000_requests(blue_green, apigw, http):
    api, _, green = blue_green
    apigw.create_deployment(
        restApiId=api.id,
        stageName="production",
        canarySettings={"percentTraffic": 10, "stageVariableOverrides": {"slot": green}},
    )
    counts = collections.Counter(http.get(api.url("production")).json()["version"] for _ in range(2000))
    # CANARY: "total API traffic is separated at random into a production release and a canary release with a
    # pre-configured ratio".
    assert set(counts) == {"v1", "v2"}
    assert 0.075 <= counts["v2"] / 2000 <= 0.125, counts


def test_canary_overrides_stage_variables_only_for_canary_requests(blue_green, apigw, http):
    api, blue, green = blue_green
    apigw.update_stage(
        restApiId=api.id,
        stageName="production",
        patchOperations=[
            {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "100"},
            {"op": "replace", "path": "/canarySettings/stageVariableOverrides/slot", "value": green},
        ],
    )
    body = http.get(api.url("production")).json()
    assert body["version"] == "v2"
    assert body["stageVariables"] == {"slot": green}
    apigw.update_stage(
        restApiId=api.id,
        stageName="production",
        patchOperations=[{"op": "replace", "path": "/canarySettings/percentTraffic", "value": "0"}],
    )
    assert http.get(api.url("production")).json()["stageVariables"] == {"slot": blue}


def test_canary_deployment_serves_changed_integration_while_stage_serves_the_old(
    make_function, make_api, apigw, http, function_uri
):
    old = make_function(env={"VERSION": "old"})
    new = make_function(env={"VERSION": "new"})
    api = make_api(function=old)
    apigw.create_deployment(restApiId=api.id, stageName="production")
    apigw.update_integration(
        restApiId=api.id,
        resourceId=api.resources["/hello"],
        httpMethod="GET",
        patchOperations=[{"op": "replace", "path": "/uri", "value": function_uri(new)}],
    )
    # A deployment is a snapshot: the integration change is invisible until deployed (CANARY, "Create").
    assert http.get(api.url("production")).json()["version"] == "old"
    apigw.create_deployment(restApiId=api.id, stageName="production", canarySettings={"percentTraffic": 100})
    assert http.get(api.url("production")).json()["version"] == "new"
    apigw.update_stage(
        restApiId=api.id,
        stageName="production",
        patchOperations=[{"op": "replace", "path": "/canarySettings/percentTraffic", "value": "0"}],
    )
    assert http.get(api.url("production")).json()["version"] == "old"


@pytest.mark.parametrize(
    ("env", "timeout", "status", "message"),
    [
        ({"MODE": "raise"}, 3, 502, "Internal server error"),
        ({"MODE": "malformed"}, 3, 502, "Internal server error"),
        ({"MODE": "sleep", "SLEEP": "5"}, 1, 502, "Internal server error"),  # Lambda's own timeout
    ],
    ids=["handler-exception", "malformed-proxy-response", "function-timeout"],
)
def test_function_failures_map_to_502(make_function, make_api, apigw, http, env, timeout, status, message):
    fn = make_function(env=env, timeout=timeout)
    api = make_api(function=fn)
    apigw.create_deployment(restApiId=api.id, stageName="dev")
    resp = http.get(api.url("dev"))
    # PROXY: an error or malformed output from the function is "502 Bad Gateway"; a function that times out
    # before the integration timeout is a Lambda error, also 502.
    assert resp.status_code == status
    assert resp.json() == {"message": message}


def test_integration_timeout_shorter_than_function_timeout_maps_to_504(make_function, make_api, apigw, http):
    fn = make_function(env={"MODE": "sleep", "SLEEP": "4"}, timeout=10)
    api = make_api(function=fn, timeout_ms=1000)
    apigw.create_deployment(restApiId=api.id, stageName="dev")
    resp = http.get(api.url("dev"))
    # API Gateway gives up after timeoutInMillis: 504 "Endpoint request timed out".
    assert resp.status_code == 504
    assert resp.json() == {"message": "Endpoint request timed out"}


def test_missing_function_or_permission_maps_to_500(make_function, make_api, apigw, http):
    no_perm = make_function(env={"VERSION": "x"}, permission=False)
    for function in (no_perm, "does-not-exist"):
        api = make_api(function=function)
        apigw.create_deployment(restApiId=api.id, stageName="dev")
        resp = http.get(api.url("dev"))
        # ERRORS: "Invalid permissions on Lambda function" and configuration errors are 500.
        assert resp.status_code == 500, function
        assert resp.json() == {"message": "Internal server error"}


def test_stage_throttling_answers_429_beyond_the_burst(blue_green, apigw, http):
    api, _, _ = blue_green
    apigw.update_stage(
        restApiId=api.id,
        stageName="production",
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "1"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "5"},
        ],
    )
    statuses = [http.get(api.url("production")).status_code for _ in range(12)]
    # THROTTLE: token bucket, burst = bucket size; over the limit: 429 Too Many Requests.
    assert statuses[:5] == [200] * 5
    assert statuses.count(429) >= 6
    resp = http.get(api.url("production"))
    if resp.status_code == 429:
        assert resp.json() == {"message": "Too Many Requests"}


def test_warm_workers_are_reused_across_requests(blue_green, http, localcloud):
    api, _, _ = blue_green
    first = http.get(api.url("production")).json()["requestId"]
    # The pool is shared by every function this session's tests created, so count only what appears now.
    warm = set(localcloud.admin("GET", "workers")["pids"])
    ids = {first} | {http.get(api.url("production")).json()["requestId"] for _ in range(4)}
    assert len(ids) == 5  # a fresh request id per invocation
    assert warm, "the first invocation left no warm worker"
    assert set(localcloud.admin("GET", "workers")["pids"]) - warm == set()  # one after another: no new worker
