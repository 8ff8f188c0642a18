"""Data-plane benchmark: the local execute-api gateway vs a bare HTTP server, same request, same run.

Measures requests/s at concurrency 16 and p50/p99 latency through
  client -> local cloud data plane -> warm Lambda worker (trivial handler) -> response
against
  client -> bare http.server answering the same body,
then reports the ratio and the added latency, plus the start-up time of `python -m localcloud up`.
Everything runs on 127.0.0.1; request loops are bounded by count and time.
Writes bench/out/dataplane.json.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from localcloud.testing import LocalCloudProcess, zip_handler  # noqa: E402

CONCURRENCY = 16
REQUESTS = int(os.environ.get("BENCH_DATAPLANE_REQUESTS", "3000"))
TIME_LIMIT_S = 60.0
BODY = '{"message": "hello"}'
HANDLER = f"def handler(event, context):\n    return {{'statusCode': 200, 'body': {BODY!r}}}\n"

BARE_SERVER = f"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {BODY!r}.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


@dataclass
class Result:
    target: str
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float


def load(port: int, path: str, total: int, concurrency: int = CONCURRENCY) -> Result:
    """GET path `total` times from `concurrency` threads, one connection per request (both servers close)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))
    deadline = time.monotonic() + TIME_LIMIT_S

    def worker() -> None:
        nonlocal errors
        local: list[float] = []
        local_errors = 0
        while time.monotonic() < deadline:
            with lock:
                if next(counter, None) is None:
                    break
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status != 200:
                    local_errors += 1
            except OSError:
                local_errors += 1
            local.append((time.perf_counter() - started) * 1000.0)
        with lock:
            latencies.extend(local)
            errors += local_errors

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    return Result(
        target="",
        requests=len(latencies),
        errors=errors,
        seconds=round(seconds, 3),
        rps=round(len(latencies) / seconds, 1),
        p50_ms=round(statistics.median(ordered), 3),
        p99_ms=round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3),
    )


def _setup_api(endpoint: str) -> str:
    import boto3

    kw = dict(
        endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    role = boto3.client("iam", **kw).create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"][
        "Arn"
    ]
    lam = boto3.client("lambda", **kw)
    lam.create_function(
        FunctionName="bench",
        Runtime="python3.12",
        Role=role,
        Handler="lambda_function.handler",
        Code={"ZipFile": zip_handler(HANDLER)},
    )
    lam.add_permission(
        FunctionName="bench",
        StatementId="apigw",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
    )
    apigw = boto3.client("apigateway", **kw)
    api = apigw.create_rest_api(name="bench")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    res = apigw.create_resource(restApiId=api, parentId=root, pathPart="hello")["id"]
    apigw.put_method(restApiId=api, resourceId=res, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(
        restApiId=api,
        resourceId=res,
        httpMethod="GET",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:us-east-1:123456789012:function:bench/invocations",
    )
    apigw.create_deployment(restApiId=api, stageName="prod")
    return f"/restapis/{api}/prod/_user_request_/hello"


def measure_up_time() -> float:
    """Seconds from `python -m localcloud up` to its return (it returns once health answers 200)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = tempfile.mkdtemp(prefix="bench-up-")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "localcloud", "up", "--port", str(port), "--state-dir", state],
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    subprocess.run(
        [sys.executable, "-m", "localcloud", "down", "--state-dir", state],
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )
    return round(elapsed, 3)


def run() -> dict[str, Any]:
    bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert bare.stdout is not None
        bare_port = int(bare.stdout.readline())
        with LocalCloudProcess(metric_period=60) as cloud:
            path = _setup_api(cloud.endpoint_url)
            load(cloud.port, path, 200)  # warm-up: spawn the workers, fill caches
            load(bare_port, "/hello", 200)
            gateway = load(cloud.port, path, REQUESTS)
            gateway.target = "local gateway + Lambda worker"
            direct = load(bare_port, "/hello", REQUESTS)
            direct.target = "bare http.server"
    finally:
        bare.terminate()
        bare.wait(timeout=10)
    up_times = [measure_up_time() for _ in range(3)]
    return {
        "concurrency": CONCURRENCY,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": [asdict(gateway), asdict(direct)],
        "throughput_ratio": round(gateway.rps / direct.rps, 3) if direct.rps else None,
        "added_latency_ms": {
            "p50": round(gateway.p50_ms - direct.p50_ms, 3),
            "p99": round(gateway.p99_ms - direct.p99_ms, 3),
        },
        "up_seconds": {"runs": up_times, "median": statistics.median(up_times)},
    }


def main() -> None:
    report = run()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataplane.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"Data plane, concurrency {report['concurrency']} ({report['machine']['cpus']} CPUs)")
    print(f"{'target':32} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in report["results"]:
        print(
            f"{r['target']:32} {r['requests']:>8} {r['errors']:>6} {r['rps']:>8.1f} {r['p50_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f}"
        )
    added = report["added_latency_ms"]
    print(
        f"throughput ratio gateway/bare: {report['throughput_ratio']}; "
        f"added latency p50 {added['p50']:.2f} ms, p99 {added['p99']:.2f} ms"
    )
    print(
        f"`localcloud up` start-up: median {report['up_seconds']['median']:.2f} s "
        f"(runs: {report['up_seconds']['runs']})"
    )
    print(f"wrote {out / 'dataplane.json'}")


if __name__ == "__main__":
    main()
