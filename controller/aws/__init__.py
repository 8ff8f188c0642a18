"""Thin AWS adapters: API Gateway stages, CloudWatch metrics and alarms, the stage lease.

Each method is one documented AWS call (two where noted) with botocore's retries and timeouts; failures
become `AwsError` with a one-line message. No decisions are made here.
"""

from controller.aws.alarms import AlarmsAdapter
from controller.aws.clients import AwsClients, CallCounter
from controller.aws.deployments import Deployment, DeploymentAdapter
from controller.aws.lock import Lease, StageLock
from controller.aws.metrics import FunctionPair, MetricsAdapter, MetricsRequest
from controller.aws.stage import Canary, StageAdapter, StageState

__all__ = [
    "AlarmsAdapter",
    "AwsClients",
    "CallCounter",
    "Canary",
    "Deployment",
    "DeploymentAdapter",
    "Lease",
    "MetricsAdapter",
    "FunctionPair",
    "MetricsRequest",
    "StageAdapter",
    "StageLock",
    "StageState",
]
