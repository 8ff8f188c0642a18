"""Route 53 endpoint health checks, the pure parts: one probe of an endpoint and what a checker makes of it.

Follows "How Amazon Route 53 determines whether a health check is healthy"
(https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html):
- HTTP/HTTPS: the checker must open a TCP connection within four seconds, and the endpoint must answer with
  an HTTP status 2xx or 3xx within two seconds after connecting. *_STR_MATCH: the search string must appear in
  the first 5,120 bytes of the body, received within two more seconds. TCP: a connection within ten seconds.
- A checker changes its view of the endpoint after FailureThreshold consecutive results that disagree with
  it; a new health check counts as healthy until there is enough data.
- The health check is healthy when more than 18 % of the checkers report it healthy. Inverted flips the
  result; a disabled health check is always healthy.

Local stand-in rule: only loopback endpoints (127.0.0.1, localhost, ::1) are probed; any other address is a
failure without a request. HTTPS checks get plain HTTP here, since the local data plane has no TLS.
The StatusReport wording ("Success: HTTP Status Code 200, OK", "Failure: ...") is what the Route 53 console
and API show; AWS does not document it, so compare on the Success/Failure prefix only.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass, replace

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
HEALTHY_SHARE = 0.18
CONNECT_TIMEOUT_S = {"TCP": 10.0}
DEFAULT_CONNECT_TIMEOUT_S = 4.0
RESPONSE_TIMEOUT_S = 2.0
SEARCH_BYTES = 5120
USER_AGENT = "Amazon-Route53-Health-Check-Service (local cloud)"
ENDPOINT_TYPES = ("HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP")


@dataclass(frozen=True)
class ProbeTarget:
    """What a checker connects to, read from the HealthCheckConfig."""

    type: str
    host: str  # IPAddress, else FullyQualifiedDomainName
    port: int
    path: str
    host_header: str
    search_string: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    status: str  # the StatusReport.Status text
    checked_at: float  # epoch seconds


@dataclass(frozen=True)
class CheckerView:
    """One health checker's opinion: flips after failure_threshold consecutive disagreeing results."""

    healthy: bool = True
    disagreeing: int = 0
    last: ProbeResult | None = None


def observe(view: CheckerView, result: ProbeResult, failure_threshold: int) -> CheckerView:
    if result.ok == view.healthy:
        return CheckerView(view.healthy, 0, result)
    disagreeing = view.disagreeing + 1
    if disagreeing >= max(1, failure_threshold):
        return CheckerView(result.ok, 0, result)
    return replace(view, disagreeing=disagreeing, last=result)


def is_healthy(views: list[CheckerView], inverted: bool = False, disabled: bool = False) -> bool:
    if disabled:
        return True
    if not views:
        return not inverted  # no data yet: healthy
    share = sum(1 for v in views if v.healthy) / len(views)
    return (share > HEALTHY_SHARE) != inverted


def probe(target: ProbeTarget, now: float | None = None) -> ProbeResult:
    """One request to the endpoint, judged as a Route 53 checker judges it."""
    at = time.time() if now is None else now
    if target.host not in LOOPBACK:
        return ProbeResult(
            False,
            f"Failure: the local cloud probes loopback endpoints only (127.0.0.1, localhost); "
            f"{target.host} was not contacted.",
            at,
        )
    connect_timeout = CONNECT_TIMEOUT_S.get(target.type, DEFAULT_CONNECT_TIMEOUT_S)
    connection = http.client.HTTPConnection(target.host, target.port, timeout=connect_timeout)
    try:
        try:
            connection.connect()
        except TimeoutError:
            return ProbeResult(False, _timed_out(target), at)
        except OSError as exc:
            return ProbeResult(False, f"Failure: Connection refused. Resolved IP: {target.host}. ({exc})", at)
        if target.type == "TCP":
            return ProbeResult(True, "Success: TCP connection established.", at)
        assert connection.sock is not None
        connection.sock.settimeout(RESPONSE_TIMEOUT_S)
        try:
            connection.request(
                "GET", target.path or "/", headers={"Host": target.host_header, "User-Agent": USER_AGENT}
            )
            response = connection.getresponse()
            body = response.read(SEARCH_BYTES) if target.search_string else b""
        except TimeoutError:
            return ProbeResult(False, _timed_out(target), at)
        except (OSError, http.client.HTTPException) as exc:
            return ProbeResult(False, f"Failure: The endpoint closed the connection ({exc}).", at)
    finally:
        connection.close()
    code = f"HTTP Status Code {response.status}, {response.reason}"
    if not 200 <= response.status < 400:
        return ProbeResult(False, f"Failure: {code}", at)
    if target.search_string and target.search_string.encode() not in body:
        return ProbeResult(
            False,
            f"Failure: {code}. The search string {target.search_string!r} was not found in the first "
            f"{SEARCH_BYTES} bytes of the response body.",
            at,
        )
    return ProbeResult(True, f"Success: {code}", at)


def _timed_out(target: ProbeTarget) -> str:
    return (
        f"Failure: Resolved IP: {target.host}. The endpoint did not respond to the health checker request "
        "within the timeout limit."
    )
