"""examples/multi-region applied once with Terraform on the local cloud, released region by region with its
own wave plan (examples/multi-region/waves.yaml, read with `tf_dir: .` and the controller_configs output):
a faulty release stops in us-east-1, a healthy one reaches both regions, a killed controller resumes at wave
2, revert undoes wave 1; `terraform plan` shows no changes after all of it. Releases are `terraform apply`s
that put new code in both regions' idle slot, as the example's README says.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import waves_scenarios as waves
import yaml
from e2e_controller_helpers import REPO, controller_env
from terraform.stack import PROVIDER_BINARY, TERRAFORM, Stack, terraform_env
from waves_scenarios import RegionStack, TwoRegions

from bench.fleet_stacks import FleetTraffic

METRIC_PERIOD_S = 10  # the module's alarm periods must be CloudWatch alarm periods (10 s at the shortest)
FAST = ["--steps", "50,100", "--bake", "20s", "--interval", "5s", "--min-requests", "5"]
PRIMARY, SECONDARY = "us-east-1", "eu-west-1"
# After a release, this many requests at once to each staging stage, a few times: the new code gets as many
# warm workers as the live slot has from its long traffic. Without them a canary request that overlaps
# another starts a worker, and a 10 s period of ~25 requests, read at its p90 by the p99 gate, has room for
# two such cold starts at most.
WARM_CONCURRENCY, WARM_ROUNDS = 4, 5


class ExampleRegions(TwoRegions):
    """The example's two regions; plans are the example's waves.yaml with another policy or bake."""

    def __init__(self, cloud: Any, stack: Stack) -> None:
        self.stack = stack
        out = stack.outputs()
        configs, prod, staging = (
            out["controller_configs"],
            out["production_invoke_urls"],
            out["staging_invoke_urls"],
        )
        first, second = (
            RegionStack.of(configs[r], f"{prod[r]}/hello", f"{staging[r]}/hello")
            for r in (PRIMARY, SECONDARY)
        )
        super().__init__(cloud, first, second)
        self.example_plan = yaml.safe_load((REPO / "examples" / "multi-region" / "waves.yaml").read_text())

    def plan(self, policy: str, bake: str = "5s") -> str:
        """The example's plan beside its Terraform files (tf_dir: . is the applied copy), stacks renamed."""
        plan = dict(self.example_plan, policy=policy, bake=bake)
        names = {PRIMARY: "use1", SECONDARY: "euw1"}
        plan["waves"] = [
            {**wave, "stacks": [{**s, "name": names[s["region"]]} for s in wave["stacks"]]}
            for wave in self.example_plan["waves"]
        ]
        path = self.stack.workdir / f"waves-{policy}-{bake}.yaml"
        path.write_text(yaml.safe_dump(plan))
        return str(path)

    def release(self, version: str) -> None:
        """`terraform apply` with new code for the idle slot (the same in both regions)."""
        slot = self.idle(self.first)
        assert self.idle(self.second) == slot
        source = self.stack.workdir / f"release-{version}"
        shutil.copytree(REPO / "lambda" / slot, source)
        (source / "handler.py").write_text((source / "handler.py").read_text() + f"\n# release {version}\n")
        tfvars = self.stack.workdir / "terraform.tfvars.json"
        values = json.loads(tfvars.read_text())
        values[f"{slot}_source_dir"], values[f"{slot}_version_label"] = str(source), version
        tfvars.write_text(json.dumps(values, indent=2))
        self.stack.apply(f"release {version}")
        for stack in (self.first, self.second):
            warm(stack.staging_url)


def warm(url: str) -> None:
    """WARM_CONCURRENCY requests at once to `url`, WARM_ROUNDS times; each must answer 200."""
    with ThreadPoolExecutor(WARM_CONCURRENCY) as pool:
        for _ in range(WARM_ROUNDS):
            answers = pool.map(lambda _: requests.get(url, timeout=10), range(WARM_CONCURRENCY))
            codes = [answer.status_code for answer in answers]
            assert codes == [200] * WARM_CONCURRENCY, f"{url} answered {codes} after the release"


@pytest.fixture(scope="module")
def applied(aws_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not TERRAFORM.exists() or not PROVIDER_BINARY.exists():
        pytest.fail(
            f"Terraform toolchain missing ({TERRAFORM} or {PROVIDER_BINARY}): run `make setup` first."
        )
    stack = Stack.for_example(
        "multi-region",
        tmp_path_factory.mktemp("waves-example"),
        terraform_env(aws_env),
        {
            "name_prefix": "e2e-waves",
            "primary_region": PRIMARY,
            "secondary_region": SECONDARY,
            "domain_name": "api.waves.test",
            "zone_name": "waves.test",
            "execute_api_endpoint": aws_env["AWS_ENDPOINT_URL"],
            "metric_period_seconds": METRIC_PERIOD_S,
            "blue_source_dir": str(REPO / "lambda" / "blue"),
            "green_source_dir": str(REPO / "lambda" / "green"),
        },
    )
    with stack.applied():
        yield stack


@pytest.fixture(scope="module")
def example(applied: Stack, localcloud: Any) -> Iterator[ExampleRegions]:
    world = ExampleRegions(localcloud, applied)
    with FleetTraffic([world.first, world.second], 5.0):
        time.sleep(2 * METRIC_PERIOD_S)  # traffic before the first rollout: the baseline has data
        yield world
    localcloud.admin("DELETE", "faults")


@pytest.fixture
def regions(example: ExampleRegions) -> ExampleRegions:
    example.wait_quiet()
    return example


@pytest.fixture(scope="module")
def env(aws_env: dict[str, str]) -> dict[str, str]:
    return controller_env(aws_env)


def test_the_examples_wave_plan_is_valid_as_shipped() -> None:
    from controller.plan_file import load_plan

    plan = load_plan(str(REPO / "examples" / "multi-region" / "waves.yaml"))
    assert [[s.region for s in w.stacks] for w in plan.waves] == [[PRIMARY], [SECONDARY]]
    assert plan.policy == "revert" and plan.bake_s == 600


def test_a_faulty_release_caught_in_wave_one_never_reaches_the_region_of_wave_two(
    regions: ExampleRegions, env: dict[str, str]
) -> None:
    waves.faulty_release_never_reaches_wave_two(regions, waves.plan_runner(env, FAST))


def test_a_healthy_release_is_promoted_in_both_regions_and_a_rerun_changes_nothing(
    regions: ExampleRegions, env: dict[str, str]
) -> None:
    waves.healthy_release_reaches_both_and_a_rerun_changes_nothing(regions, waves.plan_runner(env, FAST), env)


def test_killing_the_controller_between_waves_and_rerunning_resumes_at_wave_two(
    regions: ExampleRegions, env: dict[str, str]
) -> None:
    waves.killed_between_waves_a_rerun_resumes_at_wave_two(regions, waves.plan_runner(env, FAST), env, FAST)


def test_revert_undoes_wave_one_after_a_failure_in_wave_two(
    regions: ExampleRegions, env: dict[str, str]
) -> None:
    waves.revert_undoes_wave_one_after_a_failure_in_wave_two(regions, waves.plan_runner(env, FAST), env)


def test_terraform_plan_shows_no_changes_after_the_waves(regions: ExampleRegions) -> None:
    code, output = regions.stack.plan_exit_code()
    assert code == 0, output[-2000:]
