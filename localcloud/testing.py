"""Helpers for tests: run a local cloud in a subprocess on a free loopback port.

with LocalCloudProcess(metric_period=2) as cloud:
    boto3.client("apigateway", endpoint_url=cloud.endpoint_url, ...)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


class LocalCloudProcess:
    def __init__(
        self,
        metric_period: int = 2,
        start_timeout: float = 60.0,
        log_path: str | None = None,
        canary_metrics: bool = True,
        enforce_iam: bool = False,
        enforce_quotas: bool = False,
    ):
        self.metric_period = metric_period
        self.canary_metrics = canary_metrics
        self.enforce_iam = enforce_iam
        self.enforce_quotas = enforce_quotas  # AWS's control-plane rate quotas (localcloud/quotas.py)
        self.start_timeout = start_timeout
        self._tmp = tempfile.mkdtemp(prefix="localcloud-test-")
        self.log_path = log_path or os.path.join(self._tmp, "localcloud.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise RuntimeError(
                "LocalCloudProcess is not started; use it as a context manager or call start()."
            )
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The variables `eval "$(make -s env)"` would export, pointed at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }

    def start(self) -> LocalCloudProcess:
        port_file = os.path.join(self._tmp, "port.json")
        cmd = [
            sys.executable,
            "-m",
            "localcloud",
            "serve",
            "--port",
            "0",
            "--port-file",
            port_file,
            "--metric-period",
            str(self.metric_period),
        ]
        if not self.canary_metrics:
            cmd.append("--no-canary-metrics")
        if self.enforce_iam:
            cmd.append("--enforce-iam")
        if self.enforce_quotas:
            cmd.append("--enforce-quotas")
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        # enforce_iam decides, not a LOCALCLOUD_IAM the shell happens to export.
        env["LOCALCLOUD_IAM"] = "enforce" if self.enforce_iam else "off"
        env.pop("LOCALCLOUD_QUOTAS", None)  # the enforce_quotas argument decides, not the caller's shell
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=root,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"local cloud exited with {self.proc.returncode}; log: {self.log_path}")
            if os.path.exists(port_file):
                with open(port_file) as fh:
                    self.port = int(json.load(fh)["port"])
                if self.healthy():
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"local cloud did not become healthy in {self.start_timeout}s; log: {self.log_path}"
        )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/_localcloud/health", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call a /_localcloud endpoint; returns the decoded JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.endpoint_url}/_localcloud/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        # Workers share the process group; make sure none outlives the server.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None

    def __enter__(self) -> LocalCloudProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def zip_handler(source: str, module: str = "lambda_function") -> bytes:
    """A deployment package with one Python module (for tests and the bench)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{module}.py", source)
    return buf.getvalue()
