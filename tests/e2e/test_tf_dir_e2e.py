"""The README's quickstart on the local cloud: examples/basic applied in a directory of its own, and `shift`
pointed at that directory with --tf-dir, so the controller runs `terraform output -json` there itself (the
other e2e tests hand it a saved copy with --outputs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import METRIC_PERIOD_S
from e2e_controller_helpers import ControllerProcess, WatchedTraffic, controller_env, served_versions
from terraform.stack import PROVIDER_BINARY, TERRAFORM, Stack, terraform_env


@pytest.fixture(scope="module")
def basic_example(aws_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not TERRAFORM.exists() or not PROVIDER_BINARY.exists():
        pytest.fail(f"Terraform toolchain missing ({TERRAFORM} or {PROVIDER_BINARY}): run `make setup`.")
    stack = Stack.for_example(
        "basic",
        tmp_path_factory.mktemp("e2e-basic-example"),
        terraform_env(aws_env),
        {
            "name_prefix": "e2e-tfdir",
            "execute_api_endpoint": aws_env["AWS_ENDPOINT_URL"],
            "metric_period_seconds": METRIC_PERIOD_S,
        },
    )
    with stack.applied():
        yield stack


def test_shift_with_tf_dir_reads_the_applied_example_and_promotes_green(
    basic_example: Stack, aws_env: dict[str, str]
) -> None:
    # The terraform that applied the example, whatever PATH holds (controller/config.py: $TERRAFORM first).
    env = {**controller_env(aws_env), "TERRAFORM": str(TERRAFORM)}
    url = basic_example.outputs()["production_invoke_url"] + "/hello"
    # As applied, production is blue with the example's initial canary (canary_percent 10) on green.
    assert set(served_versions(url, 30)) <= {"blue v1.0.0", "green v2.0.0"}
    args = ["shift", "--tf-dir", str(basic_example.workdir), "--json", "--steps", "50,100", "--bake", "8s"]
    with WatchedTraffic(url, 20.0, workers=4):
        shift = ControllerProcess([*args, "--interval", "2s", "--min-requests", "10"], env)
        code = shift.wait(timeout_s=240)
    assert code == 0, shift.stderr
    assert shift.event("run_started")["resumed_from"] == 10  # it read the stage the example left
    assert shift.event("promoted") is not None
    assert served_versions(url, 20) == {"green v2.0.0": 20}
    # The controller owns traffic; Terraform still sees its own configuration, unchanged.
    plan_code, plan = basic_example.plan_exit_code()
    assert plan_code == 0, plan
