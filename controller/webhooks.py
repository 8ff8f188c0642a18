"""POST a JSON body to a webhook: hooks (a 2xx answer passes) and notifications share it.

urllib from the standard library: no new dependency. A connection error, a timeout, 429 or 5xx is tried
again (`retries` times, 1 s then 2 s then 4 s apart, within the overall timeout); another 4xx is final.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

USER_AGENT = "apigw-canary-controller"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Sent:
    ok: bool
    detail: str  # "HTTP 204", or the error
    attempts: int
    seconds: float


def post_json(
    url: str,
    body: str,
    timeout_s: float,
    retries: int = 2,
    stop: threading.Event | None = None,
    headers: dict[str, str] | None = None,
) -> Sent:
    began = time.monotonic()
    attempts, detail = 0, ""
    while True:
        attempts += 1
        left = max(0.5, timeout_s - (time.monotonic() - began))
        request = urllib.request.Request(
            url,
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
        )
        retry = True
        try:
            with urllib.request.urlopen(request, timeout=left) as response:  # noqa: S310 - http(s) only
                status = response.status
            detail = f"HTTP {status}"
            if 200 <= status < 300:
                return Sent(True, detail, attempts, time.monotonic() - began)
        except urllib.error.HTTPError as exc:
            detail = f"HTTP {exc.code}"
            retry = exc.code in RETRY_STATUSES
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            detail = f"{type(exc).__name__}: {reason}"
        pause = min(4.0, 2.0 ** (attempts - 1))
        out_of_time = time.monotonic() - began + pause >= timeout_s
        if not retry or attempts > retries or out_of_time or _interrupted(stop, pause):
            return Sent(False, detail, attempts, time.monotonic() - began)


def _interrupted(stop: threading.Event | None, pause: float) -> bool:
    """Wait `pause` seconds before the next attempt; True when SIGINT/SIGTERM came meanwhile."""
    if stop is None:
        time.sleep(pause)
        return False
    return stop.wait(pause)
