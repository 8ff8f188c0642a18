"""A rollout's world for unit tests: fake stages, metrics, alarms and clock, and `shift` run in it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from controller_fakes import FakeAlarms, FakeClock, FakeDeployments, FakeStages, TrafficModel, config

from controller.aws.lock import StageLock
from controller.domain import Outcome
from controller.events import Recorder
from controller.gates import Thresholds
from controller.hooks import HookResult
from controller.runner import ShiftRun
from controller.shift_options import ShiftOptions
from controller.strategies import Policy
from controller.strategy import build_plan

CFG = config()


@dataclass
class World:
    clock: FakeClock
    stages: FakeStages
    deployments: FakeDeployments
    traffic: TrafficModel
    alarms: FakeAlarms
    events: Recorder
    hooks: list[tuple[str, str, dict[str, str]]]
    hook_exit: dict[str, int]

    def run(
        self, strategy: str | None = "recipe", steps: str | None = None, judge=None, **options
    ) -> Outcome:
        thresholds = options.pop("thresholds", Thresholds(min_requests=50))
        plan = build_plan(strategy if steps is None else None, steps, options.pop("bake", None))
        policy = Policy(plan, thresholds, interval_s=options.pop("interval_s", 30), period_s=60)
        # The runner hands each judge the baseline history it read; these judges ignore it.
        judge_factory = (lambda history: judge()) if judge is not None else None
        return self.shift(ShiftOptions(policy=policy, **options), judge_factory=judge_factory)

    def shift(self, options: ShiftOptions, **ports) -> Outcome:
        """`shift` with these options in this world; `ports` adds or replaces the runner's injections."""
        lock = StageLock(self.stages, "production", ttl_s=120, holder="ci-host:4242", clock=self.clock)
        injected = {
            "stages": self.stages,
            "deployments": self.deployments,
            "metrics": self.traffic,
            "alarms": self.alarms,
            "lock": lock,
            "events": self.events,
            "clock": self.clock,
            "stop": self.clock.stop,
            "sleep": self.clock.sleep,
            "hook_runner": self._hook,
            **ports,
        }
        return ShiftRun(CFG, options, **injected).run()

    def _hook(self, name, command, payload, timeout_s, stop) -> HookResult:
        self.hooks.append((name, command, payload.env()))
        return HookResult(name, command, self.hook_exit.get(name, 0), 1.0)

    def production(self):
        return self.stages.get("production")

    def staging(self):
        return self.stages.get("staging")

    def of(self, name: str) -> list[dict]:
        return [r for r in self.events.records if r["event"] == name]


@pytest.fixture
def world() -> World:
    clock = FakeClock()
    stages = FakeStages(clock)
    alarms = FakeAlarms(CFG.watched_alarms)
    alarms.clock = clock
    return World(
        clock, stages, FakeDeployments(stages), TrafficModel(stages), alarms, Recorder(clock), [], {}
    )


def adaptive_run(world: World, judge_factory=None, **options) -> Outcome:
    from controller.judge import Judge, JudgeConfig
    from controller.ramp import AdaptiveRamp, RampConfig

    thresholds = options.pop("thresholds", Thresholds(min_requests=50))
    policy = Policy(
        build_plan("adaptive", None, options.pop("bake", "2h")), thresholds, interval_s=30, period_s=60
    )
    return world.shift(
        ShiftOptions(policy=policy, **options),
        judge_factory=judge_factory or (lambda history: Judge(JudgeConfig(), history)),
        ramp_factory=lambda: AdaptiveRamp(RampConfig()),
    )


_adaptive = adaptive_run
