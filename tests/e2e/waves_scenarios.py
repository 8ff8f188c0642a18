"""The two-region wave scenarios, run on stacks built with boto3 (test_waves_e2e.py, quotas enforced) and on
examples/multi-region applied with Terraform (test_waves_example_e2e.py): us-east-1 in wave 1, eu-west-1 in
wave 2, light traffic on each; what a test reads of the stacks it reads with boto3, not the controller."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from e2e_controller_helpers import ControllerProcess, run_controller, sleep_past_faulty_windows, wait_for
from test_controller_e2e import keep_report

KEEP = ("deploymentId", "variables", "canarySettings", "lastUpdatedDate")


@dataclass
class RegionStack:
    region: str
    api_id: str
    config: dict[str, Any]  # its controller_config
    production_url: str
    staging_url: str

    @classmethod
    def of(cls, config: dict[str, Any], production_url: str, staging_url: str) -> RegionStack:
        return cls(config["region"], config["api_id"], config, production_url, staging_url)

    def function(self, slot: str) -> str:
        return str(self.config["slots"][slot]["function_name"])


class TwoRegions:
    """Wave 1 (us-east-1) and wave 2 (eu-west-1); subclasses say how a plan is written and a release made."""

    def __init__(self, cloud: Any, first: RegionStack, second: RegionStack) -> None:
        self.cloud, self.first, self.second = cloud, first, second
        self.faults_cleared_at: float | None = None
        self.session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test")
        self.apigw = {
            s.region: self.session.client("apigateway", region_name=s.region, endpoint_url=cloud.endpoint_url)
            for s in (first, second)
        }

    def plan(self, policy: str, bake: str = "5s") -> str:
        raise NotImplementedError

    def release(self, version: str) -> None:
        """A new release in each stack's idle slot."""
        raise NotImplementedError

    def stages(self, stack: RegionStack) -> dict[str, Any]:
        api = self.apigw[stack.region]
        return {
            name: {
                k: v for k, v in api.get_stage(restApiId=stack.api_id, stageName=name).items() if k in KEEP
            }
            for name in ("production", "staging")
        }

    def deployments(self, stack: RegionStack) -> set[str]:
        items = self.apigw[stack.region].get_deployments(restApiId=stack.api_id, limit=500)["items"]
        return {d["id"] for d in items}

    def live(self, stack: RegionStack) -> str:
        return self.stages(stack)["production"]["variables"]["slot"]

    def idle(self, stack: RegionStack) -> str:
        return self.stages(stack)["staging"]["variables"]["slot"]

    def fault(self, stack: RegionStack, slot: str) -> None:
        self.cloud.admin(
            "POST", "faults", {"target": "lambda", "function": stack.function(slot), "error_rate": 0.5}
        )

    def clear_faults(self) -> None:
        self.cloud.admin("DELETE", "faults")
        self.faults_cleared_at = time.time()

    def _alarms(self, stack: RegionStack) -> dict[str, Any]:
        cw = self.session.client("cloudwatch", region_name=stack.region, endpoint_url=self.cloud.endpoint_url)
        names = [*stack.config["alarm_names"], *filter(None, [stack.config.get("rollback_alarm_name")])]
        return cw.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])

    def wait_quiet(self) -> None:
        """No alarm of either stack in ALARM (a faulty release's canary alarm clears within a few periods),
        once the alarms have looked past the last fault's periods."""
        if self.faults_cleared_at is not None:
            for stack in (self.first, self.second):
                metric_alarms = self._alarms(stack)["MetricAlarms"]
                sleep_past_faulty_windows(self.faults_cleared_at, metric_alarms, self.cloud.metric_period)

        def quiet() -> bool:
            for stack in (self.first, self.second):
                page = self._alarms(stack)
                if any(a["StateValue"] == "ALARM" for a in (*page["MetricAlarms"], *page["CompositeAlarms"])):
                    return False
            return True

        wait_for(quiet, 180, "the stacks' alarms out of ALARM", every_s=1)


PlanRun = Callable[..., tuple[int, list[dict]]]


def plan_runner(env: dict[str, str], flags: list[str], timeout_s: float = 300) -> PlanRun:
    def run(
        plan: str, *extra: str, started: Callable[[ControllerProcess], None] | None = None
    ) -> tuple[int, list[dict]]:
        """`shift --plan`; `started` is called with the running process (to act at one of its events)."""
        process = ControllerProcess(["shift", "--plan", plan, "--json", *flags, *extra], env)
        try:
            if started is not None:
                started(process)
        except BaseException:
            process.proc.kill()  # started to act, failed: the controller is not left running
            process.wait(30)
            raise
        code = process.wait(timeout_s)
        keep_report(Path(plan).stem, process.events)  # out/e2e/<plan>.html: the lanes drawn from a real log
        return code, process.events

    return run


def why(events: list[dict]) -> str:
    """The plan's end and each stack's, for an assertion message."""
    return "; ".join(
        f"{e.get('stack')}: {e.get('outcome')}: {e.get('reason')}" for e in events if "outcome" in e
    )


