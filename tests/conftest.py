"""Shared fixtures: one local cloud per test session (metric period 2 s), and AWS settings pointed at it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from localcloud.testing import REGION, LocalCloudProcess


@pytest.fixture(scope="session")
def localcloud() -> Iterator[LocalCloudProcess]:
    with LocalCloudProcess(metric_period=2) as cloud:
        yield cloud


@pytest.fixture(scope="session")
def aws_env(localcloud: LocalCloudProcess) -> dict[str, str]:
    """AWS_ENDPOINT_URL, dummy credentials and region for the session's local cloud."""
    return localcloud.env()


@pytest.fixture
def aws_session(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 Session for the local cloud, with the env vars also applied (for code that builds its own)."""
    import boto3

    for key, value in aws_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)


@pytest.fixture
def aws_client(aws_session: Any, aws_env: dict[str, str]) -> Callable[[str], Any]:
    """aws_client("apigateway") -> a boto3 client on the local cloud; aws_client("lambda", "eu-west-1") for
    another region."""
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=60)

    def make(service: str, region: str | None = None) -> Any:
        return aws_session.client(
            service, endpoint_url=aws_env["AWS_ENDPOINT_URL"], config=config, region_name=region or REGION
        )

    return make


@pytest.fixture(autouse=True)
def events_match_the_published_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Every event any test emits is checked against docs/events.schema.json (the published contract)."""
    from controller.events import Events
    from controller.schema_check import assert_event_valid

    original = Events.emit
    checked: list[dict[str, Any]] = []

    def emit(self: Events, event: Any) -> Any:
        stamped = original(self, event)
        record = stamped.to_dict()
        assert_event_valid(record)
        checked.append(record)
        return stamped

    monkeypatch.setattr(Events, "emit", emit)
    yield checked


def wait_until(
    predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.25, message: str = "condition"
) -> Any:
    """Poll predicate until it returns a truthy value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}; last value: {last!r}")


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., Any]:
    return wait_until
