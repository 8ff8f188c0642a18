"""The wave engine: one pure state machine that runs a plan's waves (`shift --plan`).

    engine = WaveEngine(settings, stacks)
    actions = engine.step(PlanBegin(at, done))          # done: stacks promoted for this release, and when
    actions = engine.step(StackDone(at, stack, result, reason))   # after each StartStack
    actions = engine.step(BakeCheck(at, firing))        # after each WatchBake: alarms in ALARM
    actions = engine.step(RevertDone(at, stack, ok, reason))      # after each RevertStack
    actions = engine.step(PlanInterrupt(at))            # SIGINT/SIGTERM

Waves run in order. A wave starts its stacks up to `concurrency` at once (each is one `shift`, judged on its
own metrics) and starts the next as one ends. A stack promoted for this release by an earlier run is
skipped. When every stack of a wave is promoted (or had nothing to do), the wave bakes: its stacks' alarms
are watched until `bake_s` after its last promotion (resumed from the recorded promotion times), and only
then does the next wave start. The first failure (a rollback, an error, an alarm during the bake) stops the
plan: stacks of the wave still rolling are aborted, none starts, and the policy applies: `hold` leaves the
promoted stacks as they are, `revert` undoes every promotion of this release, latest wave first.

No I/O and no clock: controller/wave_runner.py does the actions (threads, AWS, sleeping).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from controller import plan_events as pev
from controller.engine_io import Emit
from controller.event_types import Event
from controller.plan_file import REVERT

# What a stack's run ended in (controller/wave_runner.py maps the rollout's Outcome to these).
PROMOTED, NOTHING_TO_DO, ROLLED_BACK, UNDONE = "promoted", "nothing_to_do", "rolled_back", "undone"
INTERRUPTED, ERROR, HOOK_FAILED = "interrupted", "error", "promoted_hook_failed"
NOT_STARTED, SKIPPED = "not_started", "skipped"
SUCCESS = (PROMOTED, NOTHING_TO_DO, SKIPPED)
PROMOTED_STATES = (PROMOTED, SKIPPED, HOOK_FAILED)  # production serves the release: `revert` undoes these
ROLLBACKS = (ROLLED_BACK, UNDONE)


@dataclass(frozen=True)
class WaveSettings:
    plan_id: str
    name: str
    policy: str  # hold | revert
    bake_s: float
    concurrency: int


# -- inputs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanBegin:
    at: float
    done: Mapping[str, float] = field(default_factory=dict)  # promoted for this release earlier: when


@dataclass(frozen=True)
class StackDone:
    at: float
    stack: str
    result: str
    reason: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class BakeCheck:
    at: float
    firing: tuple[str, ...] = ()  # "stack: alarm" for every watched alarm in ALARM


@dataclass(frozen=True)
class RevertDone:
    at: float
    stack: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class PlanInterrupt:
    at: float


WaveInput = PlanBegin | StackDone | BakeCheck | RevertDone | PlanInterrupt

# -- actions -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartStack:
    stack: str


@dataclass(frozen=True)
class AbortStacks:
    """Stop the stacks still rolling: roll back their canaries (and, with `undo_promoted`, undo a stack
    already promoted that is still being guarded)."""

    reason: str
    undo_promoted: bool


@dataclass(frozen=True)
class WatchBake:
    """Sleep until the next check (at most `until`), then answer BakeCheck with these stacks' alarms."""

    until: float
    stacks: tuple[str, ...]


@dataclass(frozen=True)
class RevertStack:
    stack: str
    reason: str


@dataclass(frozen=True)
class PlanDone:
    outcome: str  # promoted | rolled_back | error | interrupted


WaveAction = Emit | StartStack | AbortStacks | WatchBake | RevertStack | PlanDone


@dataclass
class WaveState:
    phase: str = "new"  # new | wave | bake | revert | done
    wave: int = 0
    started_at: float = 0.0
    pending: list[str] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    results: dict[str, str] = field(default_factory=dict)
    promoted_at: dict[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)
    failure: str = ""
    error: bool = False
    interrupted: bool = False
    reverting: set[str] = field(default_factory=set)
    bake_until: float = 0.0


