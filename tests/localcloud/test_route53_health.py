"""Route 53 health checks that probe the local data plane; GetHealthCheckStatus reports what they saw.

Pages followed:
HEALTH  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html
        (HTTP/HTTPS: connection within 4 s, then status 2xx/3xx within 2 s; FailureThreshold consecutive
        results change a checker's view; healthy when more than 18 % of checkers say so; new checks are
        healthy until there is data)
STATUS  https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetHealthCheckStatus.html
        (one HealthCheckObservation per health checker: Region, IPAddress, StatusReport{Status, CheckedTime})
CONFIG  https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html (Regions: all
        checker regions when empty; Inverted; Disabled = always healthy)
CHOOSE  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-how-route-53-chooses-records.html
        (latency records: the healthy record with the lowest latency to the client)
METRICS https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-checks.html
        (AWS/Route53 HealthCheckStatus, 1 healthy / 0 unhealthy, dimension HealthCheckId, in us-east-1)
LAMCONC https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html (reserved concurrency 0
        throttles every invocation; API Gateway then answers 500)
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

from localcloud.health_checks import CheckerView, ProbeResult, ProbeTarget, is_healthy, observe, probe
from localcloud.route53_health import CHECKER_REGIONS

EAST, WEST = "us-east-1", "eu-west-1"


def _result(ok: bool) -> ProbeResult:
    return ProbeResult(ok, "Success" if ok else "Failure", time.time())


# -- a checker's view and the verdict (pure) -------------------------------------------------------------
def test_a_checker_turns_unhealthy_only_after_failure_threshold_consecutive_failures():
    view = CheckerView()
    assert view.healthy  # HEALTH: healthy until there is enough data
    for ok in (False, False, True, False, False):
        view = observe(view, _result(ok), failure_threshold=3)
        assert view.healthy  # a success in between starts the count again
    view = observe(view, _result(False), failure_threshold=3)
    assert not view.healthy
    view = observe(view, _result(True), failure_threshold=3)
    view = observe(view, _result(True), failure_threshold=3)
    assert not view.healthy
    assert observe(view, _result(True), failure_threshold=3).healthy


def test_a_health_check_is_healthy_when_more_than_18_percent_of_checkers_say_so():
    one_of_eight = [CheckerView(True)] + [CheckerView(False)] * 7
    two_of_eight = [CheckerView(True)] * 2 + [CheckerView(False)] * 6
    assert not is_healthy(one_of_eight)  # 12.5 %
    assert is_healthy(two_of_eight)  # 25 %
    assert is_healthy(one_of_eight, inverted=True)
    assert is_healthy([CheckerView(False)] * 8, disabled=True)  # CONFIG: disabled = healthy
    assert is_healthy([])


# -- one probe ------------------------------------------------------------------------------------------
class _Endpoint(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        code = {"/ok": 200, "/moved": 301, "/broken": 503, "/slow": 200}.get(self.path, 404)
        if self.path == "/slow":
            time.sleep(2.5)
        body = b"status: green" if code == 200 else b"no"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _target(port: int, path: str, search: str | None = None, host: str = "127.0.0.1") -> ProbeTarget:
    kind = "HTTP_STR_MATCH" if search else "HTTP"
    return ProbeTarget(kind, host, port, path, host, search)


@pytest.mark.parametrize(
    ("path", "ok", "status"),
    [
        ("/ok", True, "Success: HTTP Status Code 200, OK"),
        ("/moved", True, "Success: HTTP Status Code 301, Moved Permanently"),
        ("/broken", False, "Failure: HTTP Status Code 503, Service Unavailable"),
        ("/missing", False, "Failure: HTTP Status Code 404, Not Found"),
    ],
)
def test_a_probe_passes_on_2xx_and_3xx_only(endpoint, path, ok, status):
    # HEALTH: "the endpoint must respond with an HTTP status code of 2xx or 3xx".
    result = probe(_target(endpoint, path))
    assert (result.ok, result.status) == (ok, status)


def test_a_probe_fails_when_the_status_takes_longer_than_two_seconds(endpoint):
    # HEALTH: the status code must arrive within two seconds after connecting.
    result = probe(_target(endpoint, "/slow"))
    assert not result.ok and "did not respond" in result.status


def test_a_string_match_probe_needs_the_string_in_the_body(endpoint):
    assert probe(_target(endpoint, "/ok", search="green")).ok
    missing = probe(_target(endpoint, "/ok", search="blue"))
    assert not missing.ok and "was not found in the first 5120 bytes" in missing.status


def test_a_probe_to_a_closed_port_fails(endpoint):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    result = probe(_target(closed, "/"))
    assert not result.ok and result.status.startswith("Failure: Connection refused")


def test_only_loopback_endpoints_are_probed():
    result = probe(_target(80, "/", host="192.0.2.10"))
    assert not result.ok and "loopback endpoints only" in result.status


# -- health checks in the local cloud --------------------------------------------------------------------
@pytest.fixture
def route53(aws_client):
    """A Route 53 client; the health checks a test creates are deleted after it, so probing stops."""
    client = aws_client("route53")
    yield client
    for check in client.list_health_checks()["HealthChecks"]:
        if check["CallerReference"].startswith(CALLER_PREFIX):
            client.delete_health_check(HealthCheckId=check["Id"])


CALLER_PREFIX = "test-route53-health-"


def _health_check(route53, url: str, **config) -> str:
    parsed = urlparse(url)
    return route53.create_health_check(
        CallerReference=CALLER_PREFIX + uuid.uuid4().hex,
        HealthCheckConfig={
            "Type": "HTTP",
            "IPAddress": "127.0.0.1",
            "Port": parsed.port,
            "ResourcePath": parsed.path,
            "RequestInterval": 10,
            "FailureThreshold": 2,
            **config,
        },
    )["HealthCheck"]["Id"]


def _observations(route53, check_id):
    return route53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]


def _all_report(route53, check_id, prefix):
    observations = _observations(route53, check_id)
    return bool(observations) and all(o["StatusReport"]["Status"].startswith(prefix) for o in observations)


def _status_metric(cw, check_id):
    now = datetime.now(tz=UTC)
    result = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "s",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Route53",
                        "MetricName": "HealthCheckStatus",
                        "Dimensions": [{"Name": "HealthCheckId", "Value": check_id}],
                    },
                    "Period": 2,
                    "Stat": "Minimum",
                },
            }
        ],
        StartTime=now - timedelta(seconds=30),
        EndTime=now + timedelta(seconds=10),
        ScanBy="TimestampDescending",
    )
    values = result["MetricDataResults"][0]["Values"]
    return values[0] if values else None


def _latency_records(route53, checks) -> tuple[str, str]:
    """A zone with one latency record per region, each with its region's health check."""
    zone_name = f"z{uuid.uuid4().hex[:8]}.test"
    zone_id = route53.create_hosted_zone(Name=zone_name, CallerReference=uuid.uuid4().hex)["HostedZone"]["Id"]
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": f"api.{zone_name}",
                "Type": "A",
                "SetIdentifier": region,
                "Region": region,
                "HealthCheckId": check_id,
                "TTL": 60,
                "ResourceRecords": [{"Value": address}],
            },
        }
        for (region, (_, check_id)), address in zip(checks.items(), ("192.0.2.1", "192.0.2.2"), strict=True)
    ]
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return zone_id.rsplit("/", 1)[-1], f"api.{zone_name}"


