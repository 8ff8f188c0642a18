"""AWS's control-plane rate quotas, enforced when the local cloud runs with --enforce-quotas.

Pages followed:
LIMITS   https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html ("API Gateway quotas for
         creating, deploying and managing an API": CreateDeployment 1 request every 5 seconds, GetResources
         5 every 2 seconds, CreateRestApi 1 every 3 s (Regional) / 30 s (edge-optimized); total operations
         10 requests per second with a burst of 40)
CWLIMITS https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html
         (DescribeAlarms 9 TPS, GetMetricData 50 TPS)
TMR      https://docs.aws.amazon.com/apigateway/latest/api/CommonErrors.html (TooManyRequestsException, 429)
RETRY    https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html (standard mode retries
         throttling errors with exponential backoff)
"""

from __future__ import annotations

import io
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.aws_operations import classify
from localcloud.quota_table import BY_KEY
from localcloud.quotas import QuotaEnforcer, enforce_from_env
from localcloud.testing import LocalCloudProcess

ACCOUNT = "123456789012"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _op(service: str, method: str, path: str, body: bytes = b"", **extra: str):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": extra.pop("query", ""),
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        **extra,
    }
    return classify(environ, service)


# -- which operation a request is, and what the table says ---------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body", "query", "expected"),
    [
        ("POST", "/restapis/a1/deployments", b"{}", "", "CreateDeployment"),
        ("GET", "/restapis/a1/resources", b"", "", "GetResources"),
        ("GET", "/restapis/a1/resources/r1", b"", "", "GetResource"),
        ("POST", "/restapis", b'{"name": "x"}', "", "CreateRestApi:EDGE"),
        (
            "POST",
            "/restapis",
            b'{"name": "x", "endpointConfiguration": {"types": ["REGIONAL"]}}',
            "",
            "CreateRestApi:REGIONAL",
        ),
        (
            "POST",
            "/restapis",
            b"{}",
            "mode=import&endpointConfigurationTypes=PRIVATE",
            "ImportRestApi:REGIONAL",
        ),
        ("PATCH", "/account", b"{}", "", "UpdateAccount"),
        ("POST", "/v2/vpclinks", b"{}", "", "CreateVpcLink (V2)"),
        ("PATCH", "/restapis/a1/stages/production", b"{}", "", "UpdateStage"),
    ],
)
def test_api_gateway_requests_are_named_by_their_operation(method, path, body, query, expected):
    # LIMITS: CreateRestApi's quota depends on the endpoint type (edge-optimized is the default type).
    assert _op("apigateway", method, path, body, query=query).name == expected


def test_cloudwatch_requests_are_named_in_each_wire_protocol():
    assert _op(
        "monitoring", "POST", "/", HTTP_X_AMZ_TARGET="GraniteServiceVersion20100801.GetMetricData"
    ).name == ("GetMetricData")
    cbor = _op("monitoring", "POST", "/service/GraniteServiceVersion20100801/operation/DescribeAlarms")
    assert cbor.name == "DescribeAlarms"
    query = _op(
        "monitoring",
        "POST",
        "/",
        b"Action=PutMetricAlarm&Version=2010-08-01",
        CONTENT_TYPE="application/x-www-form-urlencoded",
    )
    assert query.name == "PutMetricAlarm"


def test_a_body_read_to_classify_is_still_there_for_the_service():
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/restapis",
        "QUERY_STRING": "",
        "wsgi.input": io.BytesIO(b'{"name": "kept"}'),
        "CONTENT_LENGTH": "16",
    }
    classify(environ, "apigateway")
    assert environ["wsgi.input"].read() == b'{"name": "kept"}'


def test_the_table_holds_the_documented_numbers():
    # LIMITS and CWLIMITS, as stated there.
    assert (
        BY_KEY["apigateway", "CreateDeployment"].rate,
        BY_KEY["apigateway", "CreateDeployment"].burst,
    ) == (0.2, 1)
    assert (BY_KEY["apigateway", "GetResources"].rate, BY_KEY["apigateway", "GetResources"].burst) == (2.5, 5)
    assert (BY_KEY["apigateway", "*"].rate, BY_KEY["apigateway", "*"].burst) == (10, 40)
    assert BY_KEY["apigateway", "UpdateAccount"].rate == pytest.approx(1 / 20)
    assert (
        BY_KEY["monitoring", "GetMetricData"].rate == 50 and BY_KEY["monitoring", "DescribeAlarms"].rate == 9
    )


# -- the buckets, on a fake clock --------------------------------------------------------------------------
def test_create_deployment_passes_once_per_five_seconds_per_account_and_region():
    clock = FakeClock()
    quotas = QuotaEnforcer(clock=clock)
    deploy = _op("apigateway", "POST", "/restapis/a1/deployments")
    assert quotas.admit(ACCOUNT, "us-east-1", deploy) is None
    refusal = quotas.admit(ACCOUNT, "us-east-1", deploy)
    assert refusal is not None and refusal.quota.operation == "CreateDeployment"
    assert refusal.retry_after_s == pytest.approx(5.0)
    # Another region has its own quota.
    assert quotas.admit(ACCOUNT, "eu-west-1", deploy) is None
    clock.now += 4.9
    assert quotas.admit(ACCOUNT, "us-east-1", deploy) is not None
    clock.now += 0.1
    assert quotas.admit(ACCOUNT, "us-east-1", deploy) is None


