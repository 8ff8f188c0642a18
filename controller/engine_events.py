"""The typed events the engine writes about a tick and a failed step (controller/engine.py)."""

from __future__ import annotations

from collections.abc import Sequence

from controller import event_types as ev
from controller.domain import GateResult, Judgement
from controller.gates import GateInput
from controller.strategies import Decision, Share


def tick_event(
    share: Share,
    data: GateInput,
    verdict: str,
    reason: str,
    bake_left_s: float,
    gates: Sequence[GateResult],
    judgement: Judgement | None,
) -> ev.TickEvent:
    return ev.TickEvent(
        step=share.step,
        percent=share.percent,
        canary=ev.Window.of(data.canary),
        baseline=ev.Window.of(data.baseline),
        verdict=verdict,
        reason=reason,
        bake_left_s=round(bake_left_s, 1),
        alarms=data.alarms.as_dict(),
        gates=tuple(ev.GateOutcome(g.gate, g.status.value, g.reason, g.shadow) for g in gates),
        judge=None
        if judgement is None
        else ev.JudgeSummary(
            judgement.verdict.name,
            judgement.reason,
            judgement.evidence.fail_e_value,
            judgement.evidence.pass_e_value,
        ),
    )


def gate_failures(share: Share, failed: Sequence[GateResult]) -> list[ev.GateFailed]:
    return [
        ev.GateFailed(step=share.step, percent=share.percent, gate=g.gate, reason=g.reason) for g in failed
    ]


def rollback_events(share: Share, decision: Decision, adaptive: bool) -> list[ev.GateFailed]:
    if decision.failed_gates:
        return gate_failures(share, decision.failed_gates)
    gate = "judge" if adaptive else "data"
    return [ev.GateFailed(step=share.step, percent=share.percent, gate=gate, reason=decision.reason)]
