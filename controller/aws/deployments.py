"""API Gateway deployments: the controller's own snapshots of the API definition, and their clean-up.

A release runs on a deployment the controller creates (`CreateDeployment` without a stage), never on one
Terraform owns: API Gateway refuses to delete a deployment a stage or a canary points at, so a production
pointer at Terraform's `staging` deployment makes the next definition change fail
(https://docs.aws.amazon.com/apigateway/latest/api/API_DeleteDeployment.html). The controller therefore
deletes only deployments whose description carries its prefix, and only when no stage uses them.
https://docs.aws.amazon.com/apigateway/latest/api/API_CreateDeployment.html
https://docs.aws.amazon.com/apigateway/latest/api/API_GetStages.html
https://docs.aws.amazon.com/apigateway/latest/api/API_GetDeployments.html
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from controller.aws.clients import aws_errors

SNAPSHOT_PREFIX = "apigw-canary "


def snapshot_description(slot: str, version_label: str, now: float) -> str:
    """`apigw-canary <slot> <version> <UTC time>`: marks the deployment as the controller's to delete."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    return f"{SNAPSHOT_PREFIX}{slot} {version_label or '-'} {stamp}"


def is_snapshot(description: str | None) -> bool:
    return bool(description) and str(description).startswith(SNAPSHOT_PREFIX)


@dataclass(frozen=True)
class Deployment:
    id: str
    description: str


class DeploymentAdapter:
    def __init__(self, client: Any, api_id: str) -> None:
        self._client = client
        self.api_id = api_id

    def create(self, description: str) -> Deployment:
        # No stageName: a snapshot of the current definition that no stage serves until the canary does.
        with aws_errors("snapshot the API definition (CreateDeployment)"):
            raw = self._client.create_deployment(restApiId=self.api_id, description=description)
        return Deployment(raw["id"], raw.get("description", description))

    def list(self) -> list[Deployment]:
        found: list[Deployment] = []
        with aws_errors("GetDeployments"):
            for page in self._client.get_paginator("get_deployments").paginate(restApiId=self.api_id):
                found += [Deployment(d["id"], d.get("description", "")) for d in page.get("items", [])]
        return found

    def in_use(self) -> set[str]:
        """Every deployment a stage or a stage's canary points at, on any stage of the API."""
        with aws_errors("GetStages"):
            raw = self._client.get_stages(restApiId=self.api_id)
        used: set[str] = set()
        for stage in raw.get("item", []):
            used.add(stage.get("deploymentId", ""))
            used.add((stage.get("canarySettings") or {}).get("deploymentId", ""))
        used.discard("")
        return used

    def delete(self, deployment_id: str) -> None:
        with aws_errors(f"DeleteDeployment {deployment_id}"):
            self._client.delete_deployment(restApiId=self.api_id, deploymentId=deployment_id)