def test_the_total_budget_allows_a_burst_of_40_then_10_per_second():
    clock = FakeClock()
    quotas = QuotaEnforcer(clock=clock)
    get_stage = _op("apigateway", "GET", "/restapis/a1/stages/production")  # no quota of its own
    assert [quotas.admit(ACCOUNT, "us-east-1", get_stage) for _ in range(40)] == [None] * 40
    refusal = quotas.admit(ACCOUNT, "us-east-1", get_stage)
    assert refusal is not None and refusal.quota.operation == "*"
    assert refusal.retry_after_s == pytest.approx(0.1)
    clock.now += 1.0
    admitted = sum(quotas.admit(ACCOUNT, "us-east-1", get_stage) is None for _ in range(20))
    assert admitted == 10


def test_a_refused_call_takes_no_token_from_the_total_budget():
    clock = FakeClock()
    quotas = QuotaEnforcer(clock=clock)
    deploy = _op("apigateway", "POST", "/restapis/a1/deployments")
    get_stage = _op("apigateway", "GET", "/restapis/a1/stages/production")
    quotas.admit(ACCOUNT, "us-east-1", deploy)
    for _ in range(100):
        assert quotas.admit(ACCOUNT, "us-east-1", deploy) is not None
    # 1 token used by the first deployment: 39 left for everything else.
    assert sum(quotas.admit(ACCOUNT, "us-east-1", get_stage) is None for _ in range(50)) == 39


def test_services_without_a_quota_table_pass():
    quotas = QuotaEnforcer(clock=FakeClock())
    assert _op("lambda", "GET", "/2015-03-31/functions") is None
    assert quotas.check({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, "lambda", "us-east-1") is None


def test_the_switch_reads_the_flag_or_the_environment(monkeypatch):
    monkeypatch.delenv("LOCALCLOUD_QUOTAS", raising=False)
    assert enforce_from_env(False) is False
    assert enforce_from_env(True) is True
    monkeypatch.setenv("LOCALCLOUD_QUOTAS", "enforce")
    assert enforce_from_env(False) is True
    monkeypatch.setenv("LOCALCLOUD_QUOTAS", "sometimes")
    with pytest.raises(SystemExit, match="LOCALCLOUD_QUOTAS must be 'enforce' or 'off'"):
        enforce_from_env(False)


# -- over HTTP ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def enforcing_cloud():
    with LocalCloudProcess(metric_period=2, enforce_quotas=True) as cloud:
        yield cloud


def _client(cloud, service, attempts=1, region="us-east-1"):
    # botocore's max_attempts counts retries after the first call; 0 = one attempt only.
    return boto3.client(
        service,
        endpoint_url=cloud.endpoint_url,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "max_attempts": attempts - 1}),
    )


def _deployable_api(apigw):
    api_id = apigw.create_rest_api(name="quota", endpointConfiguration={"types": ["REGIONAL"]})["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    return api_id


def test_a_burst_of_create_deployment_gets_429_with_retry_after(enforcing_cloud):
    apigw = _client(enforcing_cloud, "apigateway", region="ap-southeast-2")
    api_id = _deployable_api(apigw)
    apigw.create_deployment(restApiId=api_id, stageName="s1")
    with pytest.raises(ClientError) as err:
        apigw.create_deployment(restApiId=api_id, stageName="s1")
    # TMR/LIMITS: over the quota, API Gateway answers 429 TooManyRequestsException.
    response = err.value.response
    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert 1 <= int(response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) <= 5
    assert enforcing_cloud.admin("GET", "health")["quotas"] == "enforce"


def test_botocore_standard_retries_get_a_throttled_deployment_through(enforcing_cloud):
    apigw = _client(enforcing_cloud, "apigateway", attempts=10, region="sa-east-1")
    api_id = _deployable_api(apigw)
    started = time.monotonic()
    apigw.create_deployment(restApiId=api_id, stageName="s1")
    second = apigw.create_deployment(restApiId=api_id, stageName="s1")
    # RETRY: throttled calls are retried with backoff until the quota lets one through, 5 s after the first.
    assert second["ResponseMetadata"]["RetryAttempts"] >= 1
    assert time.monotonic() - started >= 4.5


def test_the_total_budget_bursts_to_40_calls(enforcing_cloud):
    apigw = _client(enforcing_cloud, "apigateway", region="ap-northeast-1")
    outcomes = []
    started = time.monotonic()
    for _ in range(80):
        try:
            apigw.get_rest_apis()
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    elapsed = time.monotonic() - started
    refused = outcomes.count("TooManyRequestsException")
    assert refused > 0 and outcomes[:40] == ["ok"] * 40
    # LIMITS: 40 at once, then 10 per second refill.
    assert outcomes.count("ok") <= 40 + 10 * elapsed + 1


def test_cloudwatch_throttles_describe_alarms_over_9_per_second(enforcing_cloud):
    cw = _client(enforcing_cloud, "cloudwatch", region="us-west-2")
    codes = []
    for _ in range(20):
        try:
            cw.describe_alarms()
        except ClientError as exc:
            codes.append((exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]))
    # CWLIMITS: 9 TPS; CloudWatch's throttling error is Throttling, HTTP 400.
    assert codes and set(codes) == {("Throttling", 400)}


def test_without_enforcement_nothing_is_throttled(aws_client):
    apigw = aws_client("apigateway")
    api_id = _deployable_api(apigw)
    for _ in range(3):
        assert (
            apigw.create_deployment(restApiId=api_id, stageName="s1")["ResponseMetadata"]["RetryAttempts"]
            == 0
        )
