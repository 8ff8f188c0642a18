"""Fixtures for applying the module and its examples against the session's local cloud."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from .stack import PROVIDER_BINARY, REPO, TERRAFORM, Stack, terraform_env

TIMINGS_FILE = REPO / "out" / "terraform" / "timings.json"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.terraform)


@pytest.fixture(scope="session")
def toolchain() -> None:
    if not TERRAFORM.exists() or not PROVIDER_BINARY.exists():
        pytest.fail(
            f"Terraform toolchain missing ({TERRAFORM} or {PROVIDER_BINARY}): run `make setup` first."
        )


@pytest.fixture(scope="session")
def tf_env(toolchain: None, aws_env: dict[str, str]) -> dict[str, str]:
    return terraform_env(aws_env)


@pytest.fixture(scope="session")
def aws(aws_env: dict[str, str]) -> Callable[[str], Any]:
    """aws("apigateway") -> a boto3 client on the local cloud (session-scoped, unlike aws_client);
    aws("apigateway", "eu-west-1") for another region."""
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=aws_env["AWS_REGION"]
    )
    config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=60)
    cache: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str | None = None) -> Any:
        key = (service, region or aws_env["AWS_REGION"])
        if key not in cache:
            cache[key] = session.client(
                service, endpoint_url=aws_env["AWS_ENDPOINT_URL"], config=config, region_name=key[1]
            )
        return cache[key]

    return client


def record_timings(label: str, stack: Stack, extra: dict[str, Any] | None = None) -> None:
    """Keep apply/destroy wall times for the report (out/terraform/timings.json)."""
    TIMINGS_FILE.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(TIMINGS_FILE.read_text()) if TIMINGS_FILE.exists() else {}
    data[label] = {**data.get(label, {}), **stack.timings, **(extra or {})}
    TIMINGS_FILE.write_text(json.dumps(data, indent=2, sort_keys=True))


@pytest.fixture(scope="session")
def stack_factory(
    tmp_path_factory: pytest.TempPathFactory, tf_env: dict[str, str]
) -> Iterator[Callable[..., Stack]]:
    """Creates stacks and destroys, at the end of the session, any that a test left applied."""
    made: list[Stack] = []

    def make(kind: str, name: str, tf_vars: dict[str, Any]) -> Stack:
        workdir = tmp_path_factory.mktemp(f"tf-{name}")
        if kind == "root":
            stack = Stack.for_root_module(workdir, tf_env, tf_vars)
        else:
            stack = Stack.for_example(kind, workdir, tf_env, tf_vars)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        if stack.managed_resources():
            stack.run("destroy", "-auto-approve", "-input=false", "-no-color")
        stack.cleanup()
