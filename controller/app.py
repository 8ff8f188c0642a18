"""Wiring, in one place: config + boto3 clients -> the AWS adapters behind each port -> a ShiftRun or a
command. `cli` stays argparse only; a new provider is one adapter file plus a line here."""

from __future__ import annotations

import argparse
import threading
from dataclasses import dataclass
from typing import TextIO

from controller.aws import (
    AlarmsAdapter,
    AwsClients,
    DeploymentAdapter,
    MetricsAdapter,
    StageAdapter,
    StageLock,
)
from controller.config import ControllerConfig, load_config
from controller.events import Events
from controller.judge import Judge, JudgeConfig
from controller.ramp import AdaptiveRamp
from controller.runner import ShiftRun
from controller.shift_options import ShiftOptions
from controller.user_gates import fill

MIN_LEASE_S = 60.0


def lease_ttl(interval_s: float) -> float:
    """Long enough to survive a slow tick or two, short enough that a crashed holder frees the stage soon."""
    return max(MIN_LEASE_S, 3 * interval_s + 30)


@dataclass
class App:
    cfg: ControllerConfig
    clients: AwsClients
    events: Events

    @classmethod
    def from_args(cls, args: argparse.Namespace, events: Events, stdin: TextIO) -> App:
        cfg = load_config(args.tf_dir, args.outputs, stdin)
        return cls(cfg, AwsClients(cfg.region), events)

    @property
    def stages(self) -> StageAdapter:
        return StageAdapter(self.clients.apigateway, self.cfg.api_id, self.cfg.slot_variable)

    @property
    def deployments(self) -> DeploymentAdapter:
        return DeploymentAdapter(self.clients.apigateway, self.cfg.api_id)

    def alarms(self, extra: tuple[str, ...] = ()) -> AlarmsAdapter:
        names = tuple(dict.fromkeys((*self.cfg.watched_alarms, *extra)))
        return AlarmsAdapter(self.clients.cloudwatch, names)

    @property
    def metrics(self) -> MetricsAdapter:
        m = self.cfg.metrics
        return MetricsAdapter(
            self.clients.cloudwatch,
            m.namespace,
            m.api_name,
            self.cfg.production_stage,
            m.period_seconds,
            self.cfg.staging_stage,
        )

    def lock(self, ttl_s: float) -> StageLock:
        return StageLock(self.stages, self.cfg.production_stage, ttl_s)

    def gate_alarm_names(self, options: ShiftOptions) -> tuple[str, ...]:
        """--gate-alarm names and a gates file's alarm gates (their ${api_name}/${stage}/${region} filled)."""
        known = {"api_name": self.cfg.api_name, "stage": self.cfg.production_stage, "region": self.cfg.region}
        from_file = tuple(fill(g.alarm, known) for g in options.user_gates if g.alarm is not None)
        return (*options.gate_alarms, *from_file)

    def shift(self, options: ShiftOptions, stop: threading.Event) -> ShiftRun:
        stages = self.stages
        return ShiftRun(
            self.cfg,
            options,
            stages=stages,
            deployments=self.deployments,
            metrics=self.metrics,
            alarms=self.alarms(self.gate_alarm_names(options)),
            lock=StageLock(stages, self.cfg.production_stage, lease_ttl(options.policy.interval_s)),
            events=self.events,
            stop=stop,
            # One judge per rollout: it accumulates evidence across steps (controller/judge).
            judge_factory=lambda history: Judge(JudgeConfig(history_fail=options.trust_history), history),
            # Both of the ramp's configurations: the judge's evidence says whether its fail test trusts the
            # history (it cannot when the history is off or too short, e.g. a new API).
            ramp_factory=AdaptiveRamp,
            call_counter=lambda: dict(self.clients.counter.calls),
            attempt_counter=lambda: dict(self.clients.counter.attempts),
        )
