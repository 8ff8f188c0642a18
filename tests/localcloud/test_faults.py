"""Fault injection: control-plane errors the SDKs recognise, and Lambda latency/errors in the data plane.

SDK error handling followed: https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
(throttling errors such as TooManyRequestsException and Throttling are retried as throttles).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError


@pytest.fixture(autouse=True)
def clear_faults(localcloud):
    yield
    localcloud.admin("DELETE", "faults")


@pytest.fixture
def no_retry_client(aws_session, aws_env):
    def make(service):
        return aws_session.client(
            service,
            endpoint_url=aws_env["AWS_ENDPOINT_URL"],
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
        )

    return make


def test_control_plane_throttling_fault_reaches_the_sdk_as_throttling(localcloud, no_retry_client):
    fault = localcloud.admin(
        "POST", "faults", {"target": "control_plane", "service": "apigateway", "status": 429, "seconds": 30}
    )
    assert fault["id"] and fault["expires_at"] > fault["created_at"]
    apigw = no_retry_client("apigateway")
    with pytest.raises(ClientError) as err:
        apigw.get_rest_apis()
    assert err.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    # Other services are untouched.
    no_retry_client("lambda").list_functions()
    localcloud.admin("DELETE", f"faults/{fault['id']}")
    apigw.get_rest_apis()


@pytest.mark.parametrize(
    ("service", "status", "code"), [("cloudwatch", 429, "Throttling"), ("lambda", 503, "ServiceException")]
)
def test_control_plane_faults_parse_in_each_wire_protocol(localcloud, no_retry_client, service, status, code):
    localcloud.admin(
        "POST", "faults", {"target": "control_plane", "service": service, "status": status, "seconds": 30}
    )
    client = no_retry_client(service)
    call = client.list_metrics if service == "cloudwatch" else client.list_functions
    with pytest.raises(ClientError) as err:
        call()
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_fault_expires_after_its_seconds(localcloud, no_retry_client, wait_until):
    # The client is built before the fault and the fault lasts seconds, not a fraction of one:
    # on a busy two-core CI machine building a boto3 client alone took longer than 0.5 s,
    # and the fault expired before the first call could see it.
    apigw = no_retry_client("apigateway")
    localcloud.admin(
        "POST", "faults", {"target": "control_plane", "service": "*", "status": 503, "seconds": 3}
    )

    def works():
        try:
            apigw.get_rest_apis()
            return True
        except ClientError:
            return False

    assert not works()
    wait_until(works, timeout=10, message="fault to expire")
    assert localcloud.admin("GET", "faults") == {"faults": []}


def test_bad_fault_requests_are_rejected_with_a_reason(localcloud):
    for body in (
        {"target": "disk"},
        {"target": "lambda"},
        {"target": "lambda", "function": "f", "error_rate": 2},
    ):
        resp = requests.post(f"{localcloud.endpoint_url}/_localcloud/faults", json=body, timeout=5)
        assert resp.status_code == 400 and resp.json()["message"]


def test_lambda_fault_adds_errors_and_latency_to_one_function(
    make_function, make_api, aws_client, localcloud
):
    apigw = aws_client("apigateway")
    fn = make_function(env={"VERSION": "v1"})
    api = make_api(function=fn)
    apigw.create_deployment(restApiId=api.id, stageName="dev")
    with requests.Session() as http:
        assert http.get(api.url("dev")).status_code == 200
        localcloud.admin("POST", "faults", {"target": "lambda", "function": fn, "error_rate": 1.0})
        # An injected handler error is a function error: 502 like any other.
        assert [http.get(api.url("dev")).status_code for _ in range(3)] == [502, 502, 502]
        localcloud.admin("DELETE", "faults")
        localcloud.admin("POST", "faults", {"target": "lambda", "function": fn, "latency_ms": 300})
        resp = http.get(api.url("dev"))
        assert resp.status_code == 200 and resp.elapsed.total_seconds() >= 0.3


def test_fault_cli_adds_lists_and_clears(localcloud):
    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "localcloud", "fault", "--endpoint", localcloud.endpoint_url, *args],
            capture_output=True,
            text=True,
            timeout=30,
        )

    added = cli("lambda", "--function", "some-fn", "--error-rate", "0.2", "--latency-ms", "150")
    assert added.returncode == 0, added.stderr
    listed = cli("list")
    assert '"some-fn"' in listed.stdout and '"error_rate": 0.2' in listed.stdout
    bad = cli("lambda", "--function", "x", "--error-rate", "3")
    assert bad.returncode == 1 and "error_rate must be between" in bad.stderr
    assert cli("clear").returncode == 0
    assert '"faults": []' in cli("list").stdout
