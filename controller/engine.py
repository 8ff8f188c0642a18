"""The rollout engine: one pure state machine that `shift` and the benchmark both run.

    engine = Engine(settings, strategy, gates, judge)
    actions = engine.step(Begin(at, resumed_percent, requests_per_period))
    actions = engine.step(Tick(at, samples, alarms, user_metrics))      # after each Wait
    actions = engine.step(HookFinished(at, hook, ok, reason))           # after each RunHook
    actions = engine.step(Interrupt(at))                                # on SIGINT/SIGTERM

It owns what a rollout decides: which metric periods the judge reads (each settled period exactly once,
`metrics_lag_s` after it ends), the gates over the current step's periods, the strategy (fixed steps or
adaptive), when hooks run, and the typed events that say why. It does no I/O and reads no clock: every
input carries its time. The runner (controller/runner.py) interprets the actions against AWS; the
benchmark's policy for ours (bench/policies.py) interprets them in virtual time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from controller import event_types as ev
from controller.domain import EMPTY_WINDOW, AlarmReading, Judgement, Outcome, PeriodSample, WindowStats
from controller.gates import Gate, GateInput, GateValue, evaluate
from controller.stats import combine
from controller.strategies import Action, Decision, Share, StepView, Strategy

PRE_TRAFFIC = "pre-traffic"
POST_STEP = "post-step"


class JudgePort(Protocol):
    uses_history: bool  # the history was long enough to use
    trusts_history: bool  # and the fail test uses it too

    def observe(self, canary: WindowStats, baseline: WindowStats) -> Judgement: ...


# -- inputs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Begin:
    at: float
    resumed_percent: float | None = None  # the canary's share when a run resumes one; None or 0: fresh
    requests_per_period: float = 0.0  # the stage's recent traffic, to size an adaptive first share


@dataclass(frozen=True)
class Tick:
    at: float
    samples: tuple[PeriodSample, ...] = ()  # complete periods (any already seen are replaced: late data)
    alarms: AlarmReading = field(default_factory=AlarmReading)
    user_metrics: Mapping[str, Sequence[GateValue]] = field(default_factory=dict)


@dataclass(frozen=True)
class HookFinished:
    at: float
    hook: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class Interrupt:
    at: float


Input = Begin | Tick | HookFinished | Interrupt

# -- actions -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetShare:
    percent: float


@dataclass(frozen=True)
class RunHook:
    hook: str
    percent: float
    step: int


@dataclass(frozen=True)
class Emit:
    event: ev.Event


@dataclass(frozen=True)
class Wait:
    until: float
    fetch_from: float  # the oldest period start the next Tick needs
    percent: float  # the share the stage must still have


@dataclass(frozen=True)
class Promote:
    reason: str


@dataclass(frozen=True)
class RollBack:
    reason: str
    percent: float
    outcome: Outcome = Outcome.ROLLED_BACK  # INTERRUPTED when a signal asked for it


@dataclass(frozen=True)
class Leave:
    percent: float


EngineAction = SetShare | RunHook | Emit | Wait | Promote | RollBack | Leave


@dataclass(frozen=True)
class EngineSettings:
    period_s: float
    metrics_lag_s: float  # a period is read by the judge this long after it ends (CloudWatch's delay)
    hooks: frozenset[str] = frozenset()  # the hook points configured (pre-traffic, post-step)
    on_interrupt: str = "rollback"  # or "leave"


@dataclass
class EngineState:
    phase: str = "new"  # new | pre_traffic | step | post_step | done
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
    first_share: Share | None = None  # the share to start at once the pre-traffic hook passes


class Engine:
    def __init__(
        self,
        settings: EngineSettings,
        strategy: Strategy,
        gates: Sequence[Gate],
        judge: JudgePort | None = None,
    ) -> None:
        self.settings = settings
        self.strategy = strategy
        self.gates = tuple(gates)
        self.judge = judge
        self.state = EngineState()

    @property
    def percent(self) -> float:
        return 0.0 if self.state.share is None else self.state.share.percent

    @property
    def done(self) -> bool:
        return self.state.phase == "done"

    def step(self, event: Input) -> list[EngineAction]:
        if self.done:
            raise RuntimeError("the rollout is over; start a new engine")
        match event:
            case Begin():
                return self._begin(event)
            case Tick():
                return self._tick(event)
            case HookFinished():
                return self._hook_finished(event)
            case Interrupt():
                return self._interrupt()
        raise TypeError(f"not an engine input: {event!r}")

    # -- flow ------------------------------------------------------------------------------------------

    def _begin(self, begin: Begin) -> list[EngineAction]:
        s = self.state
        s.rollout_started_at = s.last_evidence_at = begin.at
        s.settled_upto = math.floor(begin.at / self.settings.period_s) * self.settings.period_s
        trusts = self.judge is not None and self.judge.trusts_history
        first = self.strategy.first_share(begin.resumed_percent, begin.requests_per_period, trusts)
        s.share = first
        if not begin.resumed_percent and PRE_TRAFFIC in self.settings.hooks:
            s.phase = "pre_traffic"
            s.share, s.first_share = Share(0.0, 0, first.steps, first.bake_s), first
            return [RunHook(PRE_TRAFFIC, 0.0, 0)]
        return self._enter(first, begin.at)

    def _enter(self, share: Share, at: float) -> list[EngineAction]:
        s = self.state
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
        return min(window, self.state.settled_upto)

    def _hook_finished(self, done: HookFinished) -> list[EngineAction]:
        s = self.state
        assert s.share is not None
        if not done.ok:
            gate = ev.GateFailed(
                step=s.share.step, percent=s.share.percent, gate=f"{done.hook} hook", reason=done.reason
            )
            return self._finish([Emit(gate), RollBack(done.reason, s.share.percent)])
        if s.phase == "pre_traffic":
            s.rollout_started_at = s.last_evidence_at = done.at
            assert s.first_share is not None
            return self._enter(s.first_share, done.at)
        assert s.phase == "post_step" and s.pending is not None
        return self._apply(s.pending, done.at)

    def _interrupt(self) -> list[EngineAction]:
        percent = self.percent
        if self.settings.on_interrupt == "leave":
            message = f"interrupted: canary left at {percent:g}%; rerun shift to resume, or run rollback"
            return self._finish(
                [Emit(ev.Interrupted(message=message, percent=percent, action="leave")), Leave(percent)]
            )
        note = ev.Interrupted(message="interrupted: rolling back", percent=percent, action="rollback")
        return self._finish(
            [Emit(note), RollBack("interrupted (SIGINT/SIGTERM)", percent, Outcome.INTERRUPTED)]
        )

    def _finish(self, actions: list[EngineAction]) -> list[EngineAction]:
        self.state.phase = "done"
        return actions

    # -- a tick ----------------------------------------------------------------------------------------

    def _tick(self, tick: Tick) -> list[EngineAction]:
        s = self.state
        assert s.phase == "step" and s.share is not None, f"a tick in phase {s.phase}"
        for sample in tick.samples:
            s.samples[sample.start] = sample
        for name, values in tick.user_metrics.items():
            s.user_metrics.setdefault(name, {}).update((v.start, v) for v in values)
        judged_now = self._judge_settled(tick.at)
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
        )
        results = evaluate(self.gates, data)
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
        actions: list[EngineAction] = [Emit(self._tick_event(decision, data))]
        if decision.action is Action.WAIT:
            return [*actions, self._wait(tick.at)]
        if decision.action is Action.ROLLBACK:
            return self._finish(
                [*actions, *self._rollback_events(decision), RollBack(decision.reason, s.share.percent)]
            )
        if POST_STEP in self.settings.hooks:
            s.phase, s.pending = "post_step", decision
            return [*actions, RunHook(POST_STEP, s.share.percent, s.share.step)]
        return [*actions, *self._apply(decision, tick.at)]

    def _apply(self, decision: Decision, at: float) -> list[EngineAction]:
        self.state.pending = None
        if decision.action is Action.PROMOTE:
            return self._finish([Promote(decision.reason)])
        assert decision.next_share is not None
        return self._enter(decision.next_share, at)

    def _judge_settled(self, at: float) -> tuple[PeriodSample, ...]:
        """Feed the judge every period old enough to be settled, oldest first, each once."""
        s, period = self.state, self.settings.period_s
        settled = math.floor((at - self.settings.metrics_lag_s) / period) * period
        s.settled_upto = max(s.settled_upto, settled)
        if self.judge is None:
            return ()
        ready = sorted(
            start
            for start, sample in s.samples.items()
            if start + period <= settled and start not in s.judged and sample.has_data
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
        period = self.settings.period_s
        return start + period > self.state.step_started_at and start + period <= at

    def _step_window(self, at: float) -> list[PeriodSample]:
        return [p for start, p in sorted(self.state.samples.items()) if self._in_step(start, at)]

    def _tick_event(self, decision: Decision, data: GateInput) -> ev.TickEvent:
        s = self.state
        assert s.share is not None
        judgement = s.judgement
        return ev.TickEvent(
            step=s.share.step,
            percent=s.share.percent,
            canary=ev.Window.of(data.canary),
            baseline=ev.Window.of(data.baseline),
            verdict=decision.verdict,
            reason=decision.reason,
            bake_left_s=round(decision.bake_left_s, 1),
            alarms=data.alarms.as_dict(),
            gates=tuple(ev.GateOutcome(g.gate, g.status.value, g.reason, g.shadow) for g in decision.gates),
            judge=None
            if judgement is None
            else ev.JudgeSummary(
                judgement.verdict.name,
                judgement.reason,
                judgement.evidence.fail_e_value,
                judgement.evidence.pass_e_value,
            ),
        )

    def _rollback_events(self, decision: Decision) -> list[EngineAction]:
        s = self.state
        assert s.share is not None
        failed = decision.failed_gates
        if failed:
            return [
                Emit(ev.GateFailed(step=s.share.step, percent=s.share.percent, gate=g.gate, reason=g.reason))
                for g in failed
            ]
        gate = "judge" if self.strategy.adaptive else "data"
        return [
            Emit(ev.GateFailed(step=s.share.step, percent=s.share.percent, gate=gate, reason=decision.reason))
        ]
