"""The rollout loop: observe, decide, act, emit. Everything it touches is injected (adapters, clock, events).

Order of a fresh rollout: read both stages -> preflight (slots, alarms exist and are quiet) -> take the lease
->
snapshot the API definition into a deployment of the controller's own (CreateDeployment without a stage) ->
canary at 0% on production (that snapshot + slot override) -> pre-traffic hook -> for each step: set
the percent, bake (tick every interval: renew lease, GetMetricData, DescribeAlarms, decide) -> post-step hook
-> promote (production adopts the snapshot and the candidate slot, staging moves to the former live slot) ->
delete the controller's snapshots no stage uses any more -> release the lease.
A gate failure, a failing hook or SIGINT/SIGTERM (unless --on-interrupt leave) removes the canary instead, and
the snapshot this run made with it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Protocol

from controller.aws.deployments import Deployment
from controller.aws.lock import StageLock
from controller.aws.metrics import FunctionPair, PeriodSample
from controller.aws.stage import StageState
from controller.config import ControllerConfig
from controller.errors import AwsError, ControllerError, StateConflict, UsageError
from controller.events import Events
from controller.hooks import DEFAULT_HOOK_TIMEOUT_S, HookResult, hook_env, run_hook
from controller.judge import BaselineHistory
from controller.rollout import (
    Action,
    AdaptiveState,
    Decision,
    Observation,
    Policy,
    RolloutState,
    decide,
    decide_adaptive,
    next_tick_at,
)
from controller.snapshots import (
    DeploymentsPort,
    announce_snapshot,
    create_snapshot,
    remove_unused_snapshots,
)
from controller.stats import WindowStats, combine, stats_dict


class Outcome(Enum):
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"  # by a gate, a hook or missing data
    NOTHING_TO_DO = "nothing_to_do"
    DRY_RUN = "dry_run"
    INTERRUPTED = "interrupted"


class StagesPort(Protocol):
    def get(self, stage: str) -> StageState: ...
    def create_canary(self, stage: str, deployment_id: str, slot: str, percent: float) -> StageState: ...
    def set_canary_percent(self, stage: str, percent: float) -> StageState: ...
    def promote_canary(self, stage: str, deployment_id: str, slot: str) -> StageState: ...
    def remove_canary(self, stage: str) -> StageState: ...
    def set_slot(self, stage: str, slot: str) -> StageState: ...


class MetricsPort(Protocol):
    def fetch(self, start: float, end: float, functions: FunctionPair) -> list[PeriodSample]: ...
    def history(self, start: float, end: float) -> BaselineHistory: ...


class AlarmsPort(Protocol):
    names: tuple[str, ...]

    def states(self) -> dict[str, str]: ...


class JudgePort(Protocol):
    uses_history: bool  # the history was long enough to use
    trusts_history: bool  # and the fail test uses it too

    def observe(self, canary: WindowStats, baseline: WindowStats) -> Any: ...


class RampPort(Protocol):
    def initial_percent(self, requests_per_period: float, trusts_history: bool = False) -> float: ...
    def next_percent(self, current_percent: float, judgement: Any, requests_per_period: float) -> float: ...


HookRunner = Callable[[str, str, dict[str, str], float, threading.Event], HookResult]


# The judge's baseline history: a day covers the daily cycle of most services and is one cheap
# GetMetricData (4 series x 24 hourly sums).
DEFAULT_BASELINE_HISTORY_S = 24 * 3600.0


@dataclass(frozen=True)
class ShiftOptions:
    policy: Policy
    pre_traffic: str | None = None
    post_step: str | None = None
    on_interrupt: str = "rollback"  # or "leave"
    dry_run: bool = False
    hook_timeout_s: float = DEFAULT_HOOK_TIMEOUT_S
    metrics_lag_s: float | None = None  # None: one metric period (CloudWatch publishes with a delay)
    baseline_history_s: float = DEFAULT_BASELINE_HISTORY_S  # 0: give the judge no history
    trust_history: bool = True  # the judge's fail test may use the history (JudgeConfig.history_fail)


@dataclass
class Slots:
    live: str
    candidate: str
    live_deployment: str
    candidate_deployment: str


@dataclass
class Tracking:
    """What the loop remembers between ticks (the pure state plus bookkeeping for events)."""

    state: RolloutState
    percent: float
    ticks: int = 0
    judged: set[float] = field(default_factory=set)
    judgement: Any = None


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
        stages: StagesPort,
        deployments: DeploymentsPort,
        metrics: MetricsPort,
        alarms: AlarmsPort,
        lock: StageLock,
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
        self.cfg = cfg
        self.opts = options
        self.policy = options.policy
        self.stages = stages
        self.deployments = deployments
        self.metrics = metrics
        self.alarms = alarms
        self.lock = lock
        self.events = events
        self.clock = clock
        self.stop = stop or threading.Event()
        self.judge_factory = judge_factory
        self.ramp_factory = ramp_factory
        self.hook_runner = hook_runner
        self.call_counter = call_counter
        self.attempt_counter = attempt_counter
        # Waits up to the given seconds; True when interrupted. Tests pass a fake that advances a fake clock.
        self.sleep = sleep or self.stop.wait
        self.prod = cfg.production_stage
        self.lag_s = cfg.metrics.period_seconds if options.metrics_lag_s is None else options.metrics_lag_s
        self.judge: JudgePort | None = None
        self.snapshot: Deployment | None = None  # the deployment this run created (None when resuming)

    # -- entry -----------------------------------------------------------------------------------------

    def run(self) -> Outcome:
        if self.policy.plan.adaptive and (self.judge_factory is None or self.ramp_factory is None):
            raise UsageError(
                "--strategy adaptive is driven by the statistical judge and the ramp; drop --no-judge"
            )
        production = self.stages.get(self.prod)
        staging = self.stages.get(self.cfg.staging_stage)
        slots = self._slots(production, staging)
        if slots is None:
            return Outcome.NOTHING_TO_DO
        canary = production.canary
        resuming = canary is not None
        if canary is not None and production.canary_slot(self.cfg.slot_variable) != slots.candidate:
            found = production.canary_slot(self.cfg.slot_variable) or "no slot override"
            raise StateConflict(
                f"production already has a canary at {canary.percent:g}% for {found}, not for the candidate "
                f"{slots.candidate}; run `python -m controller rollback` first"
            )
        if canary is not None and canary.deployment_id:
            slots.candidate_deployment = canary.deployment_id  # resume exactly what is on the stage
        states = self._preflight_alarms(quiet_required=not resuming)
        if self.opts.dry_run:
            self._emit_plan(slots, production, states)
            return Outcome.DRY_RUN
        self.lock.check_free(production)
        confirmed, taken_over = self.lock.acquire(production)
        if taken_over is not None:
            self.events.emit(
                "lock", message=f"took over the stale lock of {taken_over.holder}", holder=self.lock.holder
            )
        try:
            self._unchanged_since_preflight(production, staging, confirmed)
            if canary is None:
                # Never staging's deployment: Terraform replaces it at the next definition change, and AWS
                # refuses to delete a deployment production points at (docs/controller.md, "Deployments").
                # Nothing is on the stage yet, so a failure here has nothing to undo.
                self.snapshot = create_snapshot(
                    self.deployments,
                    slots.candidate,
                    self.cfg.slot(slots.candidate).version_label,
                    self.clock(),
                )
                slots.candidate_deployment = self.snapshot.id
        except BaseException:
            self._release_lock()
            raise
        try:
            return self._drive(slots, canary.percent if canary is not None else None)
        except AwsError as exc:
            # A stage change or the lease failed after botocore's retries: the rollout cannot be trusted
            # to continue, so put production back on the live slot before reporting the error.
            self._fail_safe(slots, exc)
            raise
        finally:
            self._release_lock()

    def _unchanged_since_preflight(
        self, production: StageState, staging: StageState, now: StageState
    ) -> None:
        """The stages were read before the lease was ours: another run may have finished in between."""
        later = self.stages.get(self.cfg.staging_stage)
        var = self.cfg.slot_variable
        before = (
            production.deployment_id,
            production.variable(var),
            production.canary,
            staging.variable(var),
        )
        after = (now.deployment_id, now.variable(var), now.canary, later.variable(var))
        if before != after or staging.deployment_id != later.deployment_id:
            raise StateConflict(
                "the stages changed while this run was starting (another controller?); rerun shift"
            )

    def _release_lock(self) -> None:
        try:
            self.lock.release()
        except ControllerError as exc:
            self.events.emit("warning", message=f"could not release the lock (it expires on its own): {exc}")

    # -- preflight ---------------------------------------------------------------------------------------

    def _slots(self, production: StageState, staging: StageState) -> Slots | None:
        var = self.cfg.slot_variable
        live, candidate = production.variable(var), staging.variable(var)
        known = self.cfg.slot_names
        for stage, slot in ((self.prod, live), (self.cfg.staging_stage, candidate)):
            if slot is None:
                raise StateConflict(f"stage {stage} has no {var!r} stage variable; apply the module first")
            if slot not in known:
                raise StateConflict(
                    f"stage {stage} serves slot {slot!r}, which is not in controller_config.slots {known}"
                )
        if live == candidate and production.canary is None:
            self.events.emit(
                "nothing_to_do",
                message=f"production and staging both serve {live}: nothing to shift (if a promotion was "
                "interrupted, `python -m controller promote` finishes it)",
                live_slot=live,
            )
            return None
        return Slots(live, candidate, production.deployment_id, staging.deployment_id)

    def _preflight_alarms(self, quiet_required: bool) -> dict[str, str]:
        if not self.alarms.names:
            return {}
        states = self.alarms.states()
        missing = [name for name in self.alarms.names if name not in states]
        if missing:
            raise StateConflict(
                f"alarm(s) named in controller_config do not exist: {', '.join(missing)}; "
                "a gate on a missing "
                "alarm would never fire (re-apply the module or fix alarm_names)"
            )
        firing = [name for name, state in states.items() if state == "ALARM"]
        if quiet_required and firing:
            raise StateConflict(
                f"alarm(s) already in ALARM before any traffic moved: {', '.join(firing)}; "
                "fix production first"
            )
        return states

    def _emit_plan(self, slots: Slots, production: StageState, states: dict[str, str]) -> None:
        steps = self.policy.plan.steps
        t = self.policy.thresholds
        live_v = self.cfg.slot(slots.live).version_label
        cand_v = self.cfg.slot(slots.candidate).version_label
        start = 0
        if production.canary is not None:
            start = self.policy.plan.first_step_at_or_above(production.canary.percent)
        lines = [
            f"Plan (dry run, nothing changed) for {self.cfg.api_name} stage {self.prod}:",
            f"  live slot {slots.live} {live_v} (deployment {slots.live_deployment})",
            f"  candidate {slots.candidate} {cand_v} "
            + (
                f"(the canary's deployment {slots.candidate_deployment})"
                if production.canary is not None
                else f"(a new deployment: a snapshot of the API definition {self.cfg.staging_stage} serves, "
                f"deployment {slots.candidate_deployment} now)"
            ),
        ]
        if production.canary is not None:
            lines.append(
                f"  resume: canary already at {production.canary.percent:g}%, "
                f"continuing from step {start + 1}"
            )
        for index, step in enumerate(steps[start:], start=start + 1):
            lines.append(f"  step {index}/{len(steps)}: {step.percent:g}% for {step.bake_s:g}s")
        if self.policy.plan.adaptive:
            lines.append(
                "  adaptive: the ramp sizes the share after each judged metric period; the judge's PASS "
                f"promotes, its FAIL rolls back; undecided after {self.policy.plan.max_duration_s:g}s "
                "rolls back"
            )
        lines += [
            f"  then promote: production -> {slots.candidate}; staging -> {slots.live}",
            f"  ticks every {self.policy.interval_s:g}s; metric period {self.cfg.metrics.period_seconds}s",
            f"  gates: canary 5xx <= {t.max_5xx_rate:.1%} and <= {t.max_5xx_ratio:g}x baseline; "
            + (f"p99 <= {t.max_p99_ms:g} ms and " if t.max_p99_ms else "")
            + f"p99 <= {t.max_p99_ratio:g}x baseline + {t.p99_slack_ms:g} ms; "
            + f">= {t.min_requests} requests per step",
            "  alarms: " + (", ".join(f"{n} ({s})" for n, s in states.items()) or "none configured"),
        ]
        if self.judge_factory is not None:
            lines.append("  statistical judge: on (a FAIL verdict rolls back)")
            window = self.opts.baseline_history_s
            lines.append(
                f"  baseline history: the live version's last {window / 3600:g} h, "
                + (
                    "trusted by the fail test too, while today's baseline agrees with it"
                    if self.opts.trust_history
                    else "for the pass test and the ramp only (--no-trust-baseline-history)"
                )
                if window > 0
                else "  baseline history: none (--baseline-history 0)"
            )
        if self.opts.pre_traffic:
            lines.append(f"  pre-traffic hook: {self.opts.pre_traffic}")
        if self.opts.post_step:
            lines.append(f"  post-step hook: {self.opts.post_step}")
        self.events.emit(
            "plan",
            lines=lines,
            live_slot=slots.live,
            candidate_slot=slots.candidate,
            steps=[s.percent for s in steps],
            bakes_s=[s.bake_s for s in steps],
            start_step=start + 1,
            alarms=states,
        )

    # -- the rollout ---------------------------------------------------------------------------------------

    def _drive(self, slots: Slots, current_percent: float | None) -> Outcome:
        plan = self.policy.plan
        self.events.emit(
            "run_started",
            api_name=self.cfg.api_name,
            stage=self.prod,
            strategy=plan.name,
            live_slot=slots.live,
            candidate_slot=slots.candidate,
            live_version=self.cfg.slot(slots.live).version_label,
            candidate_version=self.cfg.slot(slots.candidate).version_label,
            candidate_deployment=slots.candidate_deployment,
            steps=[s.percent for s in plan.steps],
            bakes_s=[s.bake_s for s in plan.steps],
            interval_s=self.policy.interval_s,
            bake_s=max((s.bake_s for s in plan.steps), default=0),
            thresholds={
                "error_rate": self.policy.thresholds.max_5xx_rate,
                "p99_ms": self.policy.thresholds.max_p99_ms,
            },
            resumed_from=current_percent,
            holder=self.lock.holder,
        )
        if self.snapshot is not None:
            announce_snapshot(self.events, self.snapshot, slots.candidate)
        if self.judge_factory is not None:
            history = self._baseline_history()
            self.judge = self.judge_factory(history)
            if history is not None:
                self._announce_history(history, self.judge)
        if current_percent is None:
            self.stages.create_canary(self.prod, slots.candidate_deployment, slots.candidate, 0.0)
        if not current_percent:  # no production traffic has moved yet
            failed = self._run_hook("pre-traffic", self.opts.pre_traffic, slots, 0.0, 0)
            if failed is not None:
                self.events.emit("gate_failed", step=0, percent=0.0, gate="pre-traffic hook", reason=failed)
                return self._rollback(slots, failed, 0.0)
            if self.stop.is_set():
                return self._interrupted(slots, 0.0)
            index = 0
        else:
            index = plan.first_step_at_or_above(current_percent)
        if plan.adaptive:
            return self._run_adaptive(slots, current_percent or 0.0)
        while True:
            outcome = self._run_step(slots, index)
            if isinstance(outcome, Outcome):
                return outcome
            index = outcome

    def _run_step(self, slots: Slots, index: int) -> Outcome | int:
        step = self.policy.plan.steps[index]
        self.stages.set_canary_percent(self.prod, step.percent)
        track = Tracking(RolloutState(index, self.clock()), step.percent)
        self.events.emit(
            "step_started",
            step=index + 1,
            steps=len(self.policy.plan.steps),
            percent=step.percent,
            bake_s=step.bake_s,
        )
        while True:
            wake = track.state.step_started_at if (step.bake_s == 0 and track.ticks == 0) else None
            if wake is None:
                wake = next_tick_at(track.state, self.clock(), self.policy)
            if self._sleep_until(wake):
                return self._interrupted(slots, track.percent)
            decision = self._tick(slots, track)
            if decision.action is Action.WAIT:
                continue
            if decision.action is Action.ROLLBACK:
                for gate in decision.failed_gates or ():
                    self.events.emit(
                        "gate_failed",
                        step=index + 1,
                        percent=track.percent,
                        gate=gate.gate,
                        reason=gate.reason,
                    )
                if not decision.failed_gates:
                    self.events.emit(
                        "gate_failed",
                        step=index + 1,
                        percent=track.percent,
                        gate="data",
                        reason=decision.reason,
                    )
                return self._rollback(slots, decision.reason, track.percent)
            failed = self._run_hook("post-step", self.opts.post_step, slots, track.percent, index + 1)
            if failed is not None:
                self.events.emit(
                    "gate_failed", step=index + 1, percent=track.percent, gate="post-step hook", reason=failed
                )
                return self._rollback(slots, failed, track.percent)
            if self.stop.is_set():
                return self._interrupted(slots, track.percent)
            if decision.action is Action.PROMOTE:
                return self._promote(slots, decision.reason)
            assert decision.next_step_index is not None
            return decision.next_step_index

    def _run_adaptive(self, slots: Slots, current_percent: float) -> Outcome:
        """Judge-driven: the ramp sets the next share after each judged period; the judge's PASS promotes."""
        assert self.ramp_factory is not None, "the adaptive strategy needs a ramp"
        ramp = self.ramp_factory()
        rpp = self._recent_requests_per_period(slots)
        trusting = self.judge is not None and self.judge.trusts_history
        percent = current_percent or ramp.initial_percent(rpp, trusting)
        started = self.clock()
        step = 1
        self._set_adaptive_percent(percent, step)
        track = Tracking(RolloutState(0, self.clock()), percent)
        state = AdaptiveState(started, percent, track.state.step_started_at, track.state.step_started_at)
        while True:
            if self._sleep_until(self.clock() + self.policy.interval_s):
                return self._interrupted(slots, track.percent)
            before = self._counts()
            self._check_canary(self.lock.renew(), slots, track.percent)
            obs, alarm_states, judged_now = self._observe(track, slots)
            proposal = None
            if judged_now and obs.judgement is not None:
                latest = judged_now[-1]
                if latest.canary.requests + latest.baseline.requests > 0:
                    rpp = latest.canary.requests + latest.baseline.requests
                proposal = ramp.next_percent(track.percent, obs.judgement, rpp)
                if any(s.canary.requests > 0 for s in judged_now):
                    state = replace(state, last_evidence_at=obs.at)
            decision = decide_adaptive(state, obs, self.policy, proposal)
            track.ticks += 1
            self._emit_tick(track, obs, decision, alarm_states, before)
            if decision.action is Action.WAIT:
                continue
            if decision.action is Action.ROLLBACK:
                for gate in decision.failed_gates or ():
                    self.events.emit(
                        "gate_failed", step=step, percent=track.percent, gate=gate.gate, reason=gate.reason
                    )
                if not decision.failed_gates:
                    self.events.emit(
                        "gate_failed", step=step, percent=track.percent, gate="judge", reason=decision.reason
                    )
                return self._rollback(slots, decision.reason, track.percent)
            failed = self._run_hook("post-step", self.opts.post_step, slots, track.percent, step)
            if failed is not None:
                self.events.emit(
                    "gate_failed", step=step, percent=track.percent, gate="post-step hook", reason=failed
                )
                return self._rollback(slots, failed, track.percent)
            if self.stop.is_set():
                return self._interrupted(slots, track.percent)
            if decision.action is Action.PROMOTE:
                return self._promote(slots, decision.reason)
            assert decision.next_percent is not None
            step += 1
            self._set_adaptive_percent(decision.next_percent, step)
            now = self.clock()
            track = Tracking(
                RolloutState(0, now), decision.next_percent, judged=track.judged, judgement=track.judgement
            )
            state = replace(state, percent=decision.next_percent, percent_since=now)

    def _baseline_history(self) -> BaselineHistory | None:
        """What the live version served before this rollout (stage minus canary), for the judge.

        The window ends at the last whole metric period; on a resumed run it covers the canary's time too,
        which stage minus canary leaves out. Unreadable history is a warning: the judge then runs on the
        concurrent baseline alone.
        """
        window = self.opts.baseline_history_s
        if window <= 0:
            return None
        period = self.cfg.metrics.period_seconds
        end = math.floor(self.clock() / period) * period
        try:
            return self.metrics.history(end - window, end)
        except AwsError as exc:
            self.events.emit("warning", message=f"baseline history unavailable, judging without it: {exc}")
            return None

    def _announce_history(self, history: BaselineHistory, judge: JudgePort) -> None:
        self.events.emit(
            "baseline_history",
            window_s=self.opts.baseline_history_s,
            requests=history.requests,
            errors_5xx=history.errors_5xx,
            error_rate=history.errors_5xx / history.requests if history.requests else None,
            used=judge.uses_history,
            trusted=judge.trusts_history,
        )

    def _set_adaptive_percent(self, percent: float, step: int) -> None:
        self.stages.set_canary_percent(self.prod, percent)
        self.events.emit("step_started", step=step, steps=None, percent=percent, bake_s=None)

    def _recent_requests_per_period(self, slots: Slots) -> float:
        """The stage's requests in its latest complete period before the canary (sizes the first share)."""
        period = self.cfg.metrics.period_seconds
        end = math.floor(self.clock() / period) * period
        try:
            samples = self.metrics.fetch(end - 5 * period, end, self._functions(slots))
        except AwsError as exc:
            self.events.emit("warning", message=f"could not size the first canary share: {exc}")
            return 0.0
        with_data = [s for s in samples if s.has_data]
        if not with_data:
            return 0.0
        return float(with_data[-1].canary.requests + with_data[-1].baseline.requests)

    def _counts(self) -> tuple[dict[str, int], dict[str, int]]:
        calls = dict(self.call_counter()) if self.call_counter else {}
        attempts = dict(self.attempt_counter()) if self.attempt_counter else {}
        return calls, attempts

    def _tick(self, slots: Slots, track: Tracking) -> Decision:
        before = self._counts()
        stage = self.lock.renew()
        self._check_canary(stage, slots, track.percent)
        obs, alarm_states, _ = self._observe(track, slots)
        decision = decide(track.state, obs, self.policy)
        track.ticks += 1
        self._emit_tick(track, obs, decision, alarm_states, before)
        return decision

    def _emit_tick(
        self,
        track: Tracking,
        obs: Observation,
        decision: Decision,
        alarm_states: dict[str, str],
        before: tuple[dict[str, int], dict[str, int]],
    ) -> None:
        after = self._counts()
        calls, attempts = (
            {op: n - earlier.get(op, 0) for op, n in later.items() if n - earlier.get(op, 0)}
            for earlier, later in zip(before, after, strict=True)
        )
        self.events.emit(
            "tick",
            step=track.state.step_index + 1,
            percent=track.percent,
            canary=stats_dict(obs.canary),
            baseline=stats_dict(obs.baseline),
            verdict=decision.verdict,
            reason=decision.reason,
            bake_left_s=round(decision.bake_left_s, 1),
            alarms=alarm_states,
            gates=[{"gate": g.gate, "status": g.status.value, "reason": g.reason} for g in decision.gates],
            aws_calls=calls,
            aws_attempts=attempts,
            judge=None
            if obs.judgement is None
            else {"verdict": obs.judgement.verdict.name, "reason": obs.judgement.reason},
        )

    def _check_canary(self, stage: StageState, slots: Slots, percent: float) -> None:
        canary = stage.canary
        slot = stage.canary_slot(self.cfg.slot_variable)
        if (
            canary is None
            or slot != slots.candidate
            or not math.isclose(canary.percent, percent, abs_tol=0.01)
        ):
            now = "no canary" if canary is None else f"canary {canary.percent:g}% for {slot}"
            raise StateConflict(
                "production changed under the controller "
                f"(expected canary {percent:g}% for {slots.candidate}, "
                f"found {now}); someone ran rollback or promote: stopping without touching the stage"
            )

    def _functions(self, slots: Slots) -> FunctionPair:
        # Per-slot Lambda Duration gives the baseline's latency; the stage's Latency mixes both versions.
        return FunctionPair(
            live=self.cfg.slot(slots.live).function_name,
            candidate=self.cfg.slot(slots.candidate).function_name,
        )

    def _observe(
        self, track: Tracking, slots: Slots
    ) -> tuple[Observation, dict[str, str], list[PeriodSample]]:
        """One GetMetricData and one DescribeAlarms.

        Gates read every complete period since the step started (the whole window is re-read each tick, so
        a datapoint CloudWatch publishes late is counted at the next tick). The judge reads each period once,
        so it only gets periods old enough to be settled (`metrics_lag_s`, one period by default).
        """
        now = self.clock()
        period = self.cfg.metrics.period_seconds
        start = math.ceil(track.state.step_started_at / period) * period
        end = math.floor(now / period) * period
        settled = math.floor((now - self.lag_s) / period) * period
        samples: list[PeriodSample] = []
        if end > start:
            try:
                samples = self.metrics.fetch(start, end, self._functions(slots))
            except AwsError as exc:
                self.events.emit(
                    "warning", message=f"metrics unavailable this tick (counted as no data): {exc}"
                )
        samples = [s for s in samples if start <= s.start < end]
        judged_now: list[PeriodSample] = []
        if self.judge is not None:
            for sample in samples:
                if sample.start + period <= settled and sample.start not in track.judged and sample.has_data:
                    track.judged.add(sample.start)
                    track.judgement = self.judge.observe(sample.canary, sample.baseline)
                    judged_now.append(sample)
        states: dict[str, str] = {}
        known = True
        if self.alarms.names:
            try:
                states = self.alarms.states()
            except AwsError as exc:
                known = False
                self.events.emit("warning", message=f"alarm states unavailable this tick: {exc}")
        firing = tuple(name for name in self.alarms.names if states.get(name) == "ALARM")
        obs = Observation(
            at=now,
            canary=combine(s.canary for s in samples),
            baseline=combine(s.baseline for s in samples),
            alarms_in_alarm=firing,
            alarms_known=known,
            judgement=track.judgement,
        )
        return obs, states, judged_now

    # -- actions -----------------------------------------------------------------------------------------

    def _fail_safe(self, slots: Slots, exc: AwsError) -> None:
        try:
            self.stages.remove_canary(self.prod)
        except AwsError as again:
            raise AwsError(
                f"{exc}; and the rollback failed too ({again}): run `python -m controller rollback`"
            ) from None
        self.events.emit(
            "rolled_back",
            live_slot=slots.live,
            candidate_slot=slots.candidate,
            reason=f"AWS error: {exc}",
            percent=None,
        )
        self._remove_canary_snapshot(slots)

    def _sleep_until(self, when: float) -> bool:
        """Wait until `when` on the clock; True if interrupted (SIGINT/SIGTERM)."""
        while True:
            left = when - self.clock()
            if left <= 0:
                return self.stop.is_set()
            if self.sleep(min(left, 1.0)):
                return True

    def _run_hook(
        self, name: str, command: str | None, slots: Slots, percent: float, step: int
    ) -> str | None:
        """Run a hook if configured; the failure reason, or None when it passed (or there is none)."""
        if not command:
            return None
        self.lock.extend_for(self.opts.hook_timeout_s)
        env = hook_env(
            hook=name,
            production_url=self.cfg.production_url,
            staging_url=self.cfg.staging_url,
            percent=percent,
            step=step,
            live_slot=slots.live,
            candidate_slot=slots.candidate,
            api_id=self.cfg.api_id,
            stage=self.prod,
        )
        result = self.hook_runner(name, command, env, self.opts.hook_timeout_s, self.stop)
        self.events.emit(
            "hook",
            hook=name,
            command=command,
            exit_code=result.exit_code,
            seconds=round(result.seconds, 2),
            percent=percent,
        )
        if self.stop.is_set() and not result.ok:
            return None  # interrupted, not failed: the caller handles the interrupt
        return None if result.ok else result.describe()

    def _rollback(self, slots: Slots, reason: str, percent: float) -> Outcome:
        try:
            self.stages.remove_canary(self.prod)
        except AwsError as exc:
            raise AwsError(
                f"rollback failed ({exc}); run `python -m controller rollback` to remove the canary"
            ) from None
        self.events.emit(
            "rolled_back",
            live_slot=slots.live,
            candidate_slot=slots.candidate,
            reason=reason,
            percent=percent,
        )
        self._remove_canary_snapshot(slots)
        return Outcome.ROLLED_BACK

    def _remove_canary_snapshot(self, slots: Slots) -> None:
        """The canary's deployment, once no stage uses it, if it is a controller snapshot (this run's, or a
        resumed canary's); Terraform's deployments are left alone by their description."""
        if slots.candidate_deployment:
            remove_unused_snapshots(self.deployments, self.events, only={slots.candidate_deployment})

    def _promote(self, slots: Slots, reason: str) -> Outcome:
        self.stages.promote_canary(self.prod, slots.candidate_deployment, slots.candidate)
        self.stages.set_slot(self.cfg.staging_stage, slots.live)
        self.events.emit(
            "promoted",
            live_slot=slots.candidate,
            candidate_slot=slots.candidate,
            staging_slot=slots.live,
            deployment_id=slots.candidate_deployment,
            reason=reason,
        )
        # Still under the lease, so no other run's fresh snapshot can be caught between create and canary.
        remove_unused_snapshots(self.deployments, self.events)
        return Outcome.PROMOTED

    def _interrupted(self, slots: Slots, percent: float) -> Outcome:
        if self.opts.on_interrupt == "leave":
            self.events.emit(
                "interrupted",
                message=f"interrupted: canary left at {percent:g}% for {slots.candidate}; "
                "rerun shift to resume, "
                "or run rollback",
                percent=percent,
                action="leave",
            )
            return Outcome.INTERRUPTED
        self.events.emit(
            "interrupted", message="interrupted: rolling back", percent=percent, action="rollback"
        )
        self._rollback(slots, "interrupted (SIGINT/SIGTERM)", percent)
        return Outcome.INTERRUPTED
