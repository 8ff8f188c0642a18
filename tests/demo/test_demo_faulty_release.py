"""The faulty release fails a share of requests and is slower, yet names itself in every answer."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

HANDLER = Path(__file__).resolve().parents[2] / "demo" / "releases" / "faulty" / "handler.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("faulty_handler", HANDLER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def faulty(monkeypatch):
    module = _load()
    slept: list[float] = []
    monkeypatch.setattr(module.time, "sleep", slept.append)  # measure the delay instead of waiting it
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "apigw-canary-demo-blue")
    random.seed(1234)
    return module, slept


def _call(module: ModuleType) -> dict:
    return module.lambda_handler({"path": "/hello"}, SimpleNamespace(aws_request_id="req-1"))


def test_about_thirty_percent_of_requests_fail_with_a_500_by_default(faulty):
    module, _ = faulty
    statuses = [_call(module)["statusCode"] for _ in range(2000)]
    assert set(statuses) == {200, 500}
    assert 0.25 < statuses.count(500) / len(statuses) < 0.35


def test_every_answer_names_the_faulty_release_and_its_slot_so_errors_can_be_charged_to_it(faulty):
    module, _ = faulty
    for _ in range(50):
        response = _call(module)
        body = json.loads(response["body"])
        assert (body["environment"], body["version"]) == ("blue", "v3.0.0-faulty")
        # A Lambda proxy integration answer: statusCode, headers, string body.
        # https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-output-format
        assert response["headers"]["Content-Type"] == "application/json"


def test_every_request_is_slowed_by_about_the_configured_latency(faulty):
    module, slept = faulty
    for _ in range(200):
        _call(module)
    assert len(slept) == 200
    assert min(slept) >= 0.25 * 0.6 and max(slept) <= 0.25 * 1.4
    assert 0.22 < sum(slept) / len(slept) < 0.28


def test_error_rate_and_latency_can_be_tuned_through_the_environment(faulty, monkeypatch):
    module, slept = faulty
    monkeypatch.setenv("FAULTY_ERROR_RATE", "1")
    monkeypatch.setenv("FAULTY_EXTRA_LATENCY_MS", "0")
    assert {_call(module)["statusCode"] for _ in range(20)} == {500}
    assert set(slept) == {0.0}


def test_the_demo_counts_failures_under_the_version_the_handler_reports():
    from demo.run import FAULTY_VERSION

    assert _load().VERSION == FAULTY_VERSION
