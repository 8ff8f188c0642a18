"""python -m localcloud {serve,up,down,status,fault}.

up starts `serve` in the background (own process group, so down can stop it with its Lambda workers),
returns once
GET /_localcloud/health answers 200, and leaves the pid in STATE_DIR/localcloud.pid and the log in
STATE_DIR/localcloud.log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .iam_enforcement import enforce_from_env as iam_from_env
from .quotas import ENV_VAR as QUOTAS_ENV_VAR
from .quotas import enforce_from_env as quotas_from_env
from .server import ServerConfig, metric_period_from_env


class CliError(Exception):
    """A problem the user can fix; printed as one line."""


def _health(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/_localcloud/health", timeout=timeout) as resp:
            if resp.status == 200:
                return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve

    period = args.metric_period or metric_period_from_env()
    if args.no_canary_metrics:
        os.environ["LOCALCLOUD_CANARY_METRICS"] = "off"
    config = ServerConfig(
        host=args.host,
        port=args.port,
        metric_period=period,
        enforce_iam=args.enforce_iam or iam_from_env(),
        enforce_quotas=quotas_from_env(args.enforce_quotas),
    )
    serve(config, port_file=args.port_file)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    state = Path(args.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    pid_file, log_file = state / "localcloud.pid", state / "localcloud.log"
    url = f"http://127.0.0.1:{args.port}"
    enforce_iam = args.enforce_iam or iam_from_env()
    iam_mode = "IAM enforced" if enforce_iam else "IAM not enforced"
    if pid_file.exists():
        pid = int(pid_file.read_text().strip() or 0)
        health = _health(url) if pid and _pid_alive(pid) else None
        if health:
            if bool(health.get("iam_enforced")) != enforce_iam:
                running = "on" if health.get("iam_enforced") else "off"
                raise CliError(
                    f"The local cloud on {url} already runs with IAM enforcement {running}; "
                    "stop it first (make down) to change that."
                )
            print(f"local cloud already running on {url} (pid {pid}, {iam_mode}, log {log_file})")
            return 0
        pid_file.unlink(missing_ok=True)
    if _health(url):
        raise CliError(f"Something else already answers on {url}; stop it or choose another --port.")
    started = time.monotonic()
    cmd = [sys.executable, "-m", "localcloud", "serve", "--host", "127.0.0.1", "--port", str(args.port)]
    if args.metric_period:
        cmd += ["--metric-period", str(args.metric_period)]
    if args.no_canary_metrics:
        cmd.append("--no-canary-metrics")
    if enforce_iam:
        cmd.append("--enforce-iam")
    if quotas_from_env(args.enforce_quotas):
        cmd.append("--enforce-quotas")
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=os.getcwd(),
        )
    pid_file.write_text(f"{proc.pid}\n")
    deadline = started + args.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid_file.unlink(missing_ok=True)
            raise CliError(f"The local cloud exited during start-up (code {proc.returncode}); see {log_file}")
        health = _health(url, timeout=0.5)
        if health:
            print(
                f"local cloud up on {url} in {time.monotonic() - started:.2f}s "
                f"(pid {proc.pid}, metric period {health['metric_period']}s, {iam_mode}, "
                f"quotas {health['quotas']}, log {log_file})"
            )
            return 0
        time.sleep(0.05)
    _stop_group(proc.pid, grace=5)
    pid_file.unlink(missing_ok=True)
    raise CliError(f"The local cloud did not answer on {url} within {args.timeout}s; see {log_file}")


def _stop_group(pid: int, grace: float) -> bool:
    """SIGTERM the process group led by pid, SIGKILL it after grace seconds. True if anything was running."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def _group_alive(pgid: int) -> bool:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().split(")")[-1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def cmd_down(args: argparse.Namespace) -> int:
    pid_file = Path(args.state_dir) / "localcloud.pid"
    if not pid_file.exists():
        print("local cloud is not running (no pid file)")
        return 0
    pid = int(pid_file.read_text().strip() or 0)
    stopped = _stop_group(pid, grace=10) if pid else False
    pid_file.unlink(missing_ok=True)
    print("local cloud stopped" if stopped else "local cloud was not running (stale pid file removed)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    url = f"http://127.0.0.1:{args.port}"
    health = _health(url)
    if not health:
        print(f"local cloud not answering on {url}")
        return 1
    print(json.dumps(health))
    return 0


def _request(url: str, method: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError):
            detail = json.loads(detail).get("message", detail)
        raise CliError(f"fault request failed ({exc.code}): {detail}") from None
    except urllib.error.URLError as exc:
        raise CliError(f"cannot reach the local cloud at {url}: {exc.reason}; is it up (make up)?") from None


def cmd_fault(args: argparse.Namespace) -> int:
    base = (args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{args.port}").rstrip(
        "/"
    )
    url = f"{base}/_localcloud/faults"
    if args.fault_cmd == "list":
        print(json.dumps(_request(url, "GET"), indent=2))
    elif args.fault_cmd == "clear":
        target = f"{url}/{args.id}" if args.id else url
        print(json.dumps(_request(target, "DELETE")))
    elif args.fault_cmd == "control-plane":
        body = {
            "target": "control_plane",
            "service": args.service,
            "status": args.status,
            "seconds": args.seconds,
        }
        print(json.dumps(_request(url, "POST", body)))
    elif args.fault_cmd == "lambda":
        body = {
            "target": "lambda",
            "function": args.function,
            "error_rate": args.error_rate,
            "latency_ms": args.latency_ms,
            "seconds": args.seconds,
            "invocations": args.invocations,
        }
        print(json.dumps(_request(url, "POST", body)))
    return 0


NO_CANARY_HELP = (
    "do not publish canary requests under Stage={stage}/Canary (env LOCALCLOUD_CANARY_METRICS=off): the "
    "controller must then find the canary in the per-slot Lambda metrics"
)
ENFORCE_IAM_HELP = (
    "authorise every AWS call by its caller's IAM policies, as AWS does (keys created with IAM "
    "CreateAccessKey or STS AssumeRole); the bootstrap test/test keys stay all-powerful. "
    "Default: $LOCALCLOUD_IAM (enforce | off), else off"
)


def _quota_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--enforce-quotas",
        action="store_true",
        help=(
            "answer API Gateway and CloudWatch calls over AWS's control-plane rate quotas with the service's "
            f"throttling error, as AWS does (table: localcloud/README.md; also {QUOTAS_ENV_VAR}=enforce)"
        ),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)

    serve = sub.add_parser("serve", help="run in the foreground")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=4566, help="port (0 picks a free one; see --port-file)")
    serve.add_argument(
        "--metric-period",
        type=int,
        default=None,
        help="metric aggregation period in seconds (default: $LOCALCLOUD_METRIC_PERIOD or 60)",
    )
    serve.add_argument("--port-file", default=None, help="write {'port','pid'} JSON here once listening")
    serve.add_argument("--no-canary-metrics", action="store_true", help=NO_CANARY_HELP)
    serve.add_argument("--enforce-iam", action="store_true", help=ENFORCE_IAM_HELP)
    _quota_flag(serve)
    serve.set_defaults(func=cmd_serve)

    up = sub.add_parser("up", help="start in the background and wait until healthy")
    up.add_argument("--port", type=int, default=4566)
    up.add_argument("--state-dir", default=".localcloud")
    up.add_argument("--metric-period", type=int, default=None)
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for health (default 60)")
    up.add_argument("--no-canary-metrics", action="store_true", help=NO_CANARY_HELP)
    up.add_argument("--enforce-iam", action="store_true", help=ENFORCE_IAM_HELP)
    _quota_flag(up)
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop the background server and its Lambda workers")
    down.add_argument("--state-dir", default=".localcloud")
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", help="print the health document")
    status.add_argument("--port", type=int, default=4566)
    status.set_defaults(func=cmd_status)

    fault = sub.add_parser("fault", help="inject or clear faults")
    fault.add_argument("--port", type=int, default=4566)
    fault.add_argument("--endpoint", default=None, help="local cloud URL (default $AWS_ENDPOINT_URL or port)")
    fault.set_defaults(func=cmd_fault)
    fsub = fault.add_subparsers(dest="fault_cmd", required=True)
    cp = fsub.add_parser("control-plane", help="make a service's API answer errors")
    cp.add_argument("--service", required=True, help="apigateway, lambda, cloudwatch, ... or '*'")
    cp.add_argument("--status", type=int, default=429, choices=[429, 500, 502, 503, 504])
    cp.add_argument("--seconds", type=float, default=None, help="duration (default: until cleared)")
    lam = fsub.add_parser("lambda", help="add latency or errors to a function")
    lam.add_argument("--function", required=True)
    lam.add_argument("--error-rate", type=float, default=0.0, help="share of invocations that fail, 0..1")
    lam.add_argument("--latency-ms", type=float, default=0.0)
    lam.add_argument("--seconds", type=float, default=None)
    lam.add_argument(
        "--invocations", type=int, default=None, help="the next N invocations only (default: every one)"
    )
    fsub.add_parser("list", help="list active faults")
    clear = fsub.add_parser("clear", help="clear one fault (by id) or all")
    clear.add_argument("id", nargs="?")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"localcloud: {exc}", file=sys.stderr)
        return 1
