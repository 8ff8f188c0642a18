"""Fault injection for tests and the demo.

Two kinds (shape in docs/contracts.md):
- control plane: {"target": "control_plane", "service": "apigateway", "status": 429|500|503, "seconds": 10}
  makes every AWS API call to that service ("*" for all) answer that error for the given time;
- lambda: {"target": "lambda", "function": "NAME", "error_rate": 0.2, "latency_ms": 150, "seconds": null,
  "invocations": null} adds latency and/or a share of handler errors to one function's invocations through
  the data plane; "invocations": N to the next N it attempts only (a throttled one counts; one slow first
  request: a cold start, on cue).
"seconds": null means until cleared.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

SERVICE_ALIASES = {
    "cloudwatch": "monitoring",
    "monitoring": "monitoring",
    "lambda": "lambda",
    "apigateway": "apigateway",
    "iam": "iam",
    "sts": "sts",
    "logs": "logs",
    "sns": "sns",
}


class FaultError(ValueError):
    """A fault request that cannot be applied; the message says what to change."""


@dataclass
class Fault:
    id: str
    target: str
    created_at: float
    expires_at: float | None
    service: str | None = None
    status: int | None = None
    function: str | None = None
    error_rate: float = 0.0
    latency_ms: float = 0.0
    invocations: int | None = None  # the invocations it still applies to (None: every one; 0: removed)

    def active(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: v for k, v in data.items() if v is not None}


def _number(body: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = body.get(key, default)
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FaultError(f"{key} must be a number between {lo} and {hi}, got {value!r}") from None
    if not lo <= number <= hi:
        raise FaultError(f"{key} must be between {lo} and {hi}, got {number}")
    return number


def _count(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise FaultError(f"{key} must be a whole number from 1 to 1000000, got {value!r}")
    return value


class FaultRegistry:
    def __init__(self, clock: Any = time.time, rng: random.Random | None = None):
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self._ids = itertools.count(1)

    def add(self, body: dict[str, Any]) -> Fault:
        target = body.get("target")
        seconds = body.get("seconds")
        if seconds is not None:
            seconds = _number(body, "seconds", 0, 0.001, 86400)
        now = self._clock()
        fault_id = f"f{next(self._ids)}"
        expires = None if seconds is None else now + seconds
        if target == "control_plane":
            service = str(body.get("service") or "").lower()
            if service != "*" and service not in SERVICE_ALIASES:
                raise FaultError(f"service must be '*' or one of {sorted(SERVICE_ALIASES)}, got {service!r}")
            status = int(_number(body, "status", 503, 400, 599))
            if status not in (429, 500, 502, 503, 504):
                raise FaultError("status must be 429, 500, 502, 503 or 504")
            fault = Fault(
                fault_id, target, now, expires, service=SERVICE_ALIASES.get(service, "*"), status=status
            )
        elif target == "lambda":
            function = body.get("function")
            if not function:
                raise FaultError("a lambda fault needs 'function': the function name")
            fault = Fault(
                fault_id,
                target,
                now,
                expires,
                function=str(function),
                error_rate=_number(body, "error_rate", 0.0, 0.0, 1.0),
                latency_ms=_number(body, "latency_ms", 0.0, 0.0, 900_000),
                invocations=_count(body, "invocations"),
            )
        else:
            raise FaultError("target must be 'control_plane' or 'lambda'")
        with self._lock:
            self._faults[fault_id] = fault
        return fault

    def list(self) -> list[Fault]:
        now = self._clock()
        with self._lock:
            for fid in [f.id for f in self._faults.values() if not f.active(now)]:
                del self._faults[fid]
            return list(self._faults.values())

    def clear(self, fault_id: str | None = None) -> int:
        with self._lock:
            if fault_id is None:
                count = len(self._faults)
                self._faults.clear()
                return count
            return 1 if self._faults.pop(fault_id, None) else 0

    def control_plane_status(self, service: str | None) -> int | None:
        """The error status to answer for a call to `service`, if a control-plane fault is active."""
        if not self._faults:
            return None
        now = self._clock()
        with self._lock:
            for fault in self._faults.values():
                if fault.target == "control_plane" and fault.active(now) and fault.service in ("*", service):
                    return fault.status
        return None

    def lambda_injection(self, function_name: str) -> dict[str, Any]:
        """{"latency_ms": .., "error": bool} to pass to one invocation of function_name."""
        if not self._faults:
            return {}
        now = self._clock()
        latency = 0.0
        error = False
        with self._lock:
            for fault in self._faults.values():
                if fault.target == "lambda" and fault.function == function_name and fault.active(now):
                    if fault.invocations is not None:  # counts the invocations the data plane attempts
                        fault.invocations -= 1
                    latency += fault.latency_ms
                    if fault.error_rate and self._rng.random() < fault.error_rate:
                        error = True
            for spent in [f.id for f in self._faults.values() if f.invocations == 0]:
                del self._faults[spent]
        out: dict[str, Any] = {}
        if latency:
            out["latency_ms"] = latency
        if error:
            out["error"] = True
        return out
