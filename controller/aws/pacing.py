"""Pace the controller's control-plane calls below AWS's published rate quotas, per account and Region.

API Gateway's management quotas are fixed and low: every call of an account in a Region shares "Total
operations: 10 requests per second with a burst quota of 40", and some calls have their own quota on top
(CreateDeployment: 1 request every 5 seconds). A wave of 50 stacks would run into them at once, so every
call first takes a token from a bucket per (account, Region, quota), shared by every thread and stack of
the process: the call waits for its token instead of being refused. botocore's standard retry mode still
retries a 429 with backoff (another client of the account may spend the same budget), and a throttle seen
empties the bucket, so every thread of the process backs off, not only the one that was refused.

Buckets are sized from the quota pages (the same numbers as the local cloud's `localcloud/quota_table.py`),
at `RATE_MARGIN` of the rate and `BURST_MARGIN` of the burst: requests reach a busy server closer together
than they left, and other clients of the account share the budget. A quota of one call every few seconds
(CreateDeployment) is a gate instead: one call at a time per account and Region, the next sent no sooner
than the interval (plus `SLOW_GAP_S`) after the previous one's answer, so however long a busy server takes to
admit a call (two seconds were measured on a loaded local cloud), two never reach it closer than the quota.
- https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html ("API Gateway quotas for
  creating, deploying and managing an API"; fixed, cannot be increased; "Other operations: No quota up to
  the total account quota")
- https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html (DescribeAlarms
  9 TPS, GetMetricData 50 TPS: defaults, adjustable)
- https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html ("Lambda API requests": control
  plane API requests other than invocation, GetFunction and GetPolicy, 15 requests per second)
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RATE_MARGIN = 0.9
BURST_MARGIN = 0.75
SLOW_GAP_S = 0.2  # added to a one-at-a-time quota's interval, counted from the previous call's answer
SHARED = "*"  # a service's budget every operation takes from
THROTTLING_CODES = frozenset(
    {"TooManyRequestsException", "Throttling", "ThrottlingException", "RequestLimitExceeded"}
)
UNKNOWN_ACCOUNT = "unknown"  # stacks whose account is unknown share one set of buckets (the safe side)


@dataclass(frozen=True)
class RateQuota:
    service: str  # botocore's service id, hyphenated: api-gateway, cloudwatch, lambda
    operation: str  # the API operation, or SHARED
    rate: float  # AWS's quota, requests per second
    burst: float  # AWS's burst, where it states one (else what the quota's wording allows at once)
    aws_wording: str

    @property
    def one_at_a_time(self) -> bool:
        """ "1 request every N seconds": a gate, not a bucket."""
        return self.burst <= 1 and self.rate < 1

    @property
    def interval_s(self) -> float:
        return 1 / self.rate + SLOW_GAP_S

    @property
    def paced_rate(self) -> float:
        return self.rate * RATE_MARGIN

    @property
    def paced_burst(self) -> float:
        return max(1.0, math.floor(self.burst * BURST_MARGIN))


QUOTAS: tuple[RateQuota, ...] = (
    RateQuota("api-gateway", SHARED, 10.0, 40.0, "Total operations: 10 requests per second, burst 40"),
    RateQuota("api-gateway", "CreateDeployment", 1 / 5, 1.0, "1 request every 5 seconds per account"),
    RateQuota("api-gateway", "GetResources", 5 / 2, 5.0, "5 requests every 2 seconds per account"),
    RateQuota("api-gateway", "CreateRestApi", 1 / 3, 1.0, "Regional or private API: 1 every 3 seconds"),
    RateQuota("api-gateway", "DeleteRestApi", 1 / 30, 1.0, "1 request every 30 seconds per account"),
    RateQuota("api-gateway", "CreateResource", 5.0, 5.0, "5 requests per second per account"),
    RateQuota("cloudwatch", "GetMetricData", 50.0, 50.0, "50 transactions per second (TPS)"),
    RateQuota("cloudwatch", "DescribeAlarms", 9.0, 9.0, "9 transactions per second (TPS)"),
    RateQuota("lambda", SHARED, 15.0, 15.0, "control plane API requests: 15 requests per second"),
)
BY_KEY: dict[tuple[str, str], RateQuota] = {(q.service, q.operation): q for q in QUOTAS}


class TokenBucket:
    """`rate` tokens a second up to `burst`. `reserve` takes a token now, possibly on credit, and says how
    long to wait until it is really there: callers are served in the order they asked."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = burst, now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def reserve(self, now: float) -> float:
        self._refill(now)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def drain(self, now: float) -> None:
        """The server refused a call: whatever we thought was left is not."""
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)


class _Gate:
    """One call at a time, each sent `interval_s` after the previous one's answer."""

    def __init__(self, interval_s: float) -> None:
        self.lock = threading.Lock()
        self.interval_s = interval_s
        self.last_answer = -math.inf


