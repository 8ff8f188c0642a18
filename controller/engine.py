"""The rollout engine: one pure state machine that `shift` and the benchmark both run.

    engine = Engine(settings, strategy, gates, judge, guard_factory)
    actions = engine.step(Begin(at, resumed_percent, requests_per_period, reference))
    actions = engine.step(Prepared(at))                                 # after a Prepare
    actions = engine.step(Tick(at, samples, alarms, user_metrics, request))   # after each Wait
    actions = engine.step(HookFinished(at, hook, ok, reason))           # after each RunHook
    actions = engine.step(Interrupt(at)) / engine.step(Failed(at, why)) # SIGINT/SIGTERM, an AWS failure

It owns what a rollout decides: which metric periods the judge reads (each settled period exactly once,
`metrics_lag_s` after it ends), the gates over the current step's periods, the strategy (fixed steps or
adaptive), when each hook point runs (controller/engine_io.py lists them in order), the approval hold and
pause (gates keep judging while held), the post-promotion guard, and the typed events that say why. It does
no I/O and reads no clock: every input carries its time. The runner (controller/runner.py) interprets the
actions against AWS; the benchmark's policy for ours (bench/ours.py) interprets them in virtual time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from controller import event_types as ev
from controller import lifecycle_events as lev
from controller.domain import EMPTY_WINDOW, Judgement, Outcome, PeriodSample, WindowStats
from controller.engine_events import rollback_events, tick_event
from controller.engine_hold import HoldMixin
from controller.engine_io import (  # noqa: F401 - re-exported: the engine's vocabulary
    ABORT,
    APPROVE,
    CONFIRM_PROMOTION,
    CONFIRM_ROLLOUT,
    HOOK_POINTS,
    ON_ROLLBACK,
    PAUSE,
    POST_PROMOTION,
    POST_STEP,
    PRE_TRAFFIC,
    RESUME,
    Begin,
    Emit,
    EngineAction,
    EngineSettings,
    Failed,
    Hold,
    HookFinished,
    Input,
    Interrupt,
    Leave,
    Prepare,
    Prepared,
    Promote,
    Refuse,
    RollBack,
    RunHook,
    SetShare,
    Tick,
    Undo,
    UserRequest,
    Wait,
)
from controller.gates import Gate, GateInput, GateValue, evaluate
from controller.guard import GuardFactory, GuardTest
from controller.judge.outliers import Outliers
from controller.stats import combine, paired_tails, tail_latency
from controller.strategies import Action, Decision, Share, StepView, Strategy


class JudgePort(Protocol):
    uses_history: bool  # the history was long enough to use
    trusts_history: bool  # and the fail test uses it too
    carries_lasting_noise: bool  # the history's noise lasts and the judge's tests carry it
    outliers: Outliers  # the history's periods its noise model cannot explain (spikes)
    caps_outliers: bool  # and the judge's fail test caps each period's evidence for their share

    def observe(self, canary: WindowStats, baseline: WindowStats) -> Judgement: ...


def _plain_guard(
    reference: WindowStats, today: WindowStats | None = None, beside: Sequence[WindowStats] = ()
) -> GuardTest:
    return GuardTest(reference, today=today)


@dataclass
class EngineState:
    # new | confirm_rollout | preparing | pre_traffic | step | post_step | paused | approval |
    # confirm_promotion | guard | post_promotion | on_rollback | done
    phase: str = "new"
    share: Share | None = None
    rollout_started_at: float = 0.0
    step_started_at: float = 0.0
    last_evidence_at: float = 0.0
    ticks: int = 0
    samples: dict[float, PeriodSample] = field(default_factory=dict)
    judged: set[float] = field(default_factory=set)
    user_metrics: dict[str, dict[float, GateValue]] = field(default_factory=dict)
    judgement: Judgement | None = None
    pending: Decision | None = None  # waiting for the post-step hook
    settled_upto: float = 0.0  # every period before this has been read by the judge, or skipped
    # The first whole period after the canary got its first share: earlier periods may hold another run's
    # canary traffic (the dimension is the stage's), so neither the gates nor the judge read them.
    first_period: float | None = None
    first_share: Share | None = None  # the share to start at once the pre-traffic hook passes
    begin: Begin | None = None
    held_since: float = 0.0
    hold_until: float | None = None
    promote_reason: str = ""
    promoted_at: float = 0.0
    guard: GuardTest | None = None
    guarded: set[float] = field(default_factory=set)
    outcome: Outcome | None = None
    problems: list[str] = field(default_factory=list)  # hooks that failed after the decision


class Engine(HoldMixin):
    def __init__(
        self,
        settings: EngineSettings,
        strategy: Strategy,
        gates: Sequence[Gate],
        judge: JudgePort | None = None,
        guard_factory: GuardFactory | None = None,
    ) -> None:
        self.settings = settings
        self.strategy = strategy
        self.gates = tuple(gates)
        self.judge = judge
        self.guard_factory = guard_factory or _plain_guard
        self.state = EngineState()

    @property
    def percent(self) -> float:
        return 0.0 if self.state.share is None else self.state.share.percent

    @property
    def done(self) -> bool:
        return self.state.phase == "done"

    @property
    def outcome(self) -> Outcome | None:
        """How the rollout ended (set once done)."""
        return self.state.outcome

    def step(self, event: Input) -> list[EngineAction]:
        if self.done:
            raise RuntimeError("the rollout is over; start a new engine")
        match event:
            case Begin():
                return self._begin(event)
            case Prepared():
                return self._start(event.at)
            case Tick():
                return self._tick(event)
            case HookFinished():
                return self._hook_finished(event)
            case Interrupt():
                return self._interrupt()
            case Failed():
                return self._failed(event)
        raise TypeError(f"not an engine input: {event!r}")

    # -- flow ------------------------------------------------------------------------------------------

    def _begin(self, begin: Begin) -> list[EngineAction]:
        s = self.state
        s.begin = begin
        if not self.settings.prepare:
            return self._start(begin.at)
        if not begin.resumed_percent and CONFIRM_ROLLOUT in self.settings.hooks:
            s.phase = "confirm_rollout"
            return [RunHook(CONFIRM_ROLLOUT, 0.0, 0)]
        s.phase = "preparing"
        return [Prepare()]

    def _start(self, at: float) -> list[EngineAction]:
        s, begin = self.state, self.state.begin
        assert begin is not None
        s.rollout_started_at = s.last_evidence_at = at
        s.settled_upto = math.floor(at / self.settings.period_s) * self.settings.period_s
        trusts = self.judge is not None and self.judge.trusts_history
        first = self.strategy.first_share(begin.resumed_percent, begin.requests_per_period, trusts)
        s.share = first
        if not begin.resumed_percent and PRE_TRAFFIC in self.settings.hooks:
            s.phase = "pre_traffic"
            s.share, s.first_share = Share(0.0, 0, first.steps, first.bake_s), first
            return [RunHook(PRE_TRAFFIC, 0.0, 0)]
        return self._enter(first, at)

    def _enter(self, share: Share, at: float) -> list[EngineAction]:
        s = self.state
        if s.first_period is None:
            period = self.settings.period_s
            s.first_period = math.ceil(at / period) * period
            s.settled_upto = max(s.settled_upto, s.first_period)
        s.phase, s.share, s.step_started_at, s.ticks = "step", share, at, 0
        started = ev.StepStarted(
            step=share.step, steps=share.steps, percent=share.percent, bake_s=share.bake_s
        )
        return [SetShare(share.percent), Emit(started), self._wait(at)]

    def _wait(self, now: float) -> Wait:
        s = self.state
        assert s.share is not None
        until = self.strategy.next_wake(now, s.share, s.step_started_at, s.ticks)
        return Wait(until, self._fetch_from(), s.share.percent)

    def _fetch_from(self) -> float:
        """The step's first period (the gates read from it), or an earlier one the judge has yet to read."""
        period = self.settings.period_s
        window = math.floor(self.state.step_started_at / period) * period
        if self.state.first_period is not None:
            window = max(window, self.state.first_period)
        return min(window, self.state.settled_upto)

    def _hook_finished(self, done: HookFinished) -> list[EngineAction]:
        s = self.state
        if s.phase in ("post_promotion", "on_rollback"):
            if not done.ok:
                s.problems.append(done.reason)
                if s.outcome is Outcome.PROMOTED:
                    s.outcome = Outcome.PROMOTED_HOOK_FAILED
                return self._finish([Emit(ev.WarningEvent(message=f"{done.reason}; nothing else changed"))])
            return self._finish([])
        if not done.ok:
            gate = ev.GateFailed(
                step=self._step(), percent=self.percent, gate=f"{done.hook} hook", reason=done.reason
            )
            if s.phase == "confirm_rollout":
                refused = lev.Refused(reason=f"{done.reason}: nothing was changed")
                s.outcome = Outcome.ROLLED_BACK
                return self._finish([Emit(gate), Emit(refused), Refuse(done.reason)])
            return self._roll_back(done.reason, [Emit(gate)])
        if s.phase == "confirm_rollout":
            s.phase = "preparing"
            return [Prepare()]
        if s.phase == "pre_traffic":
            assert s.first_share is not None
            s.rollout_started_at = s.last_evidence_at = done.at
            return self._enter(s.first_share, done.at)
        if s.phase == "confirm_promotion":
            return self._promote(done.at)
        assert s.phase == "post_step" and s.pending is not None, f"a hook finished in phase {s.phase}"
        return self._apply(s.pending, done.at)

    def _interrupt(self) -> list[EngineAction]:
        s, percent = self.state, self.percent
        if s.phase == "guard":
            return self._end_guard(
                "STOPPED",
                "interrupted while guarding: the release stays promoted, "
                "the post-promotion hook does not run",
                Outcome.INTERRUPTED,
            )
        if s.phase in ("post_promotion", "on_rollback"):
            return self._finish([])
        if self.settings.on_interrupt == "leave":
            message = f"interrupted: canary left at {percent:g}%; rerun shift to resume, or run rollback"
            s.outcome = Outcome.INTERRUPTED
            return self._finish(
                [Emit(ev.Interrupted(message=message, percent=percent, action="leave")), Leave(percent)]
            )
        note = ev.Interrupted(message="interrupted: rolling back", percent=percent, action="rollback")
        return self._roll_back("interrupted (SIGINT/SIGTERM)", [Emit(note)], Outcome.INTERRUPTED)

    def _failed(self, failed: Failed) -> list[EngineAction]:
        if self.state.phase in ("guard", "post_promotion", "on_rollback"):
            if self.state.phase == "guard":
                return self._end_guard(
                    "STOPPED", f"AWS error while guarding: {failed.reason}", Outcome.INTERRUPTED
                )
            return self._finish([])
        return self._roll_back(f"AWS error: {failed.reason}", [], Outcome.INTERRUPTED)

    def _roll_back(
        self, reason: str, before: list[EngineAction], outcome: Outcome = Outcome.ROLLED_BACK
    ) -> list[EngineAction]:
        """Remove the canary, then the on-rollback hook (when configured)."""
        s = self.state
        s.outcome = outcome
        actions = [*before, *self._clear_hold(), RollBack(reason, self.percent, outcome)]
        return self._after_undo(actions, reason)

    def _after_undo(self, actions: list[EngineAction], reason: str) -> list[EngineAction]:
        if ON_ROLLBACK in self.settings.hooks:
            self.state.phase = "on_rollback"
            return [*actions, RunHook(ON_ROLLBACK, self.percent, self._step(), reason)]
        return self._finish(actions)

    def _finish(self, actions: list[EngineAction]) -> list[EngineAction]:
        self.state.phase = "done"
        return actions

    def _step(self) -> int:
        return 0 if self.state.share is None else self.state.share.step

    # -- a tick ----------------------------------------------------------------------------------------

    def _tick(self, tick: Tick) -> list[EngineAction]:
        s = self.state
        assert s.phase in ("step", "paused", "approval", "guard"), f"a tick in phase {s.phase}"
        for sample in tick.samples:
            s.samples[sample.start] = sample
        for name, values in tick.user_metrics.items():
            s.user_metrics.setdefault(name, {}).update((v.start, v) for v in values)
        judged_now = self._judge_settled(tick.at)
        if s.phase == "guard":
            return self._guard_tick(tick)
        if tick.request is not None:
            handled = self._request(tick.request, tick.at)
            if handled is not None:
                return handled
        assert s.share is not None
        window = self._step_window(tick.at)
        canary_periods = frozenset(p.start for p in window if p.canary.requests > 0)
        data = GateInput(
            canary=combine(p.canary for p in window) if window else EMPTY_WINDOW,
            baseline=combine(p.baseline for p in window) if window else EMPTY_WINDOW,
            alarms=tick.alarms,
            judgement=s.judgement,
            user_metrics={
                name: [v for start, v in sorted(values.items()) if self._in_step(start, tick.at)]
                for name, values in s.user_metrics.items()
            },
            canary_periods=canary_periods,
            canary_tail=tail_latency(p.canary for p in window),
            paired_tail=paired_tails((p.canary, p.baseline) for p in window),
        )
        results = evaluate(self.gates, data)
        if s.phase in ("paused", "approval"):
            return self._held_tick(tick, data, results)
        view = StepView(
            at=tick.at,
            share=s.share,
            step_started_at=s.step_started_at,
            rollout_started_at=s.rollout_started_at,
            canary=data.canary,
            gates=results,
            alarms_known=tick.alarms.known,
            judgement=s.judgement,
            judged_now=judged_now,
            last_evidence_at=s.last_evidence_at,
        )
        decision = self.strategy.decide(view)
        s.ticks += 1
        event = tick_event(
            s.share,
            data,
            decision.verdict,
            decision.reason,
            decision.bake_left_s,
            decision.gates,
            s.judgement,
        )
        actions: list[EngineAction] = [Emit(event)]
        if decision.action is Action.WAIT:
            return [*actions, self._wait(tick.at)]
        if decision.action is Action.ROLLBACK:
            failed = rollback_events(s.share, decision, self.strategy.adaptive)
            return self._roll_back(decision.reason, [*actions, *(Emit(e) for e in failed)])
        if POST_STEP in self.settings.hooks:
            s.phase, s.pending = "post_step", decision
            return [*actions, RunHook(POST_STEP, s.share.percent, s.share.step)]
        return [*actions, *self._apply(decision, tick.at)]

    def _apply(self, decision: Decision, at: float) -> list[EngineAction]:
        self.state.pending = None
        if decision.action is Action.PROMOTE:
            return self._before_promotion(decision.reason, at)
        assert decision.next_share is not None
        return self._enter(decision.next_share, at)

    def _judge_settled(self, at: float) -> tuple[PeriodSample, ...]:
        """Feed the judge every period old enough to be settled, oldest first, each once."""
        s, period = self.state, self.settings.period_s
        settled = math.floor((at - self.settings.metrics_lag_s) / period) * period
        s.settled_upto = max(s.settled_upto, settled)
        if self.judge is None or s.phase == "guard":
            return ()
        first = s.first_period if s.first_period is not None else -math.inf
        ready = sorted(
            start
            for start, sample in s.samples.items()
            if first <= start and start + period <= settled and start not in s.judged and sample.has_data
        )
        judged = []
        for start in ready:
            sample = s.samples[start]
            s.judged.add(start)
            s.judgement = self.judge.observe(sample.canary, sample.baseline)
            judged.append(sample)
            if sample.canary.requests > 0:
                s.last_evidence_at = at
        return tuple(judged)

    def _in_step(self, start: float, at: float) -> bool:
        """A complete period that overlaps the current step. The one the share changed in counts: an adaptive
        share changes about once a period, so a window of whole periods inside the step would stay empty
        and the gates blind."""
        period, first = self.settings.period_s, self.state.first_period
        if first is not None and start < first:
            return False
        return start + period > self.state.step_started_at and start + period <= at

    def _step_window(self, at: float) -> list[PeriodSample]:
        return [p for start, p in sorted(self.state.samples.items()) if self._in_step(start, at)]
