"""`shift --plan` on the local cloud with AWS's control-plane quotas enforced: two regions in two waves, and a
fleet of 20 stacks in one wave, each with real traffic on loopback. The failure, resume and revert paths of
two regions run on the multi-region example applied with Terraform (test_waves_example_e2e.py); here the
point is the quotas.

The stacks are built with boto3 the way the root module builds them (bench/fleet_stacks.py): applying the
module per stack would itself spend the quotas for minutes. Quotas (429 over them, as API Gateway answers):
https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import waves_scenarios as waves
from e2e_controller_helpers import controller_env
from waves_scenarios import RegionStack, TwoRegions

from bench.fleet_stacks import FleetBuilder, FleetTraffic
from localcloud.testing import LocalCloudProcess

METRIC_PERIOD_S = 5
FAST = ["--steps", "50,100", "--bake", "10s", "--interval", "5s", "--min-requests", "5"]
# A fleet's light traffic gives each canary period about ten requests, so the p99 gate judges their p90
# (controller/stats.py `TailLatency`); on two shared cores running 40 functions two slow answers in one period
# can still be it (58 ms against a 5 ms baseline was seen on a loaded run, when the gate judged the slowest).
# This test is about the quotas; the latency gate stays on, with room for such answers.
FLEET = ["--max-p99-ratio", "20"]
RATE_PER_S = 4.0


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloudProcess]:
    with LocalCloudProcess(metric_period=METRIC_PERIOD_S, enforce_quotas=True) as running:
        yield running


@pytest.fixture(scope="module")
def builder(cloud: LocalCloudProcess, tmp_path_factory: pytest.TempPathFactory) -> FleetBuilder:
    return FleetBuilder(cloud.endpoint_url, tmp_path_factory.mktemp("fleet"), METRIC_PERIOD_S)


@pytest.fixture(scope="module")
def env(cloud: LocalCloudProcess) -> dict[str, str]:
    return controller_env(cloud.env())


class BuiltRegions(TwoRegions):
    """Two stacks built with boto3, their outputs saved beside the plan files."""

    def __init__(self, cloud: LocalCloudProcess, builder: FleetBuilder) -> None:
        self.builder = builder
        self.built = (builder.build("waves-use1", "us-east-1"), builder.build("waves-euw1", "eu-west-1"))
        first, second = (RegionStack.of(s.config, s.production_url, s.staging_url) for s in self.built)
        super().__init__(cloud, first, second)

    def plan(self, policy: str, bake: str = "5s") -> str:
        path = self.builder.out_dir / f"plan-{policy}-{bake}.yaml"
        first, second = (s.outputs.name for s in self.built)
        path.write_text(
            f"name: two-regions\npolicy: {policy}\nbake: {bake}\nwaves:\n"
            f"  - stacks: [{{name: use1, outputs: {first}, region: us-east-1}}]\n"
            f"  - stacks: [{{name: euw1, outputs: {second}, region: eu-west-1}}]\n"
        )
        return str(path)

    def release(self, version: str) -> None:
        """New code in each stack's idle slot, as `terraform apply` with new source would put it."""
        for built, stack in zip(self.built, (self.first, self.second), strict=True):
            self.builder.release(built, self.idle(stack), version)


@pytest.fixture(scope="module")
def two_regions(cloud: LocalCloudProcess, builder: FleetBuilder) -> Iterator[BuiltRegions]:
    world = BuiltRegions(cloud, builder)
    with FleetTraffic([world.first, world.second], RATE_PER_S):
        time.sleep(2 * METRIC_PERIOD_S)  # some history for the judge, and the quota buckets refilled
        yield world
    cloud.admin("DELETE", "faults")


@pytest.fixture
def regions(two_regions: BuiltRegions) -> BuiltRegions:
    two_regions.wait_quiet()
    return two_regions


def refused(cloud: LocalCloudProcess) -> int:
    return int(cloud.admin("GET", "quotas")["refused"])


def test_a_healthy_release_is_promoted_in_both_regions_within_the_quotas_and_a_rerun_changes_nothing(
    regions: BuiltRegions, env: dict[str, str]
) -> None:
    before = refused(regions.cloud)
    waves.healthy_release_reaches_both_and_a_rerun_changes_nothing(regions, waves.plan_runner(env, FAST), env)
    assert refused(regions.cloud) == before  # the pacing kept every call within the quotas


def test_twenty_stacks_in_one_wave_within_the_quotas_all_promoted_without_a_failed_call_or_request(
    cloud: LocalCloudProcess, builder: FleetBuilder, env: dict[str, str]
) -> None:
    stacks = [builder.build(f"fleet20-{i:02d}", "us-east-1") for i in range(20)]
    plan = builder.out_dir / "fleet20.yaml"
    lines = [
        f"  - {{name: s{i:02d}, outputs: {s.outputs.name}, region: us-east-1}}" for i, s in enumerate(stacks)
    ]
    plan.write_text("name: fleet20\nconcurrency: 20\nwaves:\n- stacks:\n" + "\n".join(lines) + "\n")
    with FleetTraffic(stacks, 2.0) as traffic:
        time.sleep(2 * METRIC_PERIOD_S)  # history, and the buckets the build used refilled
        traffic.mark()
        refused = int(cloud.admin("GET", "quotas")["refused"])
        code, events = waves.plan_runner(env, [*FAST, *FLEET], timeout_s=600)(str(plan))
        refused_after = int(cloud.admin("GET", "quotas")["refused"])
        answered, errors, unanswered = traffic.since_mark()
    assert code == 0, waves.why(events)
    finished = waves.of(events, "plan_finished")[0]
    assert len(finished["promoted"]) == 20
    usage = finished["control_plane"]
    assert usage["throttled"] == 0 and refused_after == refused, usage  # zero 429s
    assert usage["calls"] == usage["attempts"]  # no call needed a retry, none failed
    assert usage["calls"]["CreateDeployment"] == 20 and usage["paced_calls"] >= 19  # one every 5 s
    assert answered > 20 * 2.0 * 20 and errors == 0 and unanswered == 0  # zero failed requests
