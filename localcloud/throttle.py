"""Stage throttling: a token bucket per stage (and per method when a method has its own settings).

API Gateway throttles with the token bucket algorithm: burstLimit is the bucket size, rateLimit the steady
refill
per second; requests over the limit get 429 Too Many Requests.
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        # Threads read the clock before taking the lock: a `now` older than the last refill adds nothing
        # (going back would take tokens away and refuse calls that are within the quota).
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def take(self, now: float) -> bool:
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def seconds_until_token(self, now: float) -> float:
        """How long until take() would succeed (0 when it would now)."""
        self.refill(now)
        if self.tokens >= 1.0:
            return 0.0
        return (1.0 - self.tokens) / self.rate if self.rate > 0 else float("inf")


def _limits(settings: dict[str, Any] | None) -> tuple[float, float] | None:
    if not settings:
        return None
    rate = settings.get("throttlingRateLimit")
    burst = settings.get("throttlingBurstLimit")
    if rate is None and burst is None:
        return None
    rate_f = float(rate if rate is not None else 10000.0)
    burst_f = float(burst if burst is not None else max(rate_f, 1.0))
    return rate_f, burst_f


class Throttler:
    def __init__(self, clock: Any = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, ...], tuple[tuple[float, float], TokenBucket]] = {}

    def allow(
        self, api_id: str, stage: str, method_settings: dict[str, Any], resource_path: str, method: str
    ) -> bool:
        """True if this request may pass. Method-specific settings win over the stage-wide '*/*' ones."""
        method_key = resource_path.lstrip("/").replace("/", "~1") + "/" + method
        specific = _limits(method_settings.get(method_key))
        if specific is not None:
            return self._take((api_id, stage, method_key), specific)
        stage_wide = _limits(method_settings.get("*/*"))
        if stage_wide is not None:
            return self._take((api_id, stage, "*/*"), stage_wide)
        return True

    def _take(self, key: tuple[str, ...], limits: tuple[float, float]) -> bool:
        now = self._clock()
        with self._lock:
            entry = self._buckets.get(key)
            if entry is None or entry[0] != limits:
                # New or changed limits start with a full bucket, as a freshly applied setting does.
                entry = (limits, TokenBucket(limits[0], limits[1], limits[1], now))
                self._buckets[key] = entry
            return entry[1].take(now)