def of(events: list[dict], kind: str, **match: Any) -> list[dict]:
    return [e for e in events if e["event"] == kind and all(e.get(k) == v for k, v in match.items())]


def run_faulty(
    regions: TwoRegions, run: PlanRun, faulty: RegionStack, wave: int, policy: str
) -> tuple[int, list[dict]]:
    """The plan run with half the requests to `faulty`'s candidate failing from the start of its wave on. Not
    before: a module stack's staging 5XX alarm would see the smoke traffic fail while an earlier wave runs,
    and the plan would stop before moving any of that stack's traffic (an error, not a rollback)."""
    candidate = regions.idle(faulty)

    def inject(process: ControllerProcess) -> None:
        process.wait_event("wave_started", timeout_s=240, wave=wave)
        regions.fault(faulty, candidate)

    try:
        return run(regions.plan(policy), started=inject)
    finally:
        regions.clear_faults()


# -- the scenarios, in the order a module runs them (each leaves the stacks as the next expects) ---------


def faulty_release_never_reaches_wave_two(regions: TwoRegions, run: PlanRun) -> None:
    untouched = (regions.stages(regions.second), regions.deployments(regions.second))
    live = regions.live(regions.first)
    code, events = run_faulty(regions, run, regions.first, 1, "hold")
    assert code == 3, why(events)
    finished = of(events, "plan_finished")[0]
    assert finished["rolled_back"] == ["use1"] and finished["not_started"] == ["euw1"]
    assert regions.live(regions.first) == live
    assert (regions.stages(regions.second), regions.deployments(regions.second)) == untouched
    assert not [e for e in events if e.get("stack") == "euw1"]


def healthy_release_reaches_both_and_a_rerun_changes_nothing(
    regions: TwoRegions, run: PlanRun, env: dict
) -> None:
    candidate = regions.idle(regions.first)
    code, events = run(regions.plan("hold"))
    assert code == 0, why(events)
    assert regions.live(regions.first) == regions.live(regions.second) == candidate
    waves = [(e["wave"], e["stack"]) for e in of(events, "stack_finished", outcome="promoted")]
    assert waves == [(1, "use1"), (2, "euw1")]
    first_done = of(events, "stack_finished", stack="use1")[0]["at"]
    assert of(events, "wave_started", wave=2)[0]["at"] >= first_done + 5  # after the 5 s bake
    status = run_controller(["status", "--plan", regions.plan("hold"), "--json"], env)
    assert '"phase": "done: every stack promoted for this release"' in status.stdout, (
        status.stdout + status.stderr
    )

    before = (regions.stages(regions.first), regions.stages(regions.second))
    code, again = run(regions.plan("hold"))
    assert code == 0 and [e["stack"] for e in of(again, "stack_skipped")] == ["use1", "euw1"]
    assert (regions.stages(regions.first), regions.stages(regions.second)) == before  # not shifted back


def killed_between_waves_a_rerun_resumes_at_wave_two(
    regions: TwoRegions, run: PlanRun, env: dict, flags: list[str]
) -> None:
    regions.release("v3")
    candidate, former = regions.idle(regions.first), regions.live(regions.second)
    plan = regions.plan("hold", bake="40s")
    first = ControllerProcess(["shift", "--plan", plan, "--json", *flags], env)
    baking = first.wait_event("bake_started", timeout_s=240)
    os.kill(first.proc.pid, signal.SIGKILL)  # no chance to clean up: as a lost CI runner
    first.wait(30)
    promoted_first = regions.stages(regions.first)
    assert promoted_first["production"]["variables"]["slot"] == candidate
    assert regions.live(regions.second) == former  # wave 2 not started

    code, events = run(plan)
    assert code == 0, why(events)
    assert [e["stack"] for e in of(events, "stack_skipped")] == ["use1"]
    assert not of(events, "run_started", stack="use1")  # the promoted stack is not redone
    assert of(events, "bake_started") or of(events, "bake_ended"), (
        "the bake resumes from the recorded promotion"
    )
    if of(events, "bake_started"):
        assert of(events, "bake_started")[0]["until"] == pytest.approx(baking["until"], abs=1.5)
    assert of(events, "stack_finished", stack="euw1")[0]["outcome"] == "promoted"
    assert regions.live(regions.second) == candidate
    assert (
        regions.stages(regions.first)["production"]["deploymentId"]
        == promoted_first["production"]["deploymentId"]
    )


def revert_undoes_wave_one_after_a_failure_in_wave_two(regions: TwoRegions, run: PlanRun, env: dict) -> None:
    regions.release("v4")
    former = regions.live(regions.first)
    code, events = run_faulty(regions, run, regions.second, 2, "revert")
    assert code == 3, why(events)
    finished = of(events, "plan_finished")[0]
    assert finished["rolled_back"] == ["euw1"] and finished["reverted"] == ["use1"]
    assert of(events, "undone", stack="use1")
    assert regions.live(regions.first) == regions.live(regions.second) == former  # both on the former release
    status = run_controller(["status", "--plan", regions.plan("revert")], env)
    assert "use1 (us-east-1): reverted" in status.stdout and "euw1 (eu-west-1): rolled back" in status.stdout
