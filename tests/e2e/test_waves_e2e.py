"""`shift --plan` on the local cloud with AWS's control-plane quotas enforced: two regions in two waves, and a
fleet of 20 stacks in one wave, each with real traffic on loopback.

The stacks are built with boto3 the way the root module builds them (bench/fleet_stacks.py): applying the
module per stack would itself spend the quotas for minutes. Quotas (429 over them, as API Gateway answers):
https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from e2e_controller_helpers import ControllerProcess, controller_env, run_controller, wait_for
from test_controller_e2e import keep_report

from bench.fleet_stacks import FleetBuilder, FleetStack, FleetTraffic
from localcloud.testing import LocalCloudProcess

METRIC_PERIOD_S = 5
FAST = ["--steps", "50,100", "--bake", "10s", "--interval", "5s", "--min-requests", "5"]
# A fleet's light traffic gives each canary step about ten requests, whose p99 is their slowest one: on two
# shared cores running 40 functions, one slow answer. The latency gate stays on, with room for that.
FLEET = ["--max-p99-ratio", "3"]
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


class Regions:
    """Two stacks, us-east-1 in wave 1 and eu-west-1 in wave 2, and what the tests read of them."""

    def __init__(self, cloud: LocalCloudProcess, builder: FleetBuilder) -> None:
        self.cloud, self.builder = cloud, builder
        self.first = builder.build("waves-use1", "us-east-1")
        self.second = builder.build("waves-euw1", "eu-west-1")
        self.plan_dir = builder.out_dir
        session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test")
        self.apigw = {
            s.region: session.client("apigateway", region_name=s.region, endpoint_url=cloud.endpoint_url)
            for s in (self.first, self.second)
        }

    def plan(self, policy: str, bake: str = "5s") -> str:
        path = self.plan_dir / f"plan-{policy}-{bake}.yaml"
        path.write_text(
            f"name: two-regions\npolicy: {policy}\nbake: {bake}\nwaves:\n"
            f"  - stacks: [{{name: use1, outputs: {self.first.outputs.name}, region: us-east-1}}]\n"
            f"  - stacks: [{{name: euw1, outputs: {self.second.outputs.name}, region: eu-west-1}}]\n"
        )
        return str(path)

    def stages(self, stack: FleetStack) -> dict[str, Any]:
        api = self.apigw[stack.region]
        return {
            name: {
                k: v for k, v in api.get_stage(restApiId=stack.api_id, stageName=name).items() if k in KEEP
            }
            for name in ("production", "staging")
        }

    def deployments(self, stack: FleetStack) -> set[str]:
        items = self.apigw[stack.region].get_deployments(restApiId=stack.api_id, limit=500)["items"]
        return {d["id"] for d in items}

    def live(self, stack: FleetStack) -> str:
        return self.stages(stack)["production"]["variables"]["slot"]

    def idle(self, stack: FleetStack) -> str:
        return self.stages(stack)["staging"]["variables"]["slot"]

    def release(self, version: str) -> None:
        """A new release in each stack's idle slot, as `terraform apply` with new source would."""
        for stack in (self.first, self.second):
            self.builder.release(stack, self.idle(stack), version)

    def refused(self) -> int:
        return int(self.cloud.admin("GET", "quotas")["refused"])

    def wait_quiet(self) -> None:
        """No alarm of either stack in ALARM (a faulty release's canary alarm clears within a few periods)."""
        session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test")

        def quiet() -> bool:
            for stack in (self.first, self.second):
                cw = session.client(
                    "cloudwatch", region_name=stack.region, endpoint_url=self.cloud.endpoint_url
                )
                alarms = cw.describe_alarms(AlarmNames=list(stack.config["alarm_names"]))["MetricAlarms"]
                if any(a["StateValue"] == "ALARM" for a in alarms):
                    return False
            return True

        wait_for(quiet, 120, "the stacks' alarms out of ALARM", every_s=1)


KEEP = ("deploymentId", "variables", "canarySettings", "lastUpdatedDate")


@pytest.fixture
def regions(two_regions: Regions) -> Regions:
    two_regions.wait_quiet()
    return two_regions


@pytest.fixture(scope="module")
def two_regions(cloud: LocalCloudProcess, builder: FleetBuilder) -> Iterator[Regions]:
    world = Regions(cloud, builder)
    with FleetTraffic([world.first, world.second], RATE_PER_S):
        time.sleep(2 * METRIC_PERIOD_S)  # some history for the judge, and the quota buckets refilled
        yield world
    cloud.admin("DELETE", "faults")


def plan_run(plan: str, env: dict[str, str], *extra: str, timeout_s: float = 240) -> tuple[int, list[dict]]:
    process = ControllerProcess(["shift", "--plan", plan, "--json", *FAST, *extra], env)
    code = process.wait(timeout_s)
    keep_report(Path(plan).stem, process.events)  # out/e2e/<plan>.html: the lanes drawn from a real log
    return code, process.events


def why(events: list[dict]) -> str:
    """The plan's end and each stack's, for an assertion message."""
    return "; ".join(
        f"{e.get('stack')}: {e.get('outcome')}: {e.get('reason')}" for e in events if "outcome" in e
    )


def of(events: list[dict], kind: str, **match: Any) -> list[dict]:
    return [e for e in events if e["event"] == kind and all(e.get(k) == v for k, v in match.items())]


