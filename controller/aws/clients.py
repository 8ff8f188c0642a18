"""boto3 clients with bounded retries and timeouts, paced below AWS's rate quotas (controller/aws/pacing.py),
an AWS-error translator, and an API call counter."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from controller.aws import pacing
from controller.errors import AwsError

# "standard" retries throttling (429, Throttling*) and transient 5xx/connection errors with capped exponential
# backoff and jitter; "adaptive" only adds a client-side rate limiter, which pays off for many threads sharing
# a client, not for a controller making three calls a tick.
RETRIES = {"mode": "standard", "max_attempts": 5}
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 15


def client_config(max_attempts: int = RETRIES["max_attempts"]) -> Config:
    return Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        user_agent_extra="apigw-canary-controller",
    )


class CallCounter:
    """Counts API calls (once per operation, however many retries) and HTTP attempts, per operation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.*.*", self._on_call)
        client.meta.events.register("before-send.*.*", self._on_send)

    def _on_call(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _on_send(self, request: Any = None, **kwargs: Any) -> None:
        name = kwargs.get("event_name", "").rsplit(".", 1)[-1]
        self.attempts[name or "?"] += 1

    def snapshot(self) -> Counter[str]:
        return Counter(self.calls)


class AwsClients:
    """The clients the controller uses, made once, sharing one counter, paced per (account, region) by the
    process's `pacer` (every stack of a plan shares it: the quotas are the account's)."""

    def __init__(
        self,
        region: str,
        session: boto3.Session | None = None,
        account: str = pacing.UNKNOWN_ACCOUNT,
        pacer: pacing.Pacer = pacing.PACER,
    ) -> None:
        self.counter = CallCounter()
        session = session or boto3.Session(region_name=region)
        try:
            self.apigateway = session.client("apigateway", region_name=region, config=client_config())
            self.cloudwatch = session.client("cloudwatch", region_name=region, config=client_config())
            self.lambda_ = session.client("lambda", region_name=region, config=client_config())
        except (NoRegionError, BotoCoreError) as exc:
            raise AwsError(f"cannot create AWS clients: {exc}") from None
        for client in (self.apigateway, self.cloudwatch, self.lambda_):
            self.counter.attach(client)
            pacing.attach(client, account, region, pacer)
        self._session, self._region = session, region
        self._sns: Any = None

    @property
    def sns(self) -> Any:
        """Made on first use: only `--notify` to an SNS topic needs it."""
        if self._sns is None:
            with aws_errors("create the SNS client"):
                self._sns = self._session.client("sns", region_name=self._region, config=client_config())
        return self._sns


@contextlib.contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Turn botocore failures (after its retries) into AwsError with one line saying what failed."""
    try:
        yield
    except NoCredentialsError:
        raise AwsError(f"{what}: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID/...)") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        message = error.get("Message") or str(exc)
        raise AwsError(f"{what}: {code}: {message}") from None
    except BotoCoreError as exc:
        raise AwsError(f"{what}: {exc}") from None


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None