@dataclass
class PacingStats:
    calls: int = 0
    waited: int = 0  # calls that had to wait for a token
    waited_s: float = 0.0
    throttled: int = 0  # throttling answers seen (each retried by botocore's standard mode)
    by_operation: dict[str, int] = field(default_factory=dict)


class Pacer:
    """Token buckets per (account, Region, service, quota), shared by every client attached to it."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        quotas: tuple[RateQuota, ...] = QUOTAS,
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self._quotas = {(q.service, q.operation): q for q in quotas}
        self._buckets: dict[tuple[str, str, str, str], TokenBucket] = {}
        self._gates: dict[tuple[str, str, str, str], _Gate] = {}
        self._held = threading.local()  # the gates this thread's call in flight holds
        self._lock = threading.Lock()
        self.stats = PacingStats()

    def quotas_for(self, service: str, operation: str) -> list[RateQuota]:
        """The operation's own quota first (the scarcer one), then its service's shared budget."""
        return [q for key in ((service, operation), (service, SHARED)) if (q := self._quotas.get(key))]

    def _bucket(self, account: str, region: str, quota: RateQuota, now: float) -> TokenBucket:
        key = (account, region, quota.service, quota.operation)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(quota.paced_rate, quota.paced_burst, now)
        return bucket

    def _gate(self, account: str, region: str, quota: RateQuota) -> _Gate:
        key = (account, region, quota.service, quota.operation)
        with self._lock:
            if key not in self._gates:
                self._gates[key] = _Gate(quota.interval_s)
            return self._gates[key]

    def acquire(self, account: str, region: str, service: str, operation: str) -> float:
        """Wait for each quota the call counts against; returns the seconds waited. Call `completed()` when
        its answer (or failure) arrives."""
        self.completed()  # a call of this thread that never reported its answer frees its gate now
        began = self._clock()
        for quota in self.quotas_for(service, operation):
            if quota.one_at_a_time:
                gate = self._gate(account, region, quota)
                gate.lock.acquire()  # held until completed()
                self._held.gates = [gate]
                delay = gate.last_answer + gate.interval_s - self._clock()
            else:
                with self._lock:
                    delay = self._bucket(account, region, quota, self._clock()).reserve(self._clock())
            if delay > 0:
                self._sleep(delay)
        waited = self._clock() - began
        with self._lock:
            self.stats.calls += 1
            self.stats.by_operation[operation] = self.stats.by_operation.get(operation, 0) + 1
            if waited > 0.01:  # held back, not merely served in turn
                self.stats.waited += 1
                self.stats.waited_s += waited
        return waited

    def completed(self) -> None:
        """This thread's call has its answer: its gate's next call may go one interval from now."""
        gates, self._held.gates = getattr(self._held, "gates", []), []
        now = self._clock()
        for gate in gates:
            gate.last_answer = now
            gate.lock.release()

    def throttled(self, account: str, region: str, service: str, operation: str) -> None:
        with self._lock:
            self.stats.throttled += 1
            now = self._clock()
            for quota in self.quotas_for(service, operation):
                if not quota.one_at_a_time:  # a gate waits a whole interval from this answer anyway
                    self._bucket(account, region, quota, now).drain(now)

    def snapshot(self) -> PacingStats:
        with self._lock:
            s = self.stats
            return PacingStats(s.calls, s.waited, round(s.waited_s, 3), s.throttled, dict(s.by_operation))


PACER = Pacer()  # one per process: every stack of a plan shares the account's budget


def is_throttle(response: Any) -> bool:
    """A botocore response tuple (http response, parsed) that says "slow down"."""
    if not response:
        return False
    http, parsed = response
    code = (parsed or {}).get("Error", {}).get("Code")
    return getattr(http, "status_code", None) == 429 or code in THROTTLING_CODES


def attach(client: Any, account: str, region: str, pacer: Pacer = PACER) -> None:
    """Pace every attempt of `client` (before it is signed, so a wait never ages a signature)."""
    service = client.meta.service_model.service_id.hyphenize()

    def before(operation_name: str = "", **_: Any) -> None:
        pacer.acquire(account, region, service, operation_name)

    def after(response: Any = None, operation: Any = None, **_: Any) -> None:
        pacer.completed()
        if is_throttle(response):
            pacer.throttled(account, region, service, getattr(operation, "name", ""))

    def failed(**_: Any) -> None:
        pacer.completed()  # e.g. the request could not be signed: it never reached needs-retry

    client.meta.events.register_first(f"request-created.{service}", before)
    client.meta.events.register_first(f"needs-retry.{service}", after)  # after every attempt
    client.meta.events.register_first(f"after-call-error.{service}", failed)
