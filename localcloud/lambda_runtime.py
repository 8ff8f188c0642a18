"""Run Lambda functions from their uploaded zip in warm worker processes.

Workers are keyed by function version and code hash, reused while warm (no per-request spawn or unzip), and
killed when the function's timeout passes, when the function's code or configuration changes, and on shutdown.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import io
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_lambda_worker.py")
DEFAULT_MAX_WORKERS = int(os.environ.get("LOCALCLOUD_LAMBDA_MAX_WORKERS", "16"))


@dataclass(frozen=True)
class FunctionSpec:
    """What is needed to run one version of a function (read from moto's Lambda backend)."""

    name: str
    arn: str  # unqualified
    version: str
    code_sha256: str
    handler: str
    runtime: str
    environment: tuple[tuple[str, str], ...]
    timeout_s: float
    memory_mb: int
    reserved_concurrency: int | None
    region: str
    account_id: str

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.arn, self.version, self.code_sha256, self.handler, self.environment)


@dataclass
class InvokeOutcome:
    kind: str  # ok | error | timeout | throttled
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    duration_ms: float = 0.0


class _Worker:
    def __init__(self, spec: FunctionSpec, code_dir: str, env: dict[str, str]):
        self.spec = spec
        self.proc = subprocess.Popen(
            [sys.executable, "-u", WORKER_SCRIPT],
            cwd=code_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the function's logs go to the local cloud's log
            close_fds=True,
        )
        self._buf = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, request: dict[str, Any], wait_s: float) -> dict[str, Any] | None:
        """Send one invocation and wait for its reply; None if wait_s passed (the caller kills the worker)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + wait_s
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(
                    "Lambda worker exited unexpectedly (see the local cloud log for its output)"
                )
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass


@dataclass
class _Pool:
    idle: collections.deque = field(default_factory=collections.deque)
    total: int = 0


class LambdaRuntime:
    """Thread-safe pool of warm workers shared by all requests of the data plane."""

    def __init__(self, endpoint_url: str, max_workers_per_function: int = DEFAULT_MAX_WORKERS):
        self.endpoint_url = endpoint_url
        self.max_workers = max_workers_per_function
        self._root = tempfile.mkdtemp(prefix="localcloud-lambda-")
        self._lock = threading.Condition()
        self._pools: dict[tuple[Any, ...], _Pool] = {}
        self._code_dirs: dict[tuple[str, str], str] = {}
        self._code_lock = threading.Lock()
        self._inflight: collections.Counter[str] = collections.Counter()
        self._closed = False

    # -- code ----------------------------------------------------------------------------------------------
    def _code_dir(self, spec: FunctionSpec, code_bytes: bytes) -> str:
        cache_key = (spec.arn, spec.code_sha256)
        with self._code_lock:
            path = self._code_dirs.get(cache_key)
            if path:
                return path
            safe = base64.urlsafe_b64encode(spec.code_sha256.encode()).decode().rstrip("=")[:40]
            path = os.path.join(self._root, f"{spec.name}-{safe}")
            if not os.path.isdir(path):
                tmp = path + ".tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                os.makedirs(tmp)
                with zipfile.ZipFile(io.BytesIO(code_bytes)) as archive:
                    archive.extractall(tmp)
                os.replace(tmp, path)
            self._code_dirs[cache_key] = path
            return path

    def _env(self, spec: FunctionSpec, code_dir: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LAMBDA_TASK_ROOT": code_dir,
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{spec.version}",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            # A function's SDK calls reach the local cloud, never AWS.
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_SESSION_TOKEN": "test",
        }
        env.update(dict(spec.environment))
        return env

    # -- workers -------------------------------------------------------------------------------------------
    def _acquire(self, spec: FunctionSpec, code_bytes: bytes, wait_s: float) -> _Worker | None:
        deadline = time.monotonic() + wait_s
        with self._lock:
            self._retire_other_versions(spec)
            pool = self._pools.setdefault(spec.key, _Pool())
            while True:
                while pool.idle:
                    worker = pool.idle.pop()
                    if worker.alive():
                        return worker
                    pool.total -= 1
                if pool.total < self.max_workers:
                    pool.total += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return None
                self._lock.wait(remaining)
        try:
            code_dir = self._code_dir(spec, code_bytes)
            return _Worker(spec, code_dir, self._env(spec, code_dir))
        except Exception:
            with self._lock:
                pool.total -= 1
                self._lock.notify()
            raise

    def _retire_other_versions(self, spec: FunctionSpec) -> None:
        """Kill idle workers of the same function running older code or configuration (lock held)."""
        for key, pool in list(self._pools.items()):
            if key[0] == spec.arn and key[1] == spec.version and key != spec.key:
                while pool.idle:
                    pool.idle.pop().kill()
                    pool.total -= 1
                if pool.total == 0:
                    del self._pools[key]

    def _release(self, worker: _Worker, reusable: bool) -> None:
        with self._lock:
            pool = self._pools.setdefault(worker.spec.key, _Pool())
            if reusable and worker.alive() and not self._closed:
                pool.idle.append(worker)
            else:
                pool.total -= 1
                worker.kill()
            self._lock.notify()

    # -- API -------------------------------------------------------------------------------------------------
    def invoke(
        self,
        spec: FunctionSpec,
        code_bytes: bytes,
        event: dict[str, Any],
        request_id: str,
        wait_s: float,
        inject: dict[str, Any] | None = None,
    ) -> InvokeOutcome:
        """Run the handler; wait at most wait_s (the caller's min of function and integration timeouts)."""
        if spec.reserved_concurrency is not None:
            with self._lock:
                if self._inflight[spec.name] >= spec.reserved_concurrency:
                    return InvokeOutcome(
                        "throttled", error_type="TooManyRequestsException", error_message="Rate Exceeded."
                    )
                self._inflight[spec.name] += 1
        started = time.perf_counter()
        try:
            worker = self._acquire(spec, code_bytes, wait_s)
            if worker is None:
                return InvokeOutcome(
                    "throttled",
                    error_type="TooManyRequestsException",
                    error_message="No free execution environment in time.",
                )
            request = {
                "event": event,
                "timeout_ms": spec.timeout_s * 1000.0,
                "inject": inject or {},
                "context": {
                    "function_name": spec.name,
                    "function_version": spec.version,
                    "invoked_function_arn": spec.arn,
                    "memory_limit_in_mb": spec.memory_mb,
                    "aws_request_id": request_id,
                    "log_group_name": f"/aws/lambda/{spec.name}",
                    "log_stream_name": f"local/{spec.version}",
                },
            }
            remaining = max(0.0, wait_s - (time.perf_counter() - started))
            try:
                reply = worker.call(request, remaining)
            except (OSError, RuntimeError, ValueError) as exc:
                self._release(worker, reusable=False)
                return InvokeOutcome(
                    "error",
                    error_type="Runtime.ExitError",
                    error_message=str(exc),
                    duration_ms=(time.perf_counter() - started) * 1000.0,
                )
            if reply is None:
                self._release(worker, reusable=False)
                return InvokeOutcome("timeout", duration_ms=(time.perf_counter() - started) * 1000.0)
            self._release(worker, reusable=True)
            duration = float(reply.get("duration_ms") or (time.perf_counter() - started) * 1000.0)
            if reply.get("ok"):
                return InvokeOutcome("ok", result=reply.get("result"), duration_ms=duration)
            return InvokeOutcome(
                "error",
                error_type=reply.get("errorType"),
                error_message=reply.get("errorMessage"),
                duration_ms=duration,
            )
        finally:
            if spec.reserved_concurrency is not None:
                with self._lock:
                    self._inflight[spec.name] -= 1

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for pool in self._pools.values() for w in pool.idle]

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            workers = [w for pool in self._pools.values() for w in pool.idle]
            self._pools.clear()
            self._lock.notify_all()
        for worker in workers:
            worker.kill()
        shutil.rmtree(self._root, ignore_errors=True)