class WaveEngine:
    def __init__(self, settings: WaveSettings, stacks: Sequence[pev.PlannedStack]) -> None:
        self.settings = settings
        self.stacks = tuple(stacks)
        self.waves = sorted({s.wave for s in self.stacks})
        self.state = WaveState()

    @property
    def done(self) -> bool:
        return self.state.phase == "done"

    def _in_wave(self, wave: int) -> list[str]:
        return [s.stack for s in self.stacks if s.wave == wave]

    def _wave_of(self, stack: str) -> int:
        return next(s.wave for s in self.stacks if s.stack == stack)

    def step(self, event: WaveInput) -> list[WaveAction]:
        if self.done:
            raise RuntimeError("the plan is over; start a new engine")
        match event:
            case PlanBegin():
                return self._begin(event)
            case StackDone():
                return self._stack_done(event)
            case BakeCheck():
                return self._bake_check(event)
            case RevertDone():
                return self._revert_done(event)
            case PlanInterrupt():
                return self._interrupt(event)
        raise TypeError(f"not a wave engine input: {event!r}")

    # -- waves -----------------------------------------------------------------------------------------

    def _begin(self, begin: PlanBegin) -> list[WaveAction]:
        s, cfg = self.state, self.settings
        s.started_at, s.done = begin.at, dict(begin.done)
        message = (
            f"plan {cfg.name} ({cfg.plan_id}): {len(self.waves)} wave(s), {len(self.stacks)} stack(s), "
            f"policy {cfg.policy}, bake {cfg.bake_s:g}s"
            + (f"; {len(s.done)} stack(s) already promoted for this release" if s.done else "")
        )
        started = pev.PlanStarted(
            plan_id=cfg.plan_id,
            name=cfg.name,
            policy=cfg.policy,
            bake_s=cfg.bake_s,
            concurrency=cfg.concurrency,
            waves=len(self.waves),
            stacks=self.stacks,
            message=message,
        )
        return [Emit(started), *self._enter(self.waves[0], begin.at)]

    def _enter(self, wave: int, at: float) -> list[WaveAction]:
        s = self.state
        s.phase, s.wave = "wave", wave
        stacks = self._in_wave(wave)
        skipped = [name for name in stacks if name in s.done]
        actions: list[WaveAction] = []
        names = ", ".join(stacks)
        resumed = f"; {len(skipped)} already promoted" if skipped else ""
        message = f"wave {wave}: {names}{resumed}"
        started = pev.WaveStarted(
            name=f"wave-{wave}", stacks=tuple(stacks), skipped=tuple(skipped), message=message
        )
        actions.append(Emit(_on(started, wave=wave)))
        for name in skipped:
            s.results[name], s.promoted_at[name] = SKIPPED, s.done[name]
            note = pev.StackSkipped(
                promoted_at=s.done[name],
                message=f"{name}: already promoted for this release; not rolled again",
            )
            actions.append(Emit(_on(note, name, wave)))
        s.pending = [name for name in stacks if name not in s.done]
        return [*actions, *self._fill(at)]

    def _fill(self, at: float) -> list[WaveAction]:
        """Start stacks up to the concurrency; close the wave when none is left."""
        s = self.state
        actions: list[WaveAction] = []
        while (
            s.pending and not s.failure and not s.interrupted and len(s.running) < self.settings.concurrency
        ):
            name = s.pending.pop(0)
            s.running.add(name)
            actions.append(StartStack(name))
        if s.running:
            return actions
        return [*actions, *self._wave_over(at)]

    def _stack_done(self, done: StackDone) -> list[WaveAction]:
        s = self.state
        s.running.discard(done.stack)
        s.results[done.stack] = done.result
        if done.result in PROMOTED_STATES:
            s.promoted_at[done.stack] = done.at
        finished = pev.StackFinished(outcome=done.result, reason=done.reason, seconds=round(done.seconds, 1))
        actions: list[WaveAction] = [Emit(_on(finished, done.stack, s.wave))]
        if done.result not in SUCCESS and not s.failure and not s.interrupted:
            s.error = s.error or done.result not in ROLLBACKS
            s.failure = f"{done.stack} (wave {s.wave}) {done.result.replace('_', ' ')}: {done.reason}"
            if s.running:
                actions.append(AbortStacks(f"plan stopped: {s.failure}", self.settings.policy == REVERT))
        elif done.result not in SUCCESS and done.result not in ROLLBACKS and not s.interrupted:
            s.error = True
        return [*actions, *self._fill(done.at)]

    def _wave_over(self, at: float) -> list[WaveAction]:
        s = self.state
        for name in s.pending:
            s.results[name] = NOT_STARTED
        s.pending = []
        if s.interrupted:
            return [Emit(self._wave_finished("interrupted", "interrupted")), *self._finish(at)]
        if s.failure:
            return [Emit(self._wave_finished("failed", s.failure)), *self._apply_policy(at)]
        ended = self._wave_finished("promoted", f"wave {s.wave}: every stack promoted")
        if s.wave == self.waves[-1]:
            return [Emit(ended), *self._finish(at)]
        return [Emit(ended), *self._bake(at)]

    def _wave_finished(self, outcome: str, message: str) -> pev.WaveFinished:
        return _on(pev.WaveFinished(outcome=outcome, message=message), wave=self.state.wave)

    # -- the bake between waves -------------------------------------------------------------------------

    def _baked_stacks(self) -> list[str]:
        return [n for n in self._in_wave(self.state.wave) if n in self.state.promoted_at]

    def _bake(self, at: float) -> list[WaveAction]:
        s, bake_s = self.state, self.settings.bake_s
        stacks = self._baked_stacks()
        next_wave = self.waves[self.waves.index(s.wave) + 1]
        if bake_s <= 0 or not stacks:
            return self._enter(next_wave, at)
        last = max(s.promoted_at[n] for n in stacks)
        s.bake_until = last + bake_s
        if s.bake_until <= at:
            ended = pev.BakeEnded(
                outcome="passed", reason=f"wave {s.wave} promoted {at - last:.0f}s ago: baked"
            )
            return [Emit(_on(ended, wave=s.wave)), *self._enter(next_wave, at)]
        s.phase = "bake"
        left = s.bake_until - at
        message = f"wave {s.wave} promoted: watching its alarms for {left:.0f}s before wave {next_wave}"
        baking = pev.BakeStarted(until=s.bake_until, seconds=round(s.bake_until - at, 1), message=message)
        return [Emit(_on(baking, wave=s.wave)), WatchBake(s.bake_until, tuple(stacks))]

    def _bake_check(self, check: BakeCheck) -> list[WaveAction]:
        s = self.state
        assert s.phase == "bake", f"a bake check in phase {s.phase}"
        if check.firing:
            s.failure = f"alarm in ALARM during the bake after wave {s.wave}: {', '.join(check.firing)}"
            ended = pev.BakeEnded(outcome="failed", reason=s.failure)
            return [Emit(_on(ended, wave=s.wave)), *self._apply_policy(check.at)]
        if check.at >= s.bake_until:
            ended = pev.BakeEnded(outcome="passed", reason=f"no alarm during {self.settings.bake_s:g}s")
            next_wave = self.waves[self.waves.index(s.wave) + 1]
            return [Emit(_on(ended, wave=s.wave)), *self._enter(next_wave, check.at)]
        return [WatchBake(s.bake_until, tuple(self._baked_stacks()))]

    # -- after a failure --------------------------------------------------------------------------------

    def _apply_policy(self, at: float) -> list[WaveAction]:
        s = self.state
        if self.settings.policy != REVERT:
            return self._finish(at)
        order = sorted(
            (n for n, r in s.results.items() if r in PROMOTED_STATES),
            key=lambda n: (-self._wave_of(n), n),
        )
        if not order:
            return self._finish(at)
        s.phase, s.reverting = "revert", set(order)
        reason = f"plan {self.settings.plan_id} reverted: {s.failure}"
        return [
            Emit(pev.PlanReverting(stacks=tuple(order), reason=reason)),
            *(RevertStack(n, reason) for n in order),
        ]

    def _revert_done(self, done: RevertDone) -> list[WaveAction]:
        s = self.state
        s.reverting.discard(done.stack)
        s.results[done.stack] = "reverted" if done.ok else "revert_failed"
        s.error = s.error or not done.ok
        finished = pev.StackFinished(outcome=s.results[done.stack], reason=done.reason)
        actions: list[WaveAction] = [Emit(_on(finished, done.stack, self._wave_of(done.stack)))]
        if s.reverting:
            return actions
        return [*actions, *self._finish(done.at)]

    def _interrupt(self, interrupt: PlanInterrupt) -> list[WaveAction]:
        s = self.state
        s.interrupted = True
        if s.phase == "bake":
            ended = pev.BakeEnded(
                outcome="interrupted", reason="interrupted; rerun the plan to resume the bake"
            )
            return [Emit(_on(ended, wave=s.wave)), *self._finish(interrupt.at)]
        if s.phase == "wave":
            return self._fill(interrupt.at)  # the stacks stop on the same signal; the wave closes after them
        return []  # reverting: let the reverts finish

    def _finish(self, at: float) -> list[WaveAction]:
        s = self.state
        s.phase = "done"
        outcome = (
            "interrupted"
            if s.interrupted
            else "error"
            if s.error
            else "rolled_back"
            if s.failure
            else "promoted"
        )
        by = {r: tuple(n for n in self._order() if s.results.get(n) == r) for r in set(s.results.values())}
        for stack in self._order():
            s.results.setdefault(stack, NOT_STARTED)
        reason = s.failure or ("interrupted" if s.interrupted else "every stack promoted")
        finished = pev.PlanFinished(
            plan_id=self.settings.plan_id,
            outcome=outcome,
            reason=reason,
            promoted=by.get(PROMOTED, ()),
            skipped=by.get(SKIPPED, ()),
            rolled_back=(*by.get(ROLLED_BACK, ()), *by.get(UNDONE, ())),
            reverted=by.get("reverted", ()),
            failed=(*by.get(ERROR, ()), *by.get(HOOK_FAILED, ()), *by.get("revert_failed", ())),
            not_started=tuple(n for n in self._order() if s.results[n] == NOT_STARTED),
            seconds=round(at - s.started_at, 1),
        )
        return [Emit(finished), PlanDone(outcome)]

    def _order(self) -> list[str]:
        return [s.stack for s in self.stacks]


E = TypeVar("E", bound=Event)


def _on(event: E, stack: str | None = None, wave: int | None = None) -> E:
    """The event, about this stack and wave."""
    return dataclasses.replace(event, stack=stack, wave=wave)
