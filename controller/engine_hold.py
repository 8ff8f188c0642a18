"""The engine's phases around the steps: a user's requests (approve, abort, pause, resume), the approval
hold before the promotion, the promotion itself, and the post-promotion guard that may undo it.

A mixin of `controller.engine.Engine` (its state, settings and gates); pure like the rest of the engine.
While held (approval or pause) the canary keeps its share and the gates keep judging every tick: a failing
gate still rolls back. The guard judges the promoted release against the former version's rate
(controller/guard.py), and with `--guard-keep` against the former version kept beside it in the same periods
too (controller/guard_split.py), and undoes the promotion on a regression.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from controller import event_types as ev
from controller import lifecycle_events as lev
from controller.domain import GateResult, Outcome, WindowStats
from controller.engine_events import gate_failures, tick_event
from controller.engine_io import (
    ABORT,
    APPROVE,
    CONFIRM_PROMOTION,
    PAUSE,
    POST_PROMOTION,
    RESUME,
    Emit,
    EngineAction,
    EngineSettings,
    Hold,
    Promote,
    ReleaseFormer,
    RunHook,
    Tick,
    Undo,
    UserRequest,
    Wait,
)
from controller.gates import GateInput
from controller.guard import GuardFactory
from controller.stats import combine

if TYPE_CHECKING:
    from controller.engine import EngineState


class HoldMixin:
    state: EngineState
    settings: EngineSettings
    guard_factory: GuardFactory

    if TYPE_CHECKING:  # the engine's own, used here

        @property
        def percent(self) -> float: ...
        def _step(self) -> int: ...
        def _wait(self, now: float) -> Wait: ...
        def _fetch_from(self) -> float: ...
        def _finish(self, actions: list[EngineAction]) -> list[EngineAction]: ...
        def _after_undo(self, actions: list[EngineAction], reason: str) -> list[EngineAction]: ...
        def _roll_back(
            self, reason: str, before: list[EngineAction], outcome: Outcome = Outcome.ROLLED_BACK
        ) -> list[EngineAction]: ...

    # -- requests --------------------------------------------------------------------------------------

    def _request(self, request: UserRequest, at: float) -> list[EngineAction] | None:
        """Handle a user's request; None: go on with the tick as usual."""
        s, by = self.state, request.by or "someone"
        if request.action == ABORT:
            reason = f"aborted by {by}"
            before: list[EngineAction] = []
            if s.phase in ("paused", "approval"):
                before = [Emit(self._hold_ended("aborted", at, reason, by))]
            return self._roll_back(reason, before)
        if request.action == APPROVE and s.phase == "approval":
            ended = self._hold_ended("approved", at, f"approved by {by}", by)
            return [Emit(ended), *self._clear_hold(), *self._confirm_promotion(at)]
        if request.action == PAUSE and s.phase == "step":
            s.phase, s.held_since, s.hold_until = "paused", at, None
            message = f"paused by {by} at {self.percent:g}%: run `resume` to go on (gates keep judging)"
            started = lev.HoldStarted(
                hold="pause", percent=self.percent, step=self._step(), message=message, by=by
            )
            return [Emit(started), Hold("pause"), self._hold_wait(at)]
        if request.action == RESUME and s.phase == "paused":
            ended, clear = self._hold_ended("resumed", at, f"resumed by {by}", by), self._clear_hold()
            s.phase = "step"
            s.step_started_at += at - s.held_since  # the step's bake goes on where it stopped
            return [Emit(ended), *clear, self._wait(at)]
        message = f"ignored {request.action} from {by}: the rollout is in phase {s.phase}"
        return [
            Emit(ev.WarningEvent(message=message)),
            self._hold_wait(at) if s.phase != "step" else self._wait(at),
        ]

    def _hold_ended(self, action: str, at: float, message: str, by: str = "") -> lev.HoldEnded:
        s = self.state
        hold = "approval" if s.phase == "approval" else "pause"
        return lev.HoldEnded(
            hold=hold,
            action=action,
            percent=self.percent,
            message=message,
            by=by,
            seconds=round(at - s.held_since, 1),
        )

    def _clear_hold(self) -> list[EngineAction]:
        return [Hold("")] if self.state.phase in ("paused", "approval") else []

    def _hold_wait(self, at: float) -> Wait:
        s = self.state
        until = at + self.settings.tick_s
        if s.hold_until is not None:
            until = min(until, max(s.hold_until, at))
        return Wait(until, self._fetch_from(), self.percent)

    # -- held ------------------------------------------------------------------------------------------

    def _held_tick(self, tick: Tick, data: GateInput, results: tuple[GateResult, ...]) -> list[EngineAction]:
        s = self.state
        blocking = [g for g in results if g.blocks]
        what = "waiting for approval" if s.phase == "approval" else "paused"
        verdict, reason = "CONTINUE", f"{what} at {self.percent:g}%; gates keep judging"
        if blocking:
            verdict, reason = "FAIL", "; ".join(g.reason for g in blocking)
        assert s.share is not None
        event = tick_event(s.share, data, verdict, reason, 0.0, results, s.judgement)
        actions: list[EngineAction] = [Emit(event)]
        if blocking:
            failed = [Emit(e) for e in gate_failures(s.share, blocking)]
            ended = self._hold_ended("rolled_back", tick.at, reason)
            return self._roll_back(reason, [*actions, *failed, Emit(ended)])
        if s.phase == "approval" and s.hold_until is not None and tick.at >= s.hold_until:
            reason = f"no approval within {self.settings.approval_timeout_s:g}s"
            ended = self._hold_ended("timed_out", tick.at, reason)
            return self._roll_back(reason, [*actions, Emit(ended)])
        return [*actions, self._hold_wait(tick.at)]

    # -- promotion -------------------------------------------------------------------------------------

    def _before_promotion(self, reason: str, at: float) -> list[EngineAction]:
        s = self.state
        s.promote_reason = reason
        if self.settings.approval:
            s.phase, s.held_since = "approval", at
            s.hold_until = at + self.settings.approval_timeout_s
            message = (
                f"holding at {self.percent:g}% for approval: run `python -m controller approve` "
                f"(or `abort`); rolls back after {self.settings.approval_timeout_s:g}s"
            )
            started = lev.HoldStarted(
                hold="approval",
                percent=self.percent,
                step=self._step(),
                message=message,
                timeout_s=self.settings.approval_timeout_s,
            )
            return [Emit(started), Hold("approval", s.hold_until), self._hold_wait(at)]
        return self._confirm_promotion(at)

    def _confirm_promotion(self, at: float) -> list[EngineAction]:
        if CONFIRM_PROMOTION in self.settings.hooks:
            self.state.phase = "confirm_promotion"
            return [RunHook(CONFIRM_PROMOTION, self.percent, self._step(), self.state.promote_reason)]
        return self._promote(at)

    def _promote(self, at: float) -> list[EngineAction]:
        s = self.state
        s.outcome, s.promoted_at = Outcome.PROMOTED, at
        guarding = self.settings.guard_s > 0
        keep = self.settings.guard_keep_percent if guarding else 0.0
        actions: list[EngineAction] = [Promote(s.promote_reason, keep)]
        if guarding:
            s.phase = "guard"
            s.guard = self.guard_factory(self._reference(), self._during_rollout(), self._beside())
            message = (
                f"guarding the promoted release for {self.settings.guard_s:g}s against the former version's "
                f"5XX rate (allowed {s.guard.allowed:.2%})"
                + ("" if s.guard.p99_limit_ms is None else f", p99 (allowed {s.guard.p99_limit_ms:.0f} ms)")
                + (
                    ""
                    if s.guard.slow is None
                    else f" and share of slow requests (allowed {s.guard.slow.allowed:.2%})"
                )
                + (
                    ""
                    if not keep
                    else f", and against the former version kept on {keep:g}% of production beside it"
                )
                + "; a regression undoes the promotion"
            )
            started = lev.GuardStarted(
                duration_s=self.settings.guard_s,
                reference=ev.Window.of(s.guard.reference),
                allowed_error_rate=round(s.guard.allowed, 6),
                message=message,
                kept_percent=keep,
            )
            return [*actions, Emit(started), self._guard_wait(at)]
        return [*actions, *self._post_promotion()]

    def _post_promotion(self) -> list[EngineAction]:
        if POST_PROMOTION in self.settings.hooks:
            self.state.phase = "post_promotion"
            return [RunHook(POST_PROMOTION, 100.0, self._step(), self.state.promote_reason)]
        return self._finish([])

    def _during_rollout(self) -> WindowStats:
        """What the former version served beside the canary, over the rollout's judged periods."""
        return combine(self._beside())

    def _beside(self) -> tuple[WindowStats, ...]:
        """What the former version served beside the canary, per judged period, oldest first."""
        return tuple(self.state.samples[start].baseline for start in sorted(self.state.samples))

    def _reference(self) -> WindowStats:
        """The former version before the rollout: its history's rate when one was read, else what it served
        during the rollout; its p99 the higher of its history's and what it served beside the canary.

        The higher, as the guard's error test takes the higher of the day's rate and today's: the p99 beside
        the canary is read over a few minutes, and where those fell in a lull of a slow dependency it sits
        under the service's usual tail, so that the promoted release's next slow spell alone would cross
        the limit. The day's p99 takes in the day's slow spells."""
        s = self.state
        during = self._during_rollout()
        begin = s.begin
        if begin is not None and begin.reference is not None and begin.reference.requests > 0:
            ref = begin.reference
            p99s = [ms for ms in (ref.p99_ms, during.p99_ms) if ms is not None]
            p99 = max(p99s) if p99s else None
            return WindowStats(ref.requests, ref.errors_5xx, ref.errors_4xx, p99_ms=p99)
        return during

    # -- the guard -------------------------------------------------------------------------------------

    def _guard_first_period(self) -> float:
        period = self.settings.period_s
        return math.ceil(self.state.promoted_at / period) * period

    def _guard_wait(self, at: float) -> Wait:
        s = self.state
        until = min(at + self.settings.tick_s, max(s.promoted_at + self.settings.guard_s, at))
        return Wait(until, self._guard_first_period(), self.settings.guard_keep_percent, promoted=True)

    def _guard_tick(self, tick: Tick) -> list[EngineAction]:
        s, period = self.state, self.settings.period_s
        assert s.guard is not None
        if tick.request is not None and tick.request.action == ABORT:
            return self._undo(f"aborted by {tick.request.by or 'someone'} while guarding", s.guard.periods)
        settled = math.floor((tick.at - self.settings.metrics_lag_s) / period) * period
        first = self._guard_first_period()
        ready = sorted(
            start
            for start in s.samples
            if start >= first and start + period <= settled and start not in s.guarded
        )
        actions: list[EngineAction] = []
        for start in ready:
            s.guarded.add(start)
            sample = s.samples[start]
            if self.settings.guard_keep_percent > 0:  # the runner reads the release as the canary
                result = s.guard.observe(sample.canary, beside=sample.baseline)
            else:  # the release alone, in whichever dimension its requests were counted
                result = s.guard.observe(combine((sample.canary, sample.baseline)))
            left = max(0.0, s.promoted_at + self.settings.guard_s - tick.at)
            checked = lev.GuardChecked(
                window=ev.Window.of(result.window),
                e_value=round(result.e_value, 4),
                verdict="FAIL" if result.failed else "CONTINUE",
                reason=result.reason,
                left_s=round(left, 1),
            )
            actions.append(Emit(checked))
            if result.failed:
                return [*actions, *self._undo(result.reason, s.guard.periods)]
        if tick.at >= s.promoted_at + self.settings.guard_s:
            window = combine(s.guard.periods)
            reason = f"no regression in {self.settings.guard_s:g}s ({window.requests} requests judged)"
            passed = lev.GuardEnded(verdict="PASS", reason=reason, window=ev.Window.of(window))
            return [*actions, Emit(passed), *self._release_former(), *self._post_promotion()]
        return [*actions, self._guard_wait(tick.at)]

    def _undo(self, reason: str, periods: list[WindowStats]) -> list[EngineAction]:
        s = self.state
        s.outcome = Outcome.UNDONE
        failed = lev.GuardEnded(verdict="FAIL", reason=reason, window=ev.Window.of(combine(periods)))
        kept = self.settings.guard_keep_percent > 0
        return self._after_undo([Emit(failed), Undo(reason, kept=kept)], reason)

    def _release_former(self) -> list[EngineAction]:
        return [ReleaseFormer()] if self.settings.guard_keep_percent > 0 else []

    def _end_guard(self, verdict: str, reason: str, outcome: Outcome) -> list[EngineAction]:
        s = self.state
        assert s.guard is not None
        s.outcome = outcome
        ended = lev.GuardEnded(verdict=verdict, reason=reason, window=ev.Window.of(combine(s.guard.periods)))
        return self._finish([Emit(ended), *self._release_former()])
