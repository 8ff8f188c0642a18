"""The controller's ports: what the runner and the commands need from the outside world.

One Protocol per concern; the AWS implementations live in controller/aws/ (one file each) and are wired in
one place, controller/app.py. A new provider (another metrics backend, another traffic router) is one file
that satisfies its Protocol, plus its tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Protocol

from controller.aws.deployments import Deployment
from controller.aws.functions import FunctionIdentity
from controller.aws.metrics import MetricsRequest
from controller.aws.stage import StageState
from controller.domain import BaselineHistory
from controller.hooks import HookPayload, HookResult
from controller.measurement import RawSeries


class TrafficRouter(Protocol):
    """The REST API's stages: who serves production, and the canary's share and slot."""

    def get(self, stage: str) -> StageState: ...
    def create_canary(
        self,
        stage: str,
        deployment_id: str,
        slot: str,
        percent: float,
        overrides: Mapping[str, str] | None = None,
    ) -> StageState: ...
    def set_canary_percent(self, stage: str, percent: float) -> StageState: ...
    def promote_canary(
        self, stage: str, deployment_id: str, slot: str, variables: Mapping[str, str] | None = None
    ) -> StageState: ...
    def switch(
        self,
        stage: str,
        deployment_id: str,
        slot: str,
        remove: tuple[str, ...] = (),
        drop_canary: bool = False,
    ) -> StageState: ...
    def remove_canary(self, stage: str) -> StageState: ...
    def set_slot(self, stage: str, slot: str) -> StageState: ...
    def set_variable(self, stage: str, name: str, value: str) -> StageState: ...
    def remove_variable(self, stage: str, name: str) -> StageState: ...


class MetricsSource(Protocol):
    """Raw per-period series for a window, and the live version's history before the rollout."""

    def fetch(self, start: float, end: float, request: MetricsRequest) -> RawSeries: ...
    def history(self, start: float, end: float) -> BaselineHistory: ...


class AlarmsSource(Protocol):
    names: tuple[str, ...]

    def states(self) -> dict[str, str]: ...


class DeploymentsPort(Protocol):
    def create(self, description: str) -> Deployment: ...
    def list(self) -> list[Deployment]: ...
    def in_use(self) -> set[str]: ...
    def delete(self, deployment_id: str) -> None: ...


class Lock(Protocol):
    holder: str
    expires: float | None  # set while held

    def check_free(self, state: StageState) -> object: ...
    def acquire(self, state: StageState | None = None) -> tuple[StageState, object]: ...
    def renew(self) -> StageState: ...
    def extend_for(self, seconds: float) -> None: ...
    def release(self) -> None: ...


class FunctionsPort(Protocol):
    """The slots' Lambda functions: what code and configuration each one has now (for `undo`)."""

    def identity(self, function_name: str) -> FunctionIdentity: ...


HookRunner = Callable[[str, str, HookPayload, float, threading.Event], HookResult]
