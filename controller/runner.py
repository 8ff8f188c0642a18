"""`shift`: the read-only prelude, then a thin interpreter of the engine's actions.

Order of a fresh rollout: read both stages -> preflight (slots, alarms exist and are quiet, the lock is
free) -> the engine (controller/engine.py) decides the rest: the confirm-rollout hook, then `Prepare` (take
the lease, snapshot the API definition into a deployment of the controller's own, canary at 0 % on
production), hooks, shares, ticks, the approval hold, promote or roll back, the guard, undo. Each Wait is a
tick here (controller/rollout_actions.py): renew the lease, check production is as left, take a user's
request (approve, abort, pause, resume), one GetMetricData, one DescribeAlarms, then the engine again. An
AWS failure mid-rollout goes to the engine as `Failed` (roll back, on-rollback hook) before the error is
reported; the lease is always released.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Mapping

from controller import engine_io as eio
from controller import rollout_actions as act
from controller.config import ControllerConfig
from controller.domain import BaselineHistory, Outcome
from controller.engine import Engine, JudgePort
from controller.errors import AwsError, ControllerError
from controller.event_types import TickEvent, WarningEvent
from controller.events import Events
from controller.gates import builtin_gates
from controller.guard import guard_factory
from controller.hooks import HookPayload, HookResult, run_target
from controller.judge import Judge
from controller.observer import Observer, placeholders
from controller.plan_text import plan_event
from controller.ports import (
    AlarmsSource,
    DeploymentsPort,
    FunctionsPort,
    HookRunner,
    Lock,
    MetricsSource,
    TrafficRouter,
)
from controller.preflight import check_alarms, resolve_slots
from controller.rollout_setup import (
    announce_history,
    announce_run,
    choose_strategy,
    read_history,
    slow_threshold,
)
from controller.shift_options import ShiftOptions
from controller.strategies import RampPort
from controller.traffic import Slots, keep_former, release_former, roll_back
from controller.undo import undo


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
        hook_runner: HookRunner | None = None,
        functions: FunctionsPort | None = None,
        call_counter: Callable[[], dict[str, int]] | None = None,
        attempt_counter: Callable[[], dict[str, int]] | None = None,
        sleep: Callable[[float], bool] | None = None,
        abort: Callable[[bool], str | None] | None = None,
        promotion_variables: Callable[[str, float], Mapping[str, str]] | None = None,
    ) -> None:
        self.cfg, self.opts, self.events = cfg, options, events
        self.stages, self.metrics, self.alarms, self.lock = stages, metrics, alarms, lock
        self.ports = act.RunPorts(cfg, stages, deployments, lock, events, clock, functions)
        self.clock = clock
        self.stop = stop or threading.Event()
        self.judge_factory, self.ramp_factory = judge_factory, ramp_factory
        self.hook_runner = hook_runner or self._run_target
        self.counters = (call_counter or dict, attempt_counter or dict)
        # Waits up to the given seconds; True when interrupted. Tests pass a fake that advances a fake clock.
        self.sleep = sleep or self.stop.wait
        # A plan's say (controller/wave_runner.py): why this run must stop now (None: go on), given whether
        # it is guarding a promotion; and the variables its promotion writes in the same UpdateStage.
        self.abort = abort or (lambda promoted: None)
        self.promotion_variables = promotion_variables
        self.prod = cfg.production_stage
        self.period = cfg.metrics.period_seconds
        self.lag_s = self.period if options.metrics_lag_s is None else options.metrics_lag_s
        self.observer: Observer | None = None
        self.counts_before: tuple[dict[str, int], dict[str, int]] = ({}, {})
        self.started_at = 0.0
        self.canary_on = False  # a canary of ours is on production (an AWS failure must remove it)
        self.held = False  # a hold is shown on production (removed at the end, whatever happens)

    def _run_target(
        self, hook: str, target: str, payload: HookPayload, timeout_s: float, stop: threading.Event
    ) -> HookResult:
        return run_target(hook, target, payload, timeout_s, stop, self.opts.hook_retries)

    def run(self) -> Outcome:
        production, staging = self.stages.get(self.prod), self.stages.get(self.cfg.staging_stage)
        slots = resolve_slots(self.cfg, production, staging, self.events)
        if slots is None:
            return Outcome.NOTHING_TO_DO
        resumed = production.canary.percent if production.canary is not None else None
        states = check_alarms(self.alarms, quiet_required=resumed is None)
        if self.opts.dry_run:
            self.events.emit(plan_event(self.cfg, self.opts, slots, production, states))
            return Outcome.DRY_RUN
        self.lock.check_free(production)
        self.canary_on = resumed is not None
        try:
            engine, begin = self._engine(slots, resumed)
            return self._drive(engine, engine.step(begin), slots, production, staging)
        finally:
            self._release()

    def _engine(self, slots: Slots, resumed: float | None) -> tuple[Engine, eio.Begin]:
        """Everything the engine needs, read before anything changes (the confirm-rollout hook runs first)."""
        opts = self.opts
        gates = builtin_gates(
            opts.policy.thresholds,
            judge=self.judge_factory is not None and opts.judge,
            adaptive=opts.policy.plan.adaptive,
            alarms=(*self.cfg.watched_alarms, *opts.gate_alarms),
        )
        user_gates = tuple(g.bind(placeholders(self.cfg, slots)) for g in opts.user_gates)
        self.announce = lambda: announce_run(
            self.cfg, opts, self.events, slots, resumed, self.lock.holder, (*gates, *user_gates)
        )
        judge, history, slow_ms = None, None, None
        if self.judge_factory is not None and opts.judge or opts.guard_s > 0:
            history = read_history(
                self.metrics, self.events, opts.baseline_history_s, self.period, self.clock()
            )
        if self.judge_factory is not None and opts.judge:
            judge = self.judge_factory(history)
            # Only the judge counts slow requests: without it the two Latency series are not read at all.
            slow_ms = slow_threshold(opts.slow_threshold_ms, history) if opts.slow_test else None
            if history is not None:
                announce_history(self.events, history, judge, opts.baseline_history_s, slow_ms)
        if opts.guard_keep_percent > 0 and opts.guard_s > 0 and slow_ms is None:
            message = (
                "--guard-keep: no slow-request threshold (no history read, and no --slow-ms), so the guard's "
                "split has no slow requests to read; the former version is kept beside the release all the "
                "same"
            )
            self.events.emit(WarningEvent(message=message))
        self.observer = Observer(
            self.cfg,
            self.metrics,
            self.alarms,
            self.stages,
            self.events,
            slots,
            self.lag_s,
            user_gates,
            slow_threshold_ms=slow_ms,
        )
        strategy, requests = choose_strategy(
            self.opts.policy,
            self.ramp_factory,
            self.metrics,
            self.events,
            self.observer.request,
            self.clock(),
        )
        settings = eio.EngineSettings(
            self.period,
            self.lag_s,
            frozenset(opts.hooks),
            opts.on_interrupt,
            prepare=True,
            approval=opts.approval,
            approval_timeout_s=opts.approval_timeout_s,
            guard_s=opts.guard_s,
            guard_keep_percent=opts.guard_keep_percent,
            tick_s=opts.policy.interval_s,
        )
        reads = judge.noise.reads if isinstance(judge, Judge) else None  # the day the judge already read
        guard = guard_factory(opts.guard_settings(), history, opts.judge_config(), reads)
        engine = Engine(settings, strategy, (*gates, *user_gates), judge, guard)
        reference = None if history is None else history.window
        self.started_at = self.clock()
        return engine, eio.Begin(self.started_at, resumed, requests, reference)

    def _drive(
        self, engine: Engine, actions: list[eio.EngineAction], slots: Slots, production, staging
    ) -> Outcome:
        while True:
            try:
                step_input = self._interpret(actions, slots, production, staging)
            except AwsError as exc:
                if not self.canary_on or engine.done:
                    raise
                self._fail_safe(engine, exc, slots, production, staging)
                raise
            if engine.done:
                return engine.outcome or Outcome.ROLLED_BACK
            assert step_input is not None, f"the engine stopped without an outcome: {actions}"
            actions = engine.step(step_input)

    def _interpret(
        self, actions: list[eio.EngineAction], slots: Slots, production, staging
    ) -> eio.Input | None:
        """Do each action; the input the engine needs next (after a eio.Prepare, a hook or a wait)."""
        step_input: eio.Input | None = None
        for action in actions:
            match action:
                case eio.Emit(event=event):
                    self._emit(event)
                case eio.Prepare():
                    act.prepare(
                        self.ports, slots, production, staging, fresh=not self.canary_on, then=self.announce
                    )
                    self.canary_on = True
                    assert self.observer is not None
                    self.observer.since = math.floor(self.clock() / self.period) * self.period
                    step_input = eio.Prepared(self.clock())
                case eio.SetShare(percent=percent):
                    self.stages.set_canary_percent(self.prod, percent)
                case eio.RunHook(hook=hook):
                    target = self.opts.hooks[hook]
                    step_input = act.run_hook(
                        self.ports,
                        action,
                        slots,
                        target,
                        self.hook_runner,
                        self.opts.hook_timeout_s,
                        self.stop,
                    )
                case eio.Wait():
                    step_input = self._wait(action, slots)
                case eio.Hold(kind=kind, until=until):
                    act.show_hold(self.ports, kind, until)
                    self.held = bool(kind)
                case eio.Promote(reason=reason, keep_percent=keep):
                    plan = self.promotion_variables
                    extra = plan(slots.candidate, self.clock()) if plan else None
                    act.promote_now(self.ports, slots, reason, extra)
                    self.canary_on = False
                    if keep > 0:
                        keep_former(self.cfg, self.stages, slots.live, slots.live_deployment, keep)
                        assert self.observer is not None
                        self.observer.former_beside = True
                case eio.ReleaseFormer():
                    release_former(self.cfg, self.stages)
                    assert self.observer is not None
                    self.observer.former_beside = False
                case eio.RollBack(reason=reason, percent=percent):
                    self._roll_back(slots, reason, percent)
                case eio.Undo(reason=reason):
                    assert self.ports.functions is not None, "undo needs the slots' functions"
                    undo(
                        self.cfg,
                        self.stages,
                        self.ports.deployments,
                        self.ports.functions,
                        self.events,
                        reason,
                        self.clock,
                    )
        return step_input

    def _wait(self, wait: eio.Wait, slots: Slots) -> eio.Input:
        if self._sleep_until(wait.until, wait.promoted):
            return eio.Interrupt(self.clock())
        self.counts_before = (self.counters[0](), self.counters[1]())
        assert self.observer is not None
        tick = act.observe(self.ports, wait, slots, self.observer, self.started_at)
        reason = self.abort(wait.promoted)
        if reason is not None:  # as `abort` would: roll back (undo while guarding) at this tick
            tick = dataclasses.replace(tick, request=eio.UserRequest(eio.ABORT, reason))
        return tick

    def _emit(self, event: object) -> None:
        if isinstance(event, TickEvent):
            calls, attempts = (
                {op: n - before.get(op, 0) for op, n in counter().items() if n - before.get(op, 0)}
                for counter, before in zip(self.counters, self.counts_before, strict=True)
            )
            event = dataclasses.replace(event, aws_calls=calls, aws_attempts=attempts)
        self.events.emit(event)  # type: ignore[arg-type]

    def _sleep_until(self, when: float, promoted: bool = False) -> bool:
        """eio.Wait until `when` on the clock (or until the plan aborts this run); True if interrupted
        (SIGINT/SIGTERM)."""
        while True:
            left = when - self.clock()
            if left <= 0 or self.abort(promoted) is not None:
                return self.stop.is_set()
            if self.sleep(min(left, 1.0)):
                return True

    def _roll_back(self, slots: Slots, reason: str, percent: float | None) -> None:
        roll_back(
            self.cfg,
            self.stages,
            self.ports.deployments,
            self.events,
            live_slot=slots.live,
            candidate_slot=slots.candidate,
            reason=reason,
            percent=percent,
            deployment_id=slots.candidate_deployment,
        )
        self.canary_on = False

    def _fail_safe(self, engine: Engine, exc: AwsError, slots: Slots, production, staging) -> None:
        """Production back on the live slot, the on-rollback hook, then the error is reported."""
        try:
            self._interpret(engine.step(eio.Failed(self.clock(), str(exc))), slots, production, staging)
        except AwsError as again:
            raise AwsError(f"{exc}; and the {again}") from None

    def _release(self) -> None:
        try:
            if self.observer is not None:
                self.observer.forget_source()
            if self.held:
                act.show_hold(self.ports, "", None)
            self.lock.release()
        except ControllerError as exc:
            self.events.emit(
                WarningEvent(message=f"could not release the lock (it expires on its own): {exc}")
            )