def _answered(localcloud, zone_id, name, client_region) -> str:
    """The set identifier Route 53 answers a client in client_region with (CHOOSE)."""
    answer = localcloud.admin(
        "GET", f"route53/answer?zone_id={zone_id}&name={name}&client_region={client_region}"
    )
    return next(r["set_identifier"] for r in answer["records"] if r["probability"] == 1.0)


def test_stopping_one_regions_function_makes_only_that_regions_health_check_unhealthy(
    make_function, make_api, aws_client, route53, localcloud, wait_until
):
    checks = {}
    for region in (EAST, WEST):
        function = make_function(env={"VERSION": region}, region=region)
        api = make_api(function=function, paths=("/hello", "/health"), region=region)
        aws_client("apigateway", region).create_deployment(restApiId=api.id, stageName="production")
        checks[region] = (function, _health_check(route53, api.url("production", "/health")))
    zone_id, name = _latency_records(route53, checks)
    for _, check_id in checks.values():
        wait_until(lambda c=check_id: _all_report(route53, c, "Success: HTTP Status Code 200"), timeout=20)
    # STATUS/CONFIG: one observation per checker region, all eight when Regions is empty.
    observations = _observations(route53, checks[WEST][1])
    assert sorted(o["Region"] for o in observations) == sorted(CHECKER_REGIONS)
    assert all(o["IPAddress"] and o["StatusReport"]["CheckedTime"] for o in observations)

    assert _answered(localcloud, zone_id, name, WEST) == WEST

    west_function, west_check = checks[WEST]
    # LAMCONC: reserved concurrency 0 throttles every invocation of the west function.
    aws_client("lambda", WEST).put_function_concurrency(
        FunctionName=west_function, ReservedConcurrentExecutions=0
    )
    wait_until(lambda: _all_report(route53, west_check, "Failure: HTTP Status Code 500"), timeout=20)
    cw = aws_client("cloudwatch", "us-east-1")
    # METRICS: HealthCheckStatus 0 for the stopped region, 1 for the other, in us-east-1.
    wait_until(lambda: _status_metric(cw, west_check) == 0.0, timeout=20, message="west unhealthy")
    assert _status_metric(cw, checks[EAST][1]) == 1.0
    assert _all_report(route53, checks[EAST][1], "Success")
    # CHOOSE: eu-west-1's clients now get us-east-1's record; us-east-1's clients never noticed.
    assert _answered(localcloud, zone_id, name, WEST) == EAST
    assert _answered(localcloud, zone_id, name, EAST) == EAST

    aws_client("lambda", WEST).delete_function_concurrency(FunctionName=west_function)
    wait_until(lambda: _status_metric(cw, west_check) == 1.0, timeout=20, message="west healthy again")
    assert _answered(localcloud, zone_id, name, WEST) == WEST


def test_a_health_check_reports_from_its_chosen_regions_only(
    make_function, make_api, aws_client, route53, wait_until
):
    function = make_function()
    api = make_api(function=function, paths=("/health",))
    aws_client("apigateway").create_deployment(restApiId=api.id, stageName="production")
    regions = ["us-east-1", "eu-west-1", "ap-southeast-1"]
    check_id = _health_check(route53, api.url("production", "/health"), Regions=regions)
    wait_until(lambda: _observations(route53, check_id), timeout=20)
    assert sorted(o["Region"] for o in _observations(route53, check_id)) == sorted(regions)


def test_a_health_check_of_a_non_loopback_address_fails_without_a_request(route53, wait_until):
    check_id = _health_check(route53, "http://127.0.0.1:80/", IPAddress="192.0.2.10")
    wait_until(
        lambda: _all_report(route53, check_id, "Failure: the local cloud probes loopback endpoints only")
    )
