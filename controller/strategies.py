"""The two strategy types the engine runs: fixed steps (with bakes) and adaptive (the judge and the ramp).

Each is pure: given what the engine saw this tick (`StepView`), it answers a `Decision`. The engine owns the
flow around them (hooks, events, which periods the judge reads); a strategy only says wait, advance to
which share, promote or roll back, and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from controller.domain import GateResult, Judgement, PeriodSample, Verdict, WindowStats
from controller.gates import Thresholds, blocking
from controller.strategy import Plan, Step


@dataclass(frozen=True)
class Policy:
    plan: Plan
    thresholds: Thresholds
    interval_s: float
    period_s: float
    max_extension_s: float | None = None  # None: see `extension_s`

    def extension_s(self, step: Step) -> float:
        """How long a finished bake may wait for enough data before the rollout fails safe.

        Default: as long again as the bake, and at least three metric periods and two ticks, so a
        short bake on a real (one-minute, delayed) CloudWatch still sees its data arrive.
        """
        if self.max_extension_s is not None:
            return self.max_extension_s
        return max(step.bake_s, 3 * self.period_s, 2 * self.interval_s)

    def no_evidence_limit_s(self) -> float:
        """Adaptive: how long without a judged period of canary traffic before failing safe.

        The judge reads a period once it has settled (one more period), so evidence arrives at best every
        period, two periods after the traffic it describes.
        """
        if self.max_extension_s is not None:
            return self.max_extension_s
        return max(5 * self.period_s, 3 * self.interval_s)


class Action(Enum):
    WAIT = "WAIT"  # keep baking
    ADVANCE = "ADVANCE"  # step passed: move to the next share
    PROMOTE = "PROMOTE"  # the candidate becomes live
    ROLLBACK = "ROLLBACK"  # a gate failed, or data never came: back to the live slot


@dataclass(frozen=True)
class Share:
    """A share of production traffic for the candidate, as a step of the rollout."""

    percent: float
    step: int  # 1-based
    steps: int | None = None  # None: adaptive
    bake_s: float | None = None  # None: adaptive


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    gates: tuple[GateResult, ...]
    bake_left_s: float = 0.0  # 0 once the bake time is over
    next_share: Share | None = None

    @property
    def verdict(self) -> str:
        """The tick's verdict in the event log: CONTINUE, PASS or FAIL."""
        return {Action.WAIT: "CONTINUE", Action.ROLLBACK: "FAIL"}.get(self.action, "PASS")

    @property
    def failed_gates(self) -> tuple[GateResult, ...]:
        return blocking(self.gates)


@dataclass(frozen=True)
class StepView:
    """What one tick shows a strategy."""

    at: float
    share: Share
    step_started_at: float
    rollout_started_at: float
    canary: WindowStats  # the step's periods, added up
    gates: tuple[GateResult, ...]
    alarms_known: bool
    judgement: Judgement | None
    judged_now: tuple[PeriodSample, ...]  # periods the judge read this tick
    last_evidence_at: float  # when the judge last read a period with canary requests


class Strategy(Protocol):
    adaptive: bool

    def first_share(
        self, resumed_percent: float | None, requests_per_period: float, trusts: bool
    ) -> Share: ...
    def decide(self, view: StepView) -> Decision: ...
    def next_wake(self, now: float, share: Share, step_started_at: float, ticks: int) -> float: ...


