"""Wiring, in one place: config + boto3 clients -> the AWS adapters behind each port -> a ShiftRun or a
command. `cli` stays argparse only; a new provider is one adapter file plus a line here."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

from controller import request_commands
from controller.aws import (
    AlarmsAdapter,
    AwsClients,
    DeploymentAdapter,
    MetricsAdapter,
    StageAdapter,
    StageLock,
    pacing,
)
from controller.aws.functions import FunctionsAdapter
from controller.config import ControllerConfig, load_config
from controller.domain import Outcome
from controller.event_types import WarningEvent
from controller.events import Events, Fanout
from controller.judge import Judge
from controller.notify import Notifier, NotifyTarget
from controller.ramp import AdaptiveRamp
from controller.runner import ShiftRun
from controller.shift_options import ShiftOptions
from controller.undo import undo
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
        return cls(cfg, AwsClients(cfg.region, account=cfg.account_id or pacing.UNKNOWN_ACCOUNT), events)

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

    @property
    def functions(self) -> FunctionsAdapter:
        return FunctionsAdapter(self.clients.lambda_)

    def notify(self, targets: tuple[NotifyTarget, ...], level: str, report_url: str | None) -> None:
        """Every event from now on also goes to the notifier; a failed notification is a warning."""
        primary = self.events
        notifier = Notifier(
            targets,
            f"{self.cfg.api_name}/{self.cfg.production_stage}",
            level,
            report_url,
            sns=lambda: self.clients.sns,
            on_failure=lambda message: primary.emit(WarningEvent(message=message)),
        )
        self.events = Fanout(primary, notifier)

    def request(self, action: str) -> Outcome:
        return request_commands.send(self.cfg, self.stages, action, self.events)

    def undo(self, reason: str = "manual undo") -> Outcome:
        """`undo`: under the lease, like promote; a running shift (guarding) holds it: use abort then."""
        lock = self.lock(ttl_s=120)
        lock.acquire()
        try:
            undo(self.cfg, self.stages, self.deployments, self.functions, self.events, reason)
        finally:
            lock.release()
        return Outcome.PROMOTED

    def shift(
        self,
        options: ShiftOptions,
        stop: threading.Event,
        abort: Callable[[bool], str | None] | None = None,
        promotion_variables: Callable[[str, float], Mapping[str, str]] | None = None,
    ) -> ShiftRun:
        """One stack's rollout; `abort` and `promotion_variables` are a plan's (controller/wave_runner.py)."""
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
            judge_factory=lambda history: Judge(options.judge_config(), history),
            # Both of the ramp's configurations: the judge's evidence says whether its fail test trusts the
            # history (it cannot when the history is off or too short, e.g. a new API).
            ramp_factory=AdaptiveRamp,
            functions=self.functions,
            call_counter=lambda: dict(self.clients.counter.calls),
            attempt_counter=lambda: dict(self.clients.counter.attempts),
            abort=abort,
            promotion_variables=promotion_variables,
        )
