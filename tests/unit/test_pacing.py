"""The controller's pacing of control-plane calls (controller/aws/pacing.py): token buckets per account,
region and quota, shared by threads; sized from AWS's quota pages like the local cloud's table; a throttle
answer empties the bucket; attached to real botocore clients.

Quotas followed: https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html (CreateDeployment
1 request every 5 seconds; total operations 10 per second, burst 40),
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config

from controller.aws import pacing
from localcloud import quota_table


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def pacer(time: FakeTime) -> pacing.Pacer:
    return pacing.Pacer(clock=time.clock, sleep=time.sleep)


def deploy(p: pacing.Pacer, time: FakeTime, region: str = "us-east-1", answer_s: float = 0.0) -> float:
    """One CreateDeployment: wait for its gate, then its answer `answer_s` later."""
    waited = p.acquire("111", region, "api-gateway", "CreateDeployment")
    time.now += answer_s
    p.completed()
    return waited


def test_create_deployment_goes_one_at_a_time_five_seconds_after_the_previous_answer() -> None:
    time = FakeTime()
    p = pacer(time)
    gap = 5 + pacing.SLOW_GAP_S
    assert [deploy(p, time) for _ in range(3)] == pytest.approx([0.0, gap, gap])
    # A slow answer (a busy server admitting the call late) pushes the next call back by as much.
    assert deploy(p, time, answer_s=2.0) == pytest.approx(gap)
    assert deploy(p, time) == pytest.approx(gap)
    # Another region and another account have budgets of their own.
    assert deploy(p, time, region="eu-west-1") == 0.0
    assert p.acquire("222", "us-east-1", "api-gateway", "CreateDeployment") == 0.0


def test_threads_wanting_create_deployment_queue_behind_the_one_in_flight() -> None:
    import time as real

    one_a_second = pacing.RateQuota("api-gateway", "CreateDeployment", 0.99, 1.0, "shorter, for the test")
    p = pacing.Pacer(quotas=(one_a_second,))
    sent: list[float] = []

    def call() -> None:
        p.acquire("111", "us-east-1", "api-gateway", "CreateDeployment")
        sent.append(real.monotonic())
        real.sleep(0.3)  # the answer takes 0.3 s
        p.completed()

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent.sort()
    spacing = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert min(spacing) >= 0.3 + one_a_second.interval_s - 0.02


def test_every_api_gateway_call_shares_the_total_budget_of_the_account_and_region() -> None:
    time = FakeTime()
    p = pacer(time)
    burst = int(40 * pacing.BURST_MARGIN)
    waits = [p.acquire("111", "us-east-1", "api-gateway", op) for op in ["GetStage", "UpdateStage"] * 20]
    assert waits[:burst] == [0.0] * burst  # a burst below AWS's 40
    assert all(w > 0 for w in waits[burst:])
    assert time.now == pytest.approx((40 - burst) / (10 * pacing.RATE_MARGIN))  # then 9 a second
    assert p.snapshot().waited == 40 - burst


def test_a_throttle_answer_empties_the_bucket_so_every_thread_backs_off() -> None:
    time = FakeTime()
    p = pacer(time)
    assert p.acquire("111", "us-east-1", "api-gateway", "GetStage") == 0.0
    p.throttled("111", "us-east-1", "api-gateway", "GetStage")
    assert p.acquire("111", "us-east-1", "api-gateway", "GetStage") == pytest.approx(1 / 9)
    assert p.snapshot().throttled == 1


def test_the_buckets_follow_the_local_clouds_quota_table_for_every_operation_both_know() -> None:
    services = {"api-gateway": "apigateway", "cloudwatch": "monitoring"}
    operations = {"CreateRestApi": "CreateRestApi:REGIONAL", pacing.SHARED: quota_table.TOTAL}
    compared = 0
    for quota in pacing.QUOTAS:
        key = (services.get(quota.service, quota.service), operations.get(quota.operation, quota.operation))
        if key in quota_table.BY_KEY:
            theirs = quota_table.BY_KEY[key]
            assert (quota.rate, quota.burst) == pytest.approx((theirs.rate, theirs.burst)), quota
            compared += 1
    assert compared == 8  # all of ours but Lambda's, which the local cloud does not enforce


class _Throttling(http.server.BaseHTTPRequestHandler):
    """API Gateway's answers: a 429 first, then the deployment (REST-JSON)."""

    answers: list[tuple[int, dict, dict]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, body = self.answers.pop(0)
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def throttling_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_attached_client_paces_each_attempt_and_a_429_drains_the_bucket_before_the_retry(
    throttling_server: str,
) -> None:
    # API Gateway answers a call over its quota 429 TooManyRequestsException
    # (https://docs.aws.amazon.com/apigateway/latest/api/CommonErrors.html); botocore retries it.
    _Throttling.answers = [
        (429, {"x-amzn-ErrorType": "TooManyRequestsException"}, {"message": "Too Many Requests"}),
        (201, {}, {"id": "dep1", "description": "d"}),
    ]
    time = FakeTime()
    p = pacer(time)
    client = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s").client(
        "apigateway",
        region_name="us-east-1",
        endpoint_url=throttling_server,
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    pacing.attach(client, "111", "us-east-1", p)
    assert client.create_deployment(restApiId="abc", description="d")["id"] == "dep1"
    stats = p.snapshot()
    assert stats.calls == 2 and stats.throttled == 1  # both attempts paced
    assert time.slept == [pytest.approx(5 + pacing.SLOW_GAP_S, abs=0.01)]  # the retry waited
