"""The e2e stack: the root module applied once on the session's local cloud, for the controller to drive."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from e2e_controller_helpers import controller_env, sleep_past_faulty_windows, wait_for
from terraform.stack import PROVIDER_BINARY, TERRAFORM, Stack, terraform_env

PREFIX = "e2e-ctl"
# The module's alarm periods must be CloudWatch alarm periods (10 s is the shortest high-resolution one);
# the controller reads the same period from controller_config.
METRIC_PERIOD_S = 10
# When faults were last cleared on each local cloud that had one set (time.time()), shared by every
# StackView on it: one test's teardown clears, the next test's view waits for its alarms to see it.
_FAULTS_CLEARED_AT: dict[str, float] = {}
_FAULTED: set[str] = set()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.e2e)


@contextmanager
def applied_root_module(
    aws_env: dict[str, str], prefix: str, tmp_path_factory: pytest.TempPathFactory, **extra: Any
) -> Iterator[Stack]:
    """The root module applied on the local cloud `aws_env` points at (`extra`: more root inputs);
    destroyed afterwards."""
    if not TERRAFORM.exists() or not PROVIDER_BINARY.exists():
        pytest.fail(
            f"Terraform toolchain missing ({TERRAFORM} or {PROVIDER_BINARY}): run `make setup` first."
        )
    stack = Stack.for_root_module(
        tmp_path_factory.mktemp(f"{prefix}-stack"),
        terraform_env(aws_env),
        {
            "name_prefix": prefix,
            "execute_api_endpoint": aws_env["AWS_ENDPOINT_URL"],
            "metric_period_seconds": METRIC_PERIOD_S,
            "lambda_build_dir": str(tmp_path_factory.mktemp(f"{prefix}-build")),
            "routes": [{"path": "/hello", "method": "GET"}],
            **extra,
        },
    )
    with stack.applied():
        yield stack


@pytest.fixture(scope="session")
def e2e_stack(aws_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with applied_root_module(aws_env, PREFIX, tmp_path_factory) as stack:
        yield stack


def saved_outputs(stack: Stack, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """`terraform output -json` of `stack` saved, as CI would pass it with --outputs."""
    result = stack.run("output", "-json", "-no-color")
    assert result.returncode == 0, result.stderr
    path = tmp_path_factory.mktemp(name) / "outputs.json"
    path.write_text(result.stdout)
    return path


@pytest.fixture(scope="session")
def outputs_file(e2e_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return saved_outputs(e2e_stack, tmp_path_factory, "e2e-outputs")


@pytest.fixture(scope="session")
def cfg(outputs_file: Path) -> dict[str, Any]:
    return json.loads(outputs_file.read_text())["controller_config"]["value"]


@pytest.fixture(scope="session")
def env(aws_env: dict[str, str]) -> dict[str, str]:
    return controller_env(aws_env)


@pytest.fixture(scope="session")
def clients(aws_env: dict[str, str]) -> dict[str, Any]:
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    return {
        name: session.client(name, endpoint_url=aws_env["AWS_ENDPOINT_URL"])
        for name in ("apigateway", "cloudwatch")
    }


class StackView:
    """Reads the stack as the tests check it (boto3 directly, not through the controller)."""

    def __init__(self, cfg: dict[str, Any], clients: dict[str, Any], localcloud: Any) -> None:
        self.cfg = cfg
        self.apigw = clients["apigateway"]
        self.cw = clients["cloudwatch"]
        self.localcloud = localcloud

    def log_tail(self, lines: int = 40) -> str:
        """The local cloud's last log lines (warnings and errors: it logs no access lines), for a failure."""
        log = Path(self.localcloud.log_path)
        text = log.read_text(errors="replace") if log.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stage(self, name: str) -> dict[str, Any]:
        raw = self.apigw.get_stage(restApiId=self.cfg["api_id"], stageName=name)
        return {k: raw.get(k) for k in ("deploymentId", "variables", "canarySettings")}

    def deployment_ids(self) -> set[str]:
        pages = self.apigw.get_paginator("get_deployments").paginate(restApiId=self.cfg["api_id"])
        return {d["id"] for page in pages for d in page.get("items", [])}

    def deployment_description(self, deployment_id: str) -> str:
        raw = self.apigw.get_deployment(restApiId=self.cfg["api_id"], deploymentId=deployment_id)
        return raw.get("description", "")

    def snapshot(self) -> dict[str, Any]:
        return {name: self.stage(name) for name in ("production", "staging")}

    def live(self) -> str:
        return self.stage("production")["variables"]["slot"]

    def candidate(self) -> str:
        return self.stage("staging")["variables"]["slot"]

    def version(self, slot: str) -> str:
        return f"{slot} {self.cfg['slots'][slot]['version_label']}"

    def url(self, stage: str = "production") -> str:
        return self.cfg["invoke_urls"][stage] + "/hello"

    def _alarm_names(self) -> list[str]:
        return [*self.cfg["alarm_names"], self.cfg["rollback_alarm_name"]]

    def alarms_quiet(self) -> bool:
        page = self.cw.describe_alarms(
            AlarmNames=self._alarm_names(), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        states = [a["StateValue"] for a in (*page["MetricAlarms"], *page["CompositeAlarms"])]
        return "ALARM" not in states

    def wait_idle(self, timeout_s: float = 120) -> None:
        """No canary, no lock and no alarm firing: a fresh rollout may start."""
        wait_for(lambda: self.stage("production")["canarySettings"] is None, 30, "no canary on production")
        wait_for(lambda: "controller_lock" not in self.stage("production")["variables"], 30, "lock released")
        cleared_at = _FAULTS_CLEARED_AT.get(self._cloud_key())
        if cleared_at is not None:
            alarms = self.cw.describe_alarms(AlarmNames=self._alarm_names(), AlarmTypes=["MetricAlarm"])
            sleep_past_faulty_windows(cleared_at, alarms["MetricAlarms"], METRIC_PERIOD_S)
        wait_for(self.alarms_quiet, timeout_s, "alarms out of ALARM", every_s=1)

    def fault(self, function: str, error_rate: float) -> None:
        self._lambda_fault(function, error_rate=error_rate)

    def slow(self, function: str, latency_ms: float) -> None:
        """Every invocation of `function` takes `latency_ms` longer (counted in its Lambda Duration)."""
        self._lambda_fault(function, latency_ms=latency_ms)

    def _lambda_fault(self, function: str, **effect: float) -> None:
        _FAULTED.add(self._cloud_key())
        self.localcloud.admin("POST", "faults", {"target": "lambda", "function": function, **effect})

    def clear_faults(self) -> None:
        self.localcloud.admin("DELETE", "faults")
        if self._cloud_key() in _FAULTED:
            _FAULTED.discard(self._cloud_key())
            _FAULTS_CLEARED_AT[self._cloud_key()] = time.time()

    def _cloud_key(self) -> str:
        return str(self.localcloud.endpoint_url)


@pytest.fixture
def view(cfg: dict[str, Any], clients: dict[str, Any], localcloud: Any) -> Iterator[StackView]:
    stack_view = StackView(cfg, clients, localcloud)
    stack_view.wait_idle()
    yield stack_view
    stack_view.clear_faults()
