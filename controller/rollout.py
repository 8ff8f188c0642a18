"""The rollout state machine: `decide(state, observation, policy) -> Decision`. Pure, driven by a clock.

The loop in `controller.runner` observes (metrics and alarms), calls `decide`, acts on the Decision and emits
an event. Nothing here talks to AWS or reads the wall clock, so every path is unit-tested in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from controller.gates import GateResult, GateStatus, Thresholds, VerdictLike, evaluate, failures
from controller.stats import WindowStats
from controller.strategy import Plan, Step

EMPTY = WindowStats(requests=0, errors_5xx=0)


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


@dataclass(frozen=True)
class RolloutState:
    step_index: int
    step_started_at: float  # when traffic reached this step's percent (clock seconds)


@dataclass(frozen=True)
class Observation:
    at: float
    canary: WindowStats = EMPTY  # the canary's complete metric periods since the step started
    baseline: WindowStats = EMPTY  # the same periods for the live version (stage minus canary)
    alarms_in_alarm: tuple[str, ...] = ()
    alarms_known: bool = True  # False when DescribeAlarms failed: a step must not pass blind
    judgement: VerdictLike | None = None


class Action(Enum):
    WAIT = "WAIT"  # keep baking
    ADVANCE = "ADVANCE"  # step passed: move to the next step's percent
    PROMOTE = "PROMOTE"  # last step passed: the candidate becomes live
    ROLLBACK = "ROLLBACK"  # a gate failed, or data never came: back to the live slot


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    gates: tuple[GateResult, ...]
    bake_left_s: float  # 0 once the bake time is over
    next_step_index: int | None = None
    next_percent: float | None = None  # adaptive: the ramp's next share

    @property
    def verdict(self) -> str:
        """The tick's verdict in the event log: CONTINUE, PASS or FAIL."""
        return {Action.WAIT: "CONTINUE", Action.ROLLBACK: "FAIL"}.get(self.action, "PASS")

    @property
    def failed_gates(self) -> tuple[GateResult, ...]:
        return failures(self.gates)


def decide(state: RolloutState, obs: Observation, policy: Policy) -> Decision:
    step = policy.plan.steps[state.step_index]
    gates = _gates(obs, policy)
    elapsed = obs.at - state.step_started_at
    left = max(0.0, step.bake_s - elapsed)

    failed = failures(gates)
    if failed:
        return Decision(Action.ROLLBACK, "; ".join(g.reason for g in failed), gates, left)
    if left > 0:
        return Decision(Action.WAIT, f"baking, {left:.0f}s left", gates, left)
    if not obs.alarms_known:
        return Decision(Action.WAIT, "bake over; waiting to read the alarms", gates, 0.0)

    needed = policy.thresholds.min_requests
    if step.bake_s > 0 and obs.canary.requests < needed:
        deadline = step.bake_s + policy.extension_s(step)
        if elapsed >= deadline:
            reason = (
                f"only {obs.canary.requests}/{needed} canary requests {elapsed:.0f}s into the step "
                f"(bake {step.bake_s:.0f}s + {policy.extension_s(step):.0f}s extension): "
                "no data is not a pass"
            )
            return Decision(Action.ROLLBACK, reason, gates, 0.0)
        reason = (
            f"bake over; waiting for {obs.canary.requests}/{needed} canary requests "
            f"({deadline - elapsed:.0f}s left)"
        )
        return Decision(Action.WAIT, reason, gates, 0.0)

    if state.step_index + 1 >= len(policy.plan.steps):
        return Decision(
            Action.PROMOTE, f"step {step.percent:g}% passed; all steps passed their gates", gates, 0.0
        )
    nxt = state.step_index + 1
    return Decision(Action.ADVANCE, f"step {step.percent:g}% passed", gates, 0.0, next_step_index=nxt)


def next_tick_at(state: RolloutState, now: float, policy: Policy) -> float:
    """Tick every interval, and exactly when the bake ends so a step passes on time."""
    step = policy.plan.steps[state.step_index]
    bake_end = state.step_started_at + step.bake_s
    regular = now + policy.interval_s
    return bake_end if now < bake_end < regular else regular


@dataclass(frozen=True)
class AdaptiveState:
    started_at: float  # when the canary first got traffic
    percent: float
    percent_since: float  # when the current percent was set
    last_evidence_at: float  # when the judge last read a period in which the canary served requests


def _gates(obs: Observation, policy: Policy) -> tuple[GateResult, ...]:
    if obs.alarms_known:
        return evaluate(obs.canary, obs.baseline, obs.alarms_in_alarm, policy.thresholds, obs.judgement)
    unknown = GateResult("alarms", GateStatus.NO_DATA, "alarm states unknown (DescribeAlarms failed)")
    return (unknown, *evaluate(obs.canary, obs.baseline, (), policy.thresholds, obs.judgement)[1:])


def decide_adaptive(
    state: AdaptiveState, obs: Observation, policy: Policy, proposal: float | None
) -> Decision:
    """The judge-driven rollout: `proposal` is the ramp's answer to the judge's latest verdict (None when the
    judge read no new period this tick). Every other gate still applies; the judge's PASS promotes."""
    gates = _gates(obs, policy)
    failed = failures(gates)
    if failed:
        return Decision(Action.ROLLBACK, "; ".join(g.reason for g in failed), gates, 0.0)
    verdict = None if obs.judgement is None else obs.judgement.verdict.name
    if not obs.alarms_known:
        return Decision(Action.WAIT, "waiting to read the alarms", gates, 0.0)
    if verdict == "PASS" or (proposal is not None and proposal >= 100):
        return Decision(
            Action.PROMOTE, f"judge: {obs.judgement.reason}" if obs.judgement else "ramp at 100%", gates, 0.0
        )
    if proposal is not None and proposal <= 0:
        return Decision(Action.ROLLBACK, "the ramp withdrew the canary", gates, 0.0)
    limit = policy.plan.max_duration_s
    if limit is not None and obs.at - state.started_at >= limit:
        reason = f"the judge did not decide within {limit:.0f}s: fail safe"
        return Decision(Action.ROLLBACK, reason, gates, 0.0)
    quiet = obs.at - state.last_evidence_at
    if quiet >= policy.no_evidence_limit_s():
        reason = f"no canary traffic judged for {quiet:.0f}s: no data is not a pass"
        return Decision(Action.ROLLBACK, reason, gates, 0.0)
    if proposal is not None and abs(proposal - state.percent) > 1e-9:
        return Decision(
            Action.ADVANCE, f"ramp: {state.percent:g}% -> {proposal:g}%", gates, 0.0, next_percent=proposal
        )
    reason = obs.judgement.reason if obs.judgement is not None else "waiting for the first judged period"
    return Decision(Action.WAIT, reason, gates, 0.0)
