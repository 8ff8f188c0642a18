"""API Gateway stages: read one, and the UpdateStage patches a rollout needs.

Patch paths follow the UpdateStage reference and the canary guides:
https://docs.aws.amazon.com/apigateway/latest/api/API_UpdateStage.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/create-canary-deployment.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/update-canary-deployment.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/promote-canary-deployment.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from controller.aws.clients import aws_errors
from controller.errors import AwsError

# Set on the production stage while the per-slot Lambda metrics decide instead of the canary dimension
# (controller/measurement.py), so `status` can tell; removed when the run ends.
METRICS_SOURCE_VARIABLE = "controller_metrics_source"


@dataclass(frozen=True)
class Canary:
    percent: float
    deployment_id: str | None
    overrides: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StageState:
    name: str
    deployment_id: str
    variables: Mapping[str, str]
    canary: Canary | None

    def variable(self, name: str) -> str | None:
        return self.variables.get(name)

    def canary_slot(self, slot_variable: str) -> str | None:
        return None if self.canary is None else self.canary.overrides.get(slot_variable)


def _percent(value: float) -> str:
    return repr(float(value))  # "10.0": percentTraffic is a double


def parse_stage(raw: Mapping[str, Any]) -> StageState:
    canary_raw = raw.get("canarySettings")
    canary = None
    if canary_raw is not None:
        canary = Canary(
            percent=float(canary_raw.get("percentTraffic", 0.0)),
            deployment_id=canary_raw.get("deploymentId"),
            overrides=dict(canary_raw.get("stageVariableOverrides") or {}),
        )
    return StageState(
        name=raw.get("stageName", ""),
        deployment_id=raw.get("deploymentId", ""),
        variables=dict(raw.get("variables") or {}),
        canary=canary,
    )


class StageAdapter:
    def __init__(self, client: Any, api_id: str, slot_variable: str) -> None:
        self._client = client
        self.api_id = api_id
        self.slot_variable = slot_variable

    def get(self, stage: str) -> StageState:
        try:
            raw = self._client.get_stage(restApiId=self.api_id, stageName=stage)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                raise AwsError(
                    f"stage {stage!r} of REST API {self.api_id} not found: is controller_config from this "
                    "account, region and workspace (terraform apply done)?"
                ) from None
            with aws_errors(f"GetStage {stage}"):
                raise
        return parse_stage(raw)

    def _patch(self, stage: str, ops: list[dict[str, str]], what: str) -> StageState:
        with aws_errors(f"{what} (UpdateStage {stage})"):
            raw = self._client.update_stage(restApiId=self.api_id, stageName=stage, patchOperations=ops)
        return parse_stage(raw)

    def create_canary(
        self,
        stage: str,
        deployment_id: str,
        slot: str,
        percent: float,
        overrides: Mapping[str, str] | None = None,
    ) -> StageState:
        """Add canary settings to an existing stage: the candidate's deployment, the module's
        `canary_stage_variable_overrides` and the slot override (which wins over one of the same name).

        The deployment id comes first: a canary must point at a deployment, even when it is the stage's own
        (same API definition; only the slot override differs).
        """
        extra = {k: v for k, v in (overrides or {}).items() if k != self.slot_variable}
        ops = [
            {"op": "replace", "path": "/canarySettings/deploymentId", "value": deployment_id},
            *(
                {"op": "replace", "path": f"/canarySettings/stageVariableOverrides/{name}", "value": value}
                for name, value in sorted(extra.items())
            ),
            {
                "op": "replace",
                "path": f"/canarySettings/stageVariableOverrides/{self.slot_variable}",
                "value": slot,
            },
            {"op": "replace", "path": "/canarySettings/useStageCache", "value": "false"},
            {"op": "replace", "path": "/canarySettings/percentTraffic", "value": _percent(percent)},
        ]
        return self._patch(stage, ops, "create canary")

    def set_canary_percent(self, stage: str, percent: float) -> StageState:
        ops = [{"op": "replace", "path": "/canarySettings/percentTraffic", "value": _percent(percent)}]
        return self._patch(stage, ops, f"set canary to {percent:g}%")

    def promote_canary(
        self, stage: str, deployment_id: str, slot: str, variables: Mapping[str, str] | None = None
    ) -> StageState:
        """The stage adopts the canary's deployment and slot, and the canary goes, in one UpdateStage
        (`variables`: more stage variables set in the same request, e.g. the record `undo` reads).

        The canary settings are removed first: API Gateway does not let a stage's deployment change while a
        canary is set, and within one request the operations apply in order. One request also means no
        moment where the stage serves a mix of the old deployment and the new slot.
        """
        ops = [
            {"op": "remove", "path": "/canarySettings"},
            {"op": "replace", "path": "/deploymentId", "value": deployment_id},
            {"op": "replace", "path": f"/variables/{self.slot_variable}", "value": slot},
            *({"op": "replace", "path": f"/variables/{k}", "value": v} for k, v in (variables or {}).items()),
        ]
        return self._patch(stage, ops, "promote canary")

    def switch(
        self,
        stage: str,
        deployment_id: str,
        slot: str,
        remove: tuple[str, ...] = (),
        drop_canary: bool = False,
    ) -> StageState:
        """Serve `slot` on `deployment_id` (no canary), removing `remove` variables, in one UpdateStage;
        `drop_canary`: the stage's canary goes first in the same request (a deployment cannot change while
        one is set)."""
        ops = [
            *([{"op": "remove", "path": "/canarySettings"}] if drop_canary else []),
            {"op": "replace", "path": "/deploymentId", "value": deployment_id},
            {"op": "replace", "path": f"/variables/{self.slot_variable}", "value": slot},
            *({"op": "remove", "path": f"/variables/{name}"} for name in remove),
        ]
        return self._patch(stage, ops, f"switch {stage} to slot {slot}")

    def remove_canary(self, stage: str) -> StageState:
        return self._patch(stage, [{"op": "remove", "path": "/canarySettings"}], "remove canary")

    def set_slot(self, stage: str, slot: str) -> StageState:
        ops = [{"op": "replace", "path": f"/variables/{self.slot_variable}", "value": slot}]
        return self._patch(stage, ops, f"point {stage} at slot {slot}")

    def set_variable(self, stage: str, name: str, value: str) -> StageState:
        return self._patch(
            stage, [{"op": "replace", "path": f"/variables/{name}", "value": value}], f"set {name}"
        )

    def remove_variable(self, stage: str, name: str) -> StageState:
        return self._patch(stage, [{"op": "remove", "path": f"/variables/{name}"}], f"remove {name}")
