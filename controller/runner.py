"""`shift`: the prelude around the engine, then a thin interpreter of the engine's actions.

Order of a fresh rollout: read both stages -> preflight (slots, alarms exist and are quiet) -> take the lease
-> snapshot the API definition into a deployment of the controller's own (CreateDeployment without a stage)
-> canary at 0% on production (that snapshot + slot override) -> the engine (controller/engine.py) decides
the rest: hooks, shares, ticks, promote or roll back. Each Wait becomes a tick here: renew the lease, check
the canary is as left, one GetMetricData, one DescribeAlarms, the measurement model, then the engine again.
An AWS failure mid-rollout removes the canary before the error is reported; the lease is always released.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable

from controller.aws.deployments import Deployment
from controller.config import ControllerConfig
from controller.domain import BaselineHistory, Outcome
from controller.engine import (
    Begin,
    Emit,
    Engine,
    EngineSettings,
    HookFinished,
    Input,
    Interrupt,
    JudgePort,
    Leave,
    Promote,
    RollBack,
    RunHook,
    SetShare,
    Tick,
    Wait,
)
from controller.errors import AwsError, ControllerError, StateConflict
from controller.event_types import (
    LockEvent,
    PlanShown,
    TickEvent,
    WarningEvent,
)
from controller.events import Events
from controller.gates import builtin_gates
from controller.hooks import HookResult, hook_env, run_hook
from controller.observer import Observer, placeholders
from controller.plan_text import plan_lines
from controller.ports import AlarmsSource, DeploymentsPort, HookRunner, Lock, MetricsSource, TrafficRouter
from controller.preflight import check_alarms, check_unchanged, resolve_slots
from controller.rollout_setup import announce_history, announce_run, read_history, recent_requests_per_period
from controller.shift_options import ShiftOptions
from controller.snapshots import announce_snapshot, create_snapshot
from controller.strategies import Adaptive, FixedSteps, RampPort, Strategy
from controller.traffic import Slots, promote, roll_back


def _hook_runner(
    hook: str, command: str, env: dict[str, str], timeout_s: float, stop: threading.Event
) -> HookResult:
    return run_hook(hook, command, env, timeout_s, stop)


class ShiftRun:
    def __init__(
        self,
        cfg: ControllerConfig,
        options: ShiftOptions,
        *,
        stages: TrafficRouter,
        deployments: DeploymentsPort,
        metrics: MetricsSource,
        alarms: AlarmsSource,
        lock: Lock,
        events: Events,
        clock: Callable[[], float] = time.time,
        stop: threading.Event | None = None,
        judge_factory: Callable[[BaselineHistory | None], JudgePort] | None = None,
        ramp_factory: Callable[[], RampPort] | None = None,
        hook_runner: HookRunner = _hook_runner,
        call_counter: Callable[[], dict[str, int]] | None = None,
        attempt_counter: Callable[[], dict[str, int]] | None = None,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.cfg, self.opts, self.events = cfg, options, events
        self.stages, self.deployments, self.metrics, self.alarms, self.lock = (
            stages,
            deployments,
            metrics,
            alarms,
            lock,
        )
        self.clock = clock
        self.stop = stop or threading.Event()
        self.judge_factory, self.ramp_factory, self.hook_runner = judge_factory, ramp_factory, hook_runner
        self.counters = (call_counter or dict, attempt_counter or dict)
        # Waits up to the given seconds; True when interrupted. Tests pass a fake that advances a fake clock.
        self.sleep = sleep or self.stop.wait
        self.prod = cfg.production_stage
        self.period = cfg.metrics.period_seconds
        self.lag_s = self.period if options.metrics_lag_s is None else options.metrics_lag_s
        self.observer: Observer | None = None
        self.counts_before: tuple[dict[str, int], dict[str, int]] = ({}, {})

    def run(self) -> Outcome:
        production, staging = self.stages.get(self.prod), self.stages.get(self.cfg.staging_stage)
        slots = resolve_slots(self.cfg, production, staging, self.events)
        if slots is None:
            return Outcome.NOTHING_TO_DO
        resumed = production.canary.percent if production.canary is not None else None
        states = check_alarms(self.alarms, quiet_required=resumed is None)
        if self.opts.dry_run:
            lines = plan_lines(self.cfg, self.opts, slots, production, states)
            steps = self.opts.policy.plan.steps
            self.events.emit(
                PlanShown(
                    lines=tuple(lines),
                    live_slot=slots.live,
                    candidate_slot=slots.candidate,
                    steps=tuple(s.percent for s in steps),
                    bakes_s=tuple(s.bake_s for s in steps),
                    alarms=states,
                )
            )
            return Outcome.DRY_RUN
        self.lock.check_free(production)
        confirmed, taken_over = self.lock.acquire(production)
        if taken_over is not None:
            message = f"took over the stale lock of {getattr(taken_over, 'holder', taken_over)}"
            self.events.emit(LockEvent(message=message, holder=self.lock.holder))
        snapshot: Deployment | None = None
        try:
            check_unchanged(self.cfg, self.stages, production, staging, confirmed)
            if resumed is None:
                # Never staging's deployment: Terraform replaces it at the next definition change, and AWS
                # refuses to delete a deployment production points at. Nothing is on the stage yet.
                label = self.cfg.slot(slots.candidate).version_label
                snapshot = create_snapshot(self.deployments, slots.candidate, label, self.clock())
                slots.candidate_deployment = snapshot.id
        except BaseException:
            self._release()
            raise
        try:
            return self._drive(slots, resumed, snapshot)
        except AwsError as exc:
            # A stage change or the lease failed after botocore's retries: put production back on the live
            # slot before reporting the error.
            self._fail_safe(slots, exc)
            raise
        finally:
            self._release()

    def _drive(self, slots: Slots, resumed: float | None, snapshot: Deployment | None) -> Outcome:
        gates = builtin_gates(
            self.opts.policy.thresholds,
            judge=self.judge_factory is not None and self.opts.judge,
            adaptive=self.opts.policy.plan.adaptive,
            alarms=(*self.cfg.watched_alarms, *self.opts.gate_alarms),
        )
        user_gates = tuple(g.bind(placeholders(self.cfg, slots)) for g in self.opts.user_gates)
        observer = Observer(
            self.cfg, self.metrics, self.alarms, self.stages, self.events, slots, self.lag_s, user_gates
        )
        self.observer = observer
        announce_run(
            self.cfg, self.opts, self.events, slots, resumed, self.lock.holder, (*gates, *user_gates)
        )
        if snapshot is not None:
            announce_snapshot(self.events, snapshot, slots.candidate)
        judge = None
        if self.judge_factory is not None and self.opts.judge:
            history = read_history(
                self.metrics, self.events, self.opts.baseline_history_s, self.period, self.clock()
            )
            judge = self.judge_factory(history)
            if history is not None:
                announce_history(self.events, history, judge, self.opts.baseline_history_s)
        strategy, requests = self._strategy(observer)
        settings = EngineSettings(self.period, self.lag_s, frozenset(self.opts.hooks), self.opts.on_interrupt)
        engine = Engine(settings, strategy, (*gates, *user_gates), judge)
        if resumed is None:
            self.stages.create_canary(self.prod, slots.candidate_deployment, slots.candidate, 0.0)
        observer.since = math.floor(self.clock() / self.period) * self.period
        actions = engine.step(Begin(self.clock(), resumed, requests))
        while True:
            step_input: Input | None = None
            for action in actions:
                match action:
                    case Emit(event=event):
                        self._emit(event)
                    case SetShare(percent=percent):
                        self.stages.set_canary_percent(self.prod, percent)
                    case RunHook():
                        step_input = self._hook(action, slots)
                    case Wait():
                        step_input = (
                            Interrupt(self.clock())
                            if self._sleep_until(action.until)
                            else self._observe(action, slots, observer)
                        )
                    case Promote(reason=reason):
                        promote(
                            self.cfg,
                            self.stages,
                            self.deployments,
                            self.events,
                            candidate=slots.candidate,
                            former_live=slots.live,
                            deployment_id=slots.candidate_deployment,
                            reason=reason,
                        )
                        return Outcome.PROMOTED
                    case RollBack(reason=reason, percent=percent, outcome=outcome):
                        self._roll_back(slots, reason, percent)
                        return outcome
                    case Leave():
                        return Outcome.INTERRUPTED
            assert step_input is not None, f"the engine stopped without an outcome: {actions}"
            actions = engine.step(step_input)

    # -- interpreting actions --------------------------------------------------------------------------

    def _emit(self, event: object) -> None:
        if isinstance(event, TickEvent):
            calls, attempts = (
                {op: n - before.get(op, 0) for op, n in counter().items() if n - before.get(op, 0)}
                for counter, before in zip(self.counters, self.counts_before, strict=True)
            )
            event = dataclasses.replace(event, aws_calls=calls, aws_attempts=attempts)
        self.events.emit(event)  # type: ignore[arg-type]

    def _hook(self, action: RunHook, slots: Slots) -> Input:
        command = self.opts.hooks[action.hook]
        self.lock.extend_for(self.opts.hook_timeout_s)
        env = hook_env(
            hook=action.hook,
            production_url=self.cfg.production_url,
            staging_url=self.cfg.staging_url,
            percent=action.percent,
            step=action.step,
            live_slot=slots.live,
            candidate_slot=slots.candidate,
            api_id=self.cfg.api_id,
            stage=self.prod,
        )
        result = self.hook_runner(action.hook, command, env, self.opts.hook_timeout_s, self.stop)
        self.events.emit(result.event(action.percent))
        if self.stop.is_set():
            return Interrupt(self.clock())  # interrupted, not failed
        return HookFinished(self.clock(), action.hook, result.ok, "" if result.ok else result.describe())

    def _sleep_until(self, when: float) -> bool:
        """Wait until `when` on the clock; True if interrupted (SIGINT/SIGTERM)."""
        while True:
            left = when - self.clock()
            if left <= 0:
                return self.stop.is_set()
            if self.sleep(min(left, 1.0)):
                return True

    def _observe(self, wait: Wait, slots: Slots, observer: Observer) -> Tick:
        """Renew the lease, check the canary is as the engine left it, then read the tick's metrics."""
        self.counts_before = (self.counters[0](), self.counters[1]())
        self._check_canary(self.lock.renew(), slots, wait.percent)
        return observer.observe(self.clock(), wait.fetch_from)

    def _check_canary(self, stage: object, slots: Slots, percent: float) -> None:
        canary = getattr(stage, "canary", None)
        slot = stage.canary_slot(self.cfg.slot_variable)  # type: ignore[attr-defined]
        if (
            canary is None
            or slot != slots.candidate
            or not math.isclose(canary.percent, percent, abs_tol=0.01)
        ):
            found = "no canary" if canary is None else f"canary {canary.percent:g}% for {slot}"
            raise StateConflict(
                f"production changed under the controller (expected canary {percent:g}% for "
                f"{slots.candidate}, found {found}); someone ran rollback or promote: stopping without "
                "touching the stage"
            )

    # -- helpers ---------------------------------------------------------------------------------------

    def _strategy(self, observer: Observer) -> tuple[Strategy, float]:
        """The strategy, and for the adaptive one the stage's recent traffic to size its first share."""
        if not self.opts.policy.plan.adaptive:
            return FixedSteps(self.opts.policy), 0.0
        assert self.ramp_factory is not None, "the adaptive strategy needs a ramp"
        requests = recent_requests_per_period(
            self.metrics, self.events, observer.request, self.period, self.clock()
        )
        return Adaptive(self.opts.policy, self.ramp_factory()), requests

    def _roll_back(self, slots: Slots, reason: str, percent: float | None) -> None:
        roll_back(
            self.cfg,
            self.stages,
            self.deployments,
            self.events,
            live_slot=slots.live,
            candidate_slot=slots.candidate,
            reason=reason,
            percent=percent,
            deployment_id=slots.candidate_deployment,
        )

    def _fail_safe(self, slots: Slots, exc: AwsError) -> None:
        try:
            self._roll_back(slots, f"AWS error: {exc}", None)
        except AwsError as again:
            raise AwsError(f"{exc}; and the {again}") from None

    def _release(self) -> None:
        try:
            if self.observer is not None:
                self.observer.forget_source()
            self.lock.release()
        except ControllerError as exc:
            self.events.emit(
                WarningEvent(message=f"could not release the lock (it expires on its own): {exc}")
            )
