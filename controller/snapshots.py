"""The controller's deployments: snapshot the API definition for a release, delete the ones no stage uses.

Each party deletes only what it created: Terraform its `initial` and `staging` deployments, the controller the
snapshots it made (description `apigw-canary ...`). A snapshot left behind only costs an entry in the
deployment list, so failing to delete one is a warning, never a reason to fail a release.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.aws.deployments import Deployment, is_snapshot, snapshot_description
from controller.errors import AwsError
from controller.event_types import DeploymentChanged, WarningEvent
from controller.events import Events

if TYPE_CHECKING:
    from controller.ports import DeploymentsPort


def create_snapshot(deployments: DeploymentsPort, slot: str, version_label: str, now: float) -> Deployment:
    return deployments.create(snapshot_description(slot, version_label, now))


def announce_snapshot(events: Events, snapshot: Deployment, slot: str) -> None:
    events.emit(
        DeploymentChanged(
            action="created",
            deployment_id=snapshot.id,
            description=snapshot.description,
            message=f"snapshot of the API definition for {slot}: deployment {snapshot.id}",
        )
    )


def remove_unused_snapshots(
    deployments: DeploymentsPort, events: Events, only: set[str] | None = None, keep: set[str] | None = None
) -> list[str]:
    """Delete the controller's snapshots that no stage or canary uses (`only`: just these ids; `keep`: not
    these, e.g. the former live deployment `undo` may go back to).

    Deployments without the controller's description prefix are never touched, whoever made them.
    """
    try:
        used = deployments.in_use()
        unused = [
            d
            for d in deployments.list()
            if is_snapshot(d.description)
            and d.id not in used
            and (only is None or d.id in only)
            and d.id not in (keep or set())
        ]
    except AwsError as exc:
        events.emit(
            WarningEvent(message=f"could not look for unused controller deployments to delete: {exc}")
        )
        return []
    removed: list[str] = []
    for deployment in unused:
        try:
            deployments.delete(deployment.id)
        except AwsError as exc:
            events.emit(WarningEvent(message=f"could not delete unused deployment {deployment.id}: {exc}"))
            continue
        removed.append(deployment.id)
        events.emit(
            DeploymentChanged(
                action="deleted",
                deployment_id=deployment.id,
                description=deployment.description,
                message=f"deleted deployment {deployment.id} ({deployment.description}): no stage uses it",
            )
        )
    return removed
