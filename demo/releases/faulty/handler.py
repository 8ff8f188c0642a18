"""A faulty release for the demo: the same API as lambda/blue and lambda/green, but it fails a share of
requests with a 500 and answers more slowly, the kind of regression a canary must catch.

The error body still names the release, so the demo's traffic counters can charge the failures to it.
Tune it with FAULTY_ERROR_RATE (0-1, default 0.3) and FAULTY_EXTRA_LATENCY_MS (default 250).
"""

import json
import os
import random
import time

VERSION = "v3.0.0-faulty"


def _slot():
    # The module names functions "<prefix>-blue" / "<prefix>-green"; Lambda puts the name in the environment.
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    suffix = name.rsplit("-", 1)[-1]
    return suffix if suffix in ("blue", "green") else "blue"


def _settings():
    error_rate = min(1.0, max(0.0, float(os.environ.get("FAULTY_ERROR_RATE", "0.3"))))
    extra_latency_ms = max(0.0, float(os.environ.get("FAULTY_EXTRA_LATENCY_MS", "250")))
    return error_rate, extra_latency_ms


def lambda_handler(event, context):
    error_rate, extra_latency_ms = _settings()
    # Jitter so the slowdown shows as a p99 shift, not a constant offset.
    time.sleep(extra_latency_ms * random.uniform(0.6, 1.4) / 1000.0)
    body = {
        "version": VERSION,
        "environment": _slot(),
        "timestamp": getattr(context, "aws_request_id", None),
    }
    if random.random() < error_rate:
        body["message"] = "Faulty release: simulated internal error"
        status = 500
    else:
        body["message"] = f"Hello from {_slot().capitalize()} environment (faulty build)!"
        status = 200
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"},
        "body": json.dumps(body),
    }