@dataclass
class FixedSteps:
    """A plan of shares, each baked for its time; every gate must pass and the step must see enough canary
    requests (`Thresholds.min_requests`) before it may pass."""

    policy: Policy
    adaptive: bool = False

    def _share(self, index: int) -> Share:
        steps = self.policy.plan.steps
        return Share(steps[index].percent, index + 1, len(steps), steps[index].bake_s)

    def first_share(self, resumed_percent: float | None, requests_per_period: float, trusts: bool) -> Share:
        index = self.policy.plan.first_step_at_or_above(resumed_percent) if resumed_percent else 0
        return self._share(index)

    def next_wake(self, now: float, share: Share, step_started_at: float, ticks: int) -> float:
        """Tick every interval, exactly when the bake ends so a step passes on time, and at once for a
        step without a bake."""
        bake = share.bake_s or 0.0
        if bake == 0 and ticks == 0:
            return step_started_at
        bake_end = step_started_at + bake
        regular = now + self.policy.interval_s
        return bake_end if now < bake_end < regular else regular

    def decide(self, view: StepView) -> Decision:
        policy, share = self.policy, view.share
        step = policy.plan.steps[share.step - 1]
        elapsed = view.at - view.step_started_at
        left = max(0.0, step.bake_s - elapsed)
        failed = blocking(view.gates)
        if failed:
            return Decision(Action.ROLLBACK, "; ".join(g.reason for g in failed), view.gates, left)
        if left > 0:
            return Decision(Action.WAIT, f"baking, {left:.0f}s left", view.gates, left)
        if not view.alarms_known:
            return Decision(Action.WAIT, "bake over; waiting to read the alarms", view.gates)
        needed = policy.thresholds.min_requests
        if step.bake_s > 0 and view.canary.requests < needed:
            deadline = step.bake_s + policy.extension_s(step)
            if elapsed >= deadline:
                reason = (
                    f"only {view.canary.requests}/{needed} canary requests {elapsed:.0f}s into the step "
                    f"(bake {step.bake_s:.0f}s + {policy.extension_s(step):.0f}s extension): "
                    "no data is not a pass"
                )
                return Decision(Action.ROLLBACK, reason, view.gates)
            reason = (
                f"bake over; waiting for {view.canary.requests}/{needed} canary requests "
                f"({deadline - elapsed:.0f}s left)"
            )
            return Decision(Action.WAIT, reason, view.gates)
        if share.step >= len(policy.plan.steps):
            reason = f"step {step.percent:g}% passed; all steps passed their gates"
            return Decision(Action.PROMOTE, reason, view.gates)
        return Decision(
            Action.ADVANCE, f"step {step.percent:g}% passed", view.gates, next_share=self._share(share.step)
        )


class RampPort(Protocol):
    def initial_percent(self, requests_per_period: float, trusts_history: bool = False) -> float: ...
    def next_percent(
        self, current_percent: float, judgement: Judgement, requests_per_period: float
    ) -> float: ...


@dataclass
class Adaptive:
    """The judge decides and the ramp sizes the share: after each judged period the ramp proposes the next
    share (0 rolls back, 100 promotes); the judge's PASS promotes, its FAIL is a gate failure. Undecided
    after the plan's `max_duration_s`, or without a judged period of canary traffic for
    `Policy.no_evidence_limit_s`, it rolls back: no data is not a pass."""

    policy: Policy
    ramp: RampPort
    requests_per_period: float = 0.0
    adaptive: bool = True

    def first_share(self, resumed_percent: float | None, requests_per_period: float, trusts: bool) -> Share:
        self.requests_per_period = requests_per_period
        percent = resumed_percent or self.ramp.initial_percent(requests_per_period, trusts)
        return Share(percent, 1)

    def next_wake(self, now: float, share: Share, step_started_at: float, ticks: int) -> float:
        return now + self.policy.interval_s

    def decide(self, view: StepView) -> Decision:
        gates, share, judgement = view.gates, view.share, view.judgement
        proposal = None
        if view.judged_now and judgement is not None:
            latest = view.judged_now[-1]
            if latest.canary.requests + latest.baseline.requests > 0:
                self.requests_per_period = latest.canary.requests + latest.baseline.requests
            proposal = self.ramp.next_percent(share.percent, judgement, self.requests_per_period)
        failed = blocking(gates)
        if failed:
            return Decision(Action.ROLLBACK, "; ".join(g.reason for g in failed), gates)
        if not view.alarms_known:
            return Decision(Action.WAIT, "waiting to read the alarms", gates)
        if (judgement is not None and judgement.verdict is Verdict.PASS) or (
            proposal is not None and proposal >= 100
        ):
            reason = f"judge: {judgement.reason}" if judgement is not None else "ramp at 100%"
            return Decision(Action.PROMOTE, reason, gates)
        if proposal is not None and proposal <= 0:
            return Decision(Action.ROLLBACK, "the ramp withdrew the canary", gates)
        limit = self.policy.plan.max_duration_s
        if limit is not None and view.at - view.rollout_started_at >= limit:
            return Decision(
                Action.ROLLBACK, f"the judge did not decide within {limit:.0f}s: fail safe", gates
            )
        quiet = view.at - view.last_evidence_at
        if quiet >= self.policy.no_evidence_limit_s():
            reason = f"no canary traffic judged for {quiet:.0f}s: no data is not a pass"
            return Decision(Action.ROLLBACK, reason, gates)
        if proposal is not None and abs(proposal - share.percent) > 1e-9:
            return Decision(
                Action.ADVANCE,
                f"ramp: {share.percent:g}% -> {proposal:g}%",
                gates,
                next_share=Share(proposal, share.step + 1),
            )
        reason = judgement.reason if judgement is not None else "waiting for the first judged period"
        return Decision(Action.WAIT, reason, gates)