def fault(cloud: LocalCloudProcess, stack: FleetStack, slot: str) -> None:
    cloud.admin("POST", "faults", {"target": "lambda", "function": stack.function(slot), "error_rate": 0.5})


def test_a_faulty_release_caught_in_wave_one_never_reaches_the_region_of_wave_two(
    regions: Regions, env: dict[str, str]
) -> None:
    untouched = (regions.stages(regions.second), regions.deployments(regions.second))
    fault(regions.cloud, regions.first, regions.idle(regions.first))
    try:
        code, events = plan_run(regions.plan("hold"), env)
    finally:
        regions.cloud.admin("DELETE", "faults")
    assert code == 3, why(events)
    finished = of(events, "plan_finished")[0]
    assert finished["rolled_back"] == ["use1"] and finished["not_started"] == ["euw1"]
    assert regions.live(regions.first) == "blue"
    assert (regions.stages(regions.second), regions.deployments(regions.second)) == untouched
    assert not [e for e in events if e.get("stack") == "euw1"]
    assert finished["control_plane"]["throttled"] == 0


def test_a_healthy_release_is_promoted_in_both_regions_and_a_rerun_changes_nothing(
    regions: Regions, env: dict[str, str]
) -> None:
    refused = regions.refused()
    code, events = plan_run(regions.plan("hold"), env)
    assert code == 0, why(events)
    assert regions.live(regions.first) == regions.live(regions.second) == "green"
    waves = [(e["wave"], e["stack"]) for e in of(events, "stack_finished", outcome="promoted")]
    assert waves == [(1, "use1"), (2, "euw1")]
    first_done = of(events, "stack_finished", stack="use1")[0]["at"]
    assert of(events, "wave_started", wave=2)[0]["at"] >= first_done + 5  # after the 5 s bake
    assert regions.refused() == refused  # the pacing kept every call within the quotas
    status = run_controller(["status", "--plan", regions.plan("hold"), "--json"], env)
    assert '"phase": "done: every stack promoted for this release"' in status.stdout

    before = (regions.stages(regions.first), regions.stages(regions.second))
    code, again = plan_run(regions.plan("hold"), env)
    assert code == 0 and [e["stack"] for e in of(again, "stack_skipped")] == ["use1", "euw1"]
    assert (regions.stages(regions.first), regions.stages(regions.second)) == before  # not shifted back


def test_killing_the_controller_between_waves_and_rerunning_resumes_at_wave_two(
    regions: Regions, env: dict[str, str]
) -> None:
    regions.release("v3")  # into blue, idle in both regions since the last test
    plan = regions.plan("hold", bake="40s")
    first = ControllerProcess(["shift", "--plan", plan, "--json", *FAST], env)
    baking = first.wait_event("bake_started", timeout_s=120)
    os.kill(first.proc.pid, signal.SIGKILL)  # no chance to clean up: as a lost CI runner
    first.wait(30)
    promoted_first = regions.stages(regions.first)
    assert promoted_first["production"]["variables"]["slot"] == "blue"
    assert regions.live(regions.second) == "green"  # wave 2 not started

    code, events = plan_run(plan, env)
    assert code == 0, why(events)
    assert [e["stack"] for e in of(events, "stack_skipped")] == ["use1"]
    assert not of(events, "run_started", stack="use1")  # the promoted stack is not redone
    resumed = of(events, "bake_started") or of(events, "bake_ended")
    assert resumed, "the bake resumes from the recorded promotion"
    if of(events, "bake_started"):
        assert of(events, "bake_started")[0]["until"] == pytest.approx(baking["until"], abs=1.5)
    assert of(events, "stack_finished", stack="euw1")[0]["outcome"] == "promoted"
    assert regions.live(regions.second) == "blue"
    assert (
        regions.stages(regions.first)["production"]["deploymentId"]
        == promoted_first["production"]["deploymentId"]
    )


def test_revert_undoes_wave_one_after_a_failure_in_wave_two(regions: Regions, env: dict[str, str]) -> None:
    regions.release("v4")  # into green, idle in both regions now
    fault(regions.cloud, regions.second, "green")
    try:
        code, events = plan_run(regions.plan("revert"), env)
    finally:
        regions.cloud.admin("DELETE", "faults")
    assert code == 3, why(events)
    finished = of(events, "plan_finished")[0]
    assert finished["rolled_back"] == ["euw1"] and finished["reverted"] == ["use1"]
    assert of(events, "undone", stack="use1")
    assert regions.live(regions.first) == regions.live(regions.second) == "blue"  # both on the former release
    status = run_controller(["status", "--plan", regions.plan("revert")], env)
    assert "use1 (us-east-1): reverted" in status.stdout and "euw1 (eu-west-1): rolled back" in status.stdout


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
        code, events = plan_run(str(plan), env, *FLEET, timeout_s=600)
        refused_after = int(cloud.admin("GET", "quotas")["refused"])
        answered, errors, unanswered = traffic.since_mark()
    assert code == 0, why(events)
    finished = of(events, "plan_finished")[0]
    assert len(finished["promoted"]) == 20
    usage = finished["control_plane"]
    assert usage["throttled"] == 0 and refused_after == refused, usage  # zero 429s
    assert usage["calls"] == usage["attempts"]  # no call needed a retry, none failed
    assert usage["calls"]["CreateDeployment"] == 20 and usage["paced_calls"] >= 19  # one every 5 s
    assert answered > 20 * 2.0 * 20 and errors == 0 and unanswered == 0  # zero failed requests
