"""Enforce AWS's control-plane rate quotas (quota_table.py) when the server runs with --enforce-quotas.

A token bucket per (account, region, service, operation), the same bucket as the stage throttle
(throttle.TokenBucket). A refused call is answered as the service answers it:
- API Gateway: HTTP 429 `TooManyRequestsException`, message "Too Many Requests", and a `Retry-After` header
  in seconds (the header is the `retryAfterSeconds` member of the exception in API Gateway's API model);
- CloudWatch: HTTP 400 `Throttling`, message "Rate exceeded" (its query-compatible JSON and CBOR errors also
  carry `x-amzn-query-error: Throttling;Sender`).
botocore's standard and adaptive retry modes treat both codes (and any 429) as throttling and back off.

Off by default: the ordinary test suite and `make up` run without it, so Terraform applies do not wait.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

from .aws_errors import fault_response
from .aws_operations import Operation, classify
from .quota_table import QUOTAS, TOTAL, Quota
from .throttle import TokenBucket

ENV_VAR = "LOCALCLOUD_QUOTAS"


def enforce_from_env(flag: bool) -> bool:
    """--enforce-quotas, or LOCALCLOUD_QUOTAS=enforce; any other value of the variable is a usage error."""
    raw = (os.environ.get(ENV_VAR) or "").strip().lower()
    if raw not in ("", "off", "enforce"):
        raise SystemExit(f"{ENV_VAR} must be 'enforce' or 'off', got {raw!r}")
    return flag or raw == "enforce"


@dataclass(frozen=True)
class Refusal:
    """A call over a quota: which quota refused it and when a retry could pass."""

    operation: Operation
    quota: Quota
    retry_after_s: float


class QuotaEnforcer:
    def __init__(
        self,
        quotas: Iterable[Quota] = QUOTAS,
        clock: Callable[[], float] = time.monotonic,
        account: str = "123456789012",
    ):
        self.account = account  # moto's default account, the one the local cloud's test credentials map to
        self._quotas = {q.key: q for q in quotas}
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str, str], TokenBucket] = {}
        self.refused = 0

    def _bucket(self, account: str, region: str, quota: Quota, now: float) -> TokenBucket:
        key = (account, region, quota.service, quota.operation)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(quota.rate, quota.burst, quota.burst, now)
        return bucket

    def admit(self, account: str, region: str, operation: Operation) -> Refusal | None:
        """Take a token from every quota the call counts against, or none and say which one refused."""
        applicable = [
            q
            for q in (
                self._quotas.get((operation.service, operation.name)),
                self._quotas.get((operation.service, TOTAL)),
            )
            if q is not None
        ]
        if not applicable:
            return None
        with self._lock:
            now = self._clock()  # in order: a thread that waited for the lock must not refill backwards
            buckets = [(q, self._bucket(account, region, q, now)) for q in applicable]
            waits = [(b.seconds_until_token(now), q) for q, b in buckets]
            wait, quota = max(waits, key=lambda w: w[0])
            if wait > 0:
                self.refused += 1
                return Refusal(operation, quota, wait)
            for _, bucket in buckets:
                bucket.take(now)
        return None

    def check(self, environ: dict[str, Any], service: str | None, region: str | None) -> Response | None:
        """None if the call may go on, else the service's throttling answer."""
        operation = classify(environ, service)
        if operation is None:
            return None
        refusal = self.admit(self.account, region or "us-east-1", operation)
        return None if refusal is None else refusal_response(environ, refusal)

    def describe(self) -> dict[str, Any]:
        """The table and the refusals so far (GET /_localcloud/quotas)."""
        return {
            "enforced": True,
            "refused": self.refused,
            "quotas": [
                {
                    "service": q.service,
                    "operation": q.operation,
                    "rate_per_s": q.rate,
                    "burst": q.burst,
                    "aws": q.aws_wording,
                    "source": q.source,
                }
                for q in self._quotas.values()
            ],
        }


def refusal_response(environ: dict[str, Any], refusal: Refusal) -> Response:
    retry_after = str(max(1, math.ceil(refusal.retry_after_s)))
    if refusal.operation.service == "apigateway":
        return fault_response(
            environ,
            "apigateway",
            429,
            code="TooManyRequestsException",
            message="Too Many Requests",
            extra_headers={"Retry-After": retry_after},
        )
    return fault_response(
        environ,
        refusal.operation.service,
        400,
        code="Throttling",
        message="Rate exceeded",
        extra_headers={"x-amzn-query-error": "Throttling;Sender"},
    )
