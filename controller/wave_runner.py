"""`shift --plan`: read where every stack stands, then do the wave engine's actions (controller/waves.py).

Before anything changes: each stack's release id (both slots' code), the plan id, and which stacks a
previous run already promoted for this release (their `controller_plan` record). Then each `StartStack` is
one `shift` of that stack in a worker thread (bounded by the plan's concurrency), its events tagged with the
stack and wave, its promotion writing the plan's record in the same UpdateStage; `AbortStacks` makes the
stacks still rolling roll back at their next tick (as `abort` would); `WatchBake` sleeps to the next
`--interval` and reads the baking wave's alarms; `RevertStack` undoes a promotion under the stack's lease.
SIGINT/SIGTERM stop every stack (each as `--on-interrupt` says) and the plan; a rerun resumes.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from controller import plan_events as pev
from controller import waves as wv
from controller.domain import Outcome
from controller.engine_io import Emit
from controller.errors import AwsError, ControllerError
from controller.event_types import ErrorEvent, Event, Promoted, RolledBack, WarningEvent
from controller.events import Events
from controller.lifecycle_events import Refused, Undone
from controller.plan_app import PlanStack, read_releases
from controller.plan_file import Plan
from controller.plan_record import PROMOTED, REVERTED, ROLLED_BACK, PlanRecord
from controller.shift_options import ShiftOptions

RESULTS = {
    Outcome.PROMOTED: wv.PROMOTED,
    Outcome.NOTHING_TO_DO: wv.NOTHING_TO_DO,
    Outcome.ROLLED_BACK: wv.ROLLED_BACK,
    Outcome.UNDONE: wv.UNDONE,
    Outcome.INTERRUPTED: wv.INTERRUPTED,
    Outcome.PROMOTED_HOOK_FAILED: wv.HOOK_FAILED,
}
PLAN_OUTCOMES = {
    "promoted": Outcome.PROMOTED,
    "rolled_back": Outcome.ROLLED_BACK,
    "interrupted": Outcome.INTERRUPTED,
}


class _Decisions(Events):
    """Passes a stack's events on, remembering why it ended (its rollback's or undo's reason)."""

    def __init__(self, sink: Events) -> None:
        super().__init__()
        self.sink, self.reason = sink, ""

    def emit(self, event: Event) -> Event:
        if isinstance(event, Promoted | RolledBack | Undone | Refused | ErrorEvent):
            self.reason = event.text
        return self.sink.emit(event)

    def write(self, event: Event) -> None:
        self.sink.write(event)


