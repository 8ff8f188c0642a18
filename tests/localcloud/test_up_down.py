"""`python -m localcloud up/down`: background start, health, loopback-only binding, nothing left behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from localcloud.testing import zip_handler

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a LISTEN socket on port, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":
                found.add(addr)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _localcloud(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m localcloud ARGS` with env (e.g. LOCALCLOUD_IAM="enforce") added to this environment."""
    return subprocess.run(
        [sys.executable, "-m", "localcloud", *args],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
        env={**os.environ, **env},
    )


def test_up_serves_on_loopback_and_down_stops_server_and_workers(tmp_path):
    port = _free_port()
    state = tmp_path / "state"
    started = time.monotonic()
    up = _localcloud("up", "--port", str(port), "--state-dir", str(state), "--metric-period", "2")
    elapsed = time.monotonic() - started
    try:
        assert up.returncode == 0, up.stderr
        assert "local cloud up on" in up.stdout
        assert elapsed < 30
        pid = int((state / "localcloud.pid").read_text())
        assert (state / "localcloud.log").exists()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localcloud/health", timeout=5) as resp:
            assert json.load(resp)["metric_period"] == 2
        # Binds 127.0.0.1 only (moto server's default is 0.0.0.0).
        assert _listening_addresses(port) == {"0100007F"}
        # Running twice is harmless.
        again = _localcloud("up", "--port", str(port), "--state-dir", str(state))
        assert again.returncode == 0 and "already running" in again.stdout

        worker_pids = _start_a_worker(port)
        assert worker_pids and all(_alive(p) for p in worker_pids)
    finally:
        down = _localcloud("down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    assert not _alive(pid)
    assert not any(_alive(p) for p in worker_pids)
    assert not (state / "localcloud.pid").exists()
    assert _listening_addresses(port) == set()
    assert _localcloud("down", "--state-dir", str(state)).returncode == 0  # idempotent


def _start_a_worker(port: int) -> list[int]:
    endpoint = f"http://127.0.0.1:{port}"
    kw = dict(
        endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    role = boto3.client("iam", **kw).create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = boto3.client("lambda", **kw)
    src = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"
    lam.create_function(
        FunctionName="f",
        Runtime="python3.12",
        Role=role,
        Handler="lambda_function.handler",
        Code={"ZipFile": zip_handler(src)},
    )
    lam.add_permission(
        FunctionName="f",
        StatementId="s",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
    )
    apigw = boto3.client("apigateway", **kw)
    api = apigw.create_rest_api(name="a")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(
        restApiId=api,
        resourceId=root,
        httpMethod="ANY",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:us-east-1:123456789012:function:f/invocations",
    )
    apigw.create_deployment(restApiId=api, stageName="s")
    with urllib.request.urlopen(f"{endpoint}/restapis/{api}/s/_user_request_/", timeout=30) as resp:
        assert resp.read() == b"ok"
    with urllib.request.urlopen(f"{endpoint}/_localcloud/workers", timeout=5) as resp:
        return json.load(resp)["pids"]


def test_up_refuses_a_port_that_another_server_answers_on(tmp_path, localcloud):
    result = _localcloud("up", "--port", str(localcloud.port), "--state-dir", str(tmp_path))
    assert result.returncode == 1
    assert "already answers" in result.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1"])
def test_serve_refuses_non_loopback_hosts(host):
    result = _localcloud("serve", "--host", host, "--port", "0")
    assert result.returncode != 0
    assert "loopback only" in result.stderr


def test_localcloud_iam_enforce_starts_with_iam_enforced_and_a_restart_must_not_silently_drop_it(tmp_path):
    port = _free_port()
    state = str(tmp_path / "state")
    up = _localcloud("up", "--port", str(port), "--state-dir", state, LOCALCLOUD_IAM="enforce")
    try:
        assert up.returncode == 0, up.stderr
        assert "IAM enforced" in up.stdout
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localcloud/health", timeout=5) as resp:
            assert json.load(resp)["iam_enforced"] is True
        unenforced = _localcloud("up", "--port", str(port), "--state-dir", state, LOCALCLOUD_IAM="off")
        assert unenforced.returncode == 1
        assert "already runs with IAM enforcement on" in unenforced.stderr
        same = _localcloud(
            "up", "--port", str(port), "--state-dir", state, "--enforce-iam", LOCALCLOUD_IAM=""
        )
        assert same.returncode == 0 and "already running" in same.stdout
    finally:
        _localcloud("down", "--state-dir", state)


@pytest.mark.parametrize("command", [("serve", "--port", "0"), ("up", "--port", "1", "--state-dir", "STATE")])
def test_a_misspelt_localcloud_iam_is_a_one_line_error_and_nothing_starts(command, tmp_path):
    args = [str(tmp_path) if arg == "STATE" else arg for arg in command]
    result = _localcloud(*args, LOCALCLOUD_IAM="enforced")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["LOCALCLOUD_IAM must be 'enforce' or 'off', got 'enforced'"]
    assert not (tmp_path / "localcloud.pid").exists()
