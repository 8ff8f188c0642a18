"""User hooks at each hook point of a rollout (controller/engine_io.py lists them in order).

A hook is a shell command (CI users write `make smoke` or `pytest tests/smoke`) or an http(s) webhook that
gets the payload as a JSON POST (controller/webhooks.py). A command passes with exit 0, a webhook with a 2xx
answer; a timeout fails. A failing confirm or pre hook rolls back; a failing post-promotion or on-rollback
hook is reported and makes the exit code non-zero. A command's output goes to stderr so `--json` stdout
stays one event per line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from controller.event_types import HookRan

DEFAULT_HOOK_TIMEOUT_S = 600.0
DEFAULT_WEBHOOK_RETRIES = 2  # after the first attempt, on a connection error, a timeout, 429 or 5xx


@dataclass(frozen=True)
class HookResult:
    hook: str
    command: str  # the command, or the webhook's URL
    exit_code: int | None  # a command's; None: killed after the timeout, or a webhook
    seconds: float
    webhook_ok: bool | None = None  # a webhook's answer: 2xx or not (None: a command)
    detail: str = ""  # a webhook's last HTTP status or error
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.webhook_ok if self.webhook_ok is not None else self.exit_code == 0

    def event(self, percent: float) -> HookRan:
        return HookRan(
            hook=self.hook,
            command=self.command,
            exit_code=self.exit_code,
            seconds=round(self.seconds, 2),
            percent=percent,
            ok=self.ok,
            detail=self.detail if self.webhook_ok is not None else ("" if self.ok else self.describe()),
            attempts=self.attempts,
        )

    def describe(self) -> str:
        if self.webhook_ok is not None:
            tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
            return f"{self.hook} webhook failed{tries} ({self.detail}): {self.command}"
        if self.exit_code is None:
            return f"{self.hook} hook timed out after {self.seconds:.0f}s: {self.command}"
        return f"{self.hook} hook exited {self.exit_code}: {self.command}"


@dataclass(frozen=True)
class HookPayload:
    """What every hook is told, as a webhook's JSON body and as a command's environment (docs/controller.md).

    `reason` says why the hook point was reached (the promotion's or the rollback's reason); `percent` is the
    canary's share then (100 after a promotion)."""

    hook: str
    api_id: str
    api_name: str
    stage: str
    region: str
    production_url: str
    staging_url: str
    percent: float
    step: int
    live_slot: str
    candidate_slot: str
    live_version: str = ""
    candidate_version: str = ""
    reason: str = ""
    holder: str = ""
    schema_version: int = 1

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def env(self) -> dict[str, str]:
        """APIGW_CANARY_<FIELD> for each field, and the whole payload as APIGW_CANARY_PAYLOAD."""
        values = {
            f"APIGW_CANARY_{name.upper()}": (f"{value:g}" if isinstance(value, float) else str(value))
            for name, value in dataclasses.asdict(self).items()
            if name != "schema_version"
        }
        return {**values, "APIGW_CANARY_PAYLOAD": self.to_json()}


def is_webhook(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def run_target(
    hook: str,
    target: str,
    payload: HookPayload,
    timeout_s: float = DEFAULT_HOOK_TIMEOUT_S,
    stop: threading.Event | None = None,
    retries: int = DEFAULT_WEBHOOK_RETRIES,
) -> HookResult:
    """A hook point's command, or its webhook (an http(s) URL): POST the payload, 2xx passes."""
    if is_webhook(target):
        from controller.webhooks import post_json

        sent = post_json(target, payload.to_json(), timeout_s, retries, stop)
        return HookResult(hook, target, None, sent.seconds, sent.ok, sent.detail, sent.attempts)
    return run_hook(hook, target, payload.env(), timeout_s, stop)


def run_hook(
    hook: str,
    command: str,
    extra_env: Mapping[str, str],
    timeout_s: float = DEFAULT_HOOK_TIMEOUT_S,
    stop: threading.Event | None = None,
) -> HookResult:
    """Run `command` with `extra_env`; ended early (exit_code None) by the timeout or by `stop` (SIGINT)."""
    began = time.monotonic()
    # Own process group, so a timeout ends the whole command (a shell and what it started).
    process = subprocess.Popen(
        command,
        shell=True,
        env={**os.environ, **extra_env},
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr.fileno(),
        stderr=sys.stderr.fileno(),
        start_new_session=True,
    )
    code: int | None = None
    while True:
        try:
            code = process.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() - began >= timeout_s or (stop is not None and stop.is_set()):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                code = None
                break
    return HookResult(hook, command, code, time.monotonic() - began)
