"""User hooks: `--pre-traffic CMD` before any production traffic moves, `--post-step CMD` after each step.

A hook is a shell command (CI users write `make smoke` or `pytest tests/smoke`); a non-zero exit or a
timeout means rollback. Its output goes to stderr so `--json` stdout stays one event per line.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class HookResult:
    hook: str
    command: str
    exit_code: int | None  # None: killed after the timeout
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def event(self, percent: float) -> HookRan:
        return HookRan(
            hook=self.hook,
            command=self.command,
            exit_code=self.exit_code,
            seconds=round(self.seconds, 2),
            percent=percent,
        )

    def describe(self) -> str:
        if self.exit_code is None:
            return f"{self.hook} hook timed out after {self.seconds:.0f}s: {self.command}"
        return f"{self.hook} hook exited {self.exit_code}: {self.command}"


def hook_env(
    *,
    hook: str,
    production_url: str,
    staging_url: str,
    percent: float,
    step: int,
    live_slot: str,
    candidate_slot: str,
    api_id: str,
    stage: str,
) -> dict[str, str]:
    """What a hook can read: where to send smoke traffic and how far the rollout is."""
    return {
        "APIGW_CANARY_HOOK": hook,
        "APIGW_CANARY_PRODUCTION_URL": production_url,
        "APIGW_CANARY_STAGING_URL": staging_url,
        "APIGW_CANARY_PERCENT": f"{percent:g}",
        "APIGW_CANARY_STEP": str(step),
        "APIGW_CANARY_LIVE_SLOT": live_slot,
        "APIGW_CANARY_CANDIDATE_SLOT": candidate_slot,
        "APIGW_CANARY_API_ID": api_id,
        "APIGW_CANARY_STAGE": stage,
    }


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