class WaveRunner:
    def __init__(
        self,
        plan: Plan,
        stacks: list[PlanStack],
        options: Callable[[PlanStack], ShiftOptions],
        events: Events,
        stop: threading.Event,
        usage: Callable[[], pev.ControlPlaneUsage] = pev.ControlPlaneUsage,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.plan, self.stacks, self.options, self.events = plan, stacks, options, events
        self.by_name = {s.name: s for s in stacks}
        self.stop, self.usage, self.clock = stop, usage, clock
        self.plan_id = ""
        self.abort_reason: str | None = None
        self.abort_promoted = False
        self.results: queue.Queue[wv.WaveInput] = queue.Queue()
        self.watch: wv.WatchBake | None = None
        self.interrupted = False
        self.finished: pev.PlanFinished | None = None

    # -- before anything changes -----------------------------------------------------------------------

    def prepare(self) -> dict[str, float]:
        """Release ids, the plan id, and the stacks already promoted for this release (with when)."""
        self.plan_id = read_releases(self.stacks)
        done = {}
        for stack in self.stacks:
            at = stack.promoted_at()
            if at is not None:
                done[stack.name] = at
        return done

    def engine(self) -> wv.WaveEngine:
        settings = wv.WaveSettings(
            self.plan_id, self.plan.name, self.plan.policy, self.plan.bake_s, self.plan.concurrency
        )
        return wv.WaveEngine(settings, [s.planned() for s in self.stacks])

    def dry_run(self) -> Outcome:
        """Every stack's plan, in wave order; nothing changes."""
        done = self.prepare()
        engine = self.engine()
        started = engine.step(wv.PlanBegin(self.clock(), done))[0]
        assert isinstance(started, Emit)
        self.events.emit(started.event)
        for stack in self.stacks:
            if stack.name in done:
                stack.app.events.emit(
                    pev.StackSkipped(promoted_at=done[stack.name], message="already promoted")
                )
                continue
            stack.app.shift(self.options(stack), self.stop).run()
        return Outcome.DRY_RUN

    # -- the waves -------------------------------------------------------------------------------------

    def run(self) -> Outcome:
        done = self.prepare()
        engine = self.engine()
        actions = engine.step(wv.PlanBegin(self.clock(), done))
        with ThreadPoolExecutor(max_workers=self.plan.concurrency, thread_name_prefix="stack") as pool:
            while True:
                for action in actions:
                    outcome = self._do(action, pool)
                    if outcome is not None:
                        return outcome
                actions = engine.step(self._next_input())

    def _do(self, action: wv.WaveAction, pool: ThreadPoolExecutor) -> Outcome | None:
        match action:
            case Emit(event=event):
                if isinstance(event, pev.PlanFinished):
                    event = dataclasses.replace(event, control_plane=self.usage())
                    self.finished = event
                self.events.emit(event)
            case wv.StartStack(stack=name):
                pool.submit(self._guarded, self._run_stack, self.by_name[name])
            case wv.AbortStacks(reason=reason, undo_promoted=undo_promoted):
                self.abort_promoted = undo_promoted
                self.abort_reason = reason
            case wv.WatchBake():
                self.watch = action
            case wv.RevertStack(stack=name, reason=reason):
                pool.submit(self._guarded, self._revert, self.by_name[name], reason)
            case wv.PlanDone(outcome=outcome):
                if outcome == "error":
                    why = self.finished.reason if self.finished else "an error"
                    raise ControllerError(f"plan {self.plan.name} ({self.plan_id}) stopped: {why}")
                return PLAN_OUTCOMES[outcome]
        return None

    def _next_input(self) -> wv.WaveInput:
        if self.watch is not None:
            watch, self.watch = self.watch, None
            return self._watch_bake(watch)
        while True:
            if self.stop.is_set() and not self.interrupted:
                self.interrupted = True
                return wv.PlanInterrupt(self.clock())
            try:
                return self.results.get(timeout=0.5)
            except queue.Empty:
                continue

    def _guarded(self, job: Callable[..., wv.WaveInput], *args: object) -> None:
        """Every job answers the engine, whatever happens in it (the loop waits for the answer)."""
        try:
            answer = job(*args)
        except Exception as exc:  # noqa: BLE001 - a bug in one stack must not hang the plan
            stack = args[0]
            assert isinstance(stack, PlanStack)
            message = f"internal error: {type(exc).__name__}: {exc}"
            answer = (
                wv.RevertDone(self.clock(), stack.name, False, message)
                if job == self._revert
                else wv.StackDone(self.clock(), stack.name, wv.ERROR, message)
            )
        self.results.put(answer)

    def _abort_for(self, promoted: bool) -> str | None:
        if self.abort_reason is None or (promoted and not self.abort_promoted):
            return None
        return self.abort_reason

    def _run_stack(self, stack: PlanStack) -> wv.StackDone:
        began = self.clock()
        sink = _Decisions(stack.app.events)
        app = dataclasses.replace(stack.app, events=sink)

        def record(slot: str, at: float) -> dict[str, str]:
            value = PlanRecord(self.plan_id, stack.release, stack.wave, PROMOTED, at, slot)
            return {"controller_plan": value.encode()}

        try:
            outcome = app.shift(self.options(stack), self.stop, self._abort_for, record).run()
        except ControllerError as exc:
            sink.emit(ErrorEvent(message=str(exc), exit_code=exc.exit_code))
            return wv.StackDone(self.clock(), stack.name, wv.ERROR, str(exc), self.clock() - began)
        result = RESULTS.get(outcome, wv.ERROR)
        if result in (wv.ROLLED_BACK, wv.UNDONE):
            self._note(stack, ROLLED_BACK)
        reason = sink.reason or result.replace("_", " ")
        return wv.StackDone(self.clock(), stack.name, result, reason, self.clock() - began)

    def _revert(self, stack: PlanStack, reason: str) -> wv.RevertDone:
        try:
            stack.app.undo(reason)
        except ControllerError as exc:
            stack.app.events.emit(WarningEvent(message=f"could not revert {stack.name}: {exc}"))
            return wv.RevertDone(self.clock(), stack.name, False, str(exc))
        self._note(stack, REVERTED)
        return wv.RevertDone(
            self.clock(), stack.name, True, f"production back on the former release ({reason})"
        )

    def _note(self, stack: PlanStack, state: str) -> None:
        """The stack's record says it is no longer promoted for this release (for `status --plan`)."""
        try:
            stack.write_record(PlanRecord(self.plan_id, stack.release, stack.wave, state, self.clock()))
        except AwsError as exc:
            stack.app.events.emit(WarningEvent(message=f"could not record {state} on {stack.name}: {exc}"))

    # -- the bake --------------------------------------------------------------------------------------

    def _watch_bake(self, watch: wv.WatchBake) -> wv.WaveInput:
        interval = min(self.options(self.by_name[n]).policy.interval_s for n in watch.stacks)
        wake = min(watch.until, self.clock() + interval)
        while self.clock() < wake:
            if self.stop.wait(min(1.0, max(0.0, wake - self.clock()))):
                self.interrupted = True
                return wv.PlanInterrupt(self.clock())
        firing = []
        for name in watch.stacks:
            stack = self.by_name[name]
            alarms = stack.app.alarms()
            try:
                states = alarms.states() if alarms.names else {}
            except AwsError as exc:
                stack.app.events.emit(WarningEvent(message=f"bake: alarms of {name} unreadable: {exc}"))
                continue
            firing += [f"{name}: {alarm}" for alarm, state in sorted(states.items()) if state == "ALARM"]
        return wv.BakeCheck(self.clock(), tuple(firing))
