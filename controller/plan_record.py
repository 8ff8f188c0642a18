"""A plan's progress, kept in AWS beside each stack's lock: the production stage's `controller_plan` variable.

    plan=<plan id>,release=<release id>,wave=<n>,slot=<slot>,state=promoted,at=<epoch>

It is written in the same UpdateStage as the promotion (so a stack is never promoted without it), and after
a stack rolls back or a revert undoes it (state rolled_back or reverted). Terraform ignores production's
variables. Values keep to what stage variables allow (alphanumerics and -._~:/?#&=, at most 512
characters: https://docs.aws.amazon.com/apigateway/latest/developerguide/aws-api-gateway-stage-variables-reference.html).

**Release id** (per stack): a hash of both slots' code (CodeSha256) and RevisionId. A promotion changes
neither (it only points production at the other slot), so a stack keeps its release id across its
promotion; a new release applied to a slot changes it. A rerun skips a stack whose record says it was
promoted for its current release id and whose production still serves the promoted slot; any other stack
rolls (resuming a canary in flight). Stacks promoted earlier are therefore never shifted back to their
former release by a rerun, even when the plan file changed in between.

**Plan id**: a hash of the stacks in wave order and their release ids. The same plan file for the same
release has the same id; a new release (any stack's) gives a new id. It names the run in events and
records; it does not decide what is skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from controller.aws.functions import FunctionIdentity
from controller.aws.stage import StageState
from controller.holds import fields_of, number_of

PLAN_VARIABLE = "controller_plan"
PROMOTED, ROLLED_BACK, REVERTED = "promoted", "rolled_back", "reverted"
STATES = (PROMOTED, ROLLED_BACK, REVERTED)


@dataclass(frozen=True)
class PlanRecord:
    plan: str
    release: str
    wave: int
    state: str  # promoted | rolled_back | reverted
    at: float
    slot: str = ""  # the slot production serves after the promotion

    def encode(self) -> str:
        slot = f",slot={self.slot}" if self.slot else ""
        return (
            f"plan={self.plan},release={self.release},wave={self.wave}{slot},state={self.state},"
            f"at={int(self.at)}"
        )

    @classmethod
    def parse(cls, text: str | None) -> PlanRecord | None:
        f = fields_of(text)
        at, wave = number_of(f.get("at")), number_of(f.get("wave"))
        if not f.get("plan") or not f.get("release") or f.get("state") not in STATES:
            return None
        if at is None or wave is None:
            return None
        return cls(f["plan"], f["release"], int(wave), f["state"], at, f.get("slot", ""))

    @classmethod
    def read(cls, stage: StageState) -> PlanRecord | None:
        return cls.parse(stage.variable(PLAN_VARIABLE))

    def promoted_for(self, release: str, production: StageState, slot_variable: str) -> bool:
        """Promoted for this release, and production still serves what was promoted (no canary on it)."""
        return (
            self.state == PROMOTED
            and self.release == release
            and production.canary is None
            and production.variable(slot_variable) == self.slot
        )


def release_id(region: str, api_id: str, slots: Sequence[tuple[str, FunctionIdentity]]) -> str:
    """Both slots' code and configuration: the same before and after the stack's promotion."""
    parts = [region, api_id, *(f"{name}:{i.code_sha256}:{i.revision_id}" for name, i in sorted(slots))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def plan_id(stacks: Sequence[tuple[int, str, str]]) -> str:
    """(wave, stack name, release id) of every stack, in order."""
    text = "|".join(f"{wave}:{name}:{release}" for wave, name, release in stacks)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
