"""The hold and request state of a running rollout, kept on the production stage beside the lock.

Two stage variables, one writer each, so `approve` works from any machine with the controller's permissions:

- `controller_hold` (written by the running `shift`): `kind=approval,since=<epoch>,until=<epoch>` while it
  waits for approval, `kind=pause,since=<epoch>` while paused; removed when the hold ends.
- `controller_request` (written by `approve`, `abort`, `pause`, `resume`):
  `action=approve,by=<who>,at=<epoch>`; the running `shift` reads it at its next tick (`--interval`),
  acts, and removes it.

Values keep to what stage variables allow (alphanumerics and -._~:/?#&=, at most 512 characters:
https://docs.aws.amazon.com/apigateway/latest/developerguide/aws-api-gateway-stage-variables-reference.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controller.aws.stage import StageState
from controller.engine_io import REQUESTS, UserRequest

HOLD_VARIABLE = "controller_hold"
REQUEST_VARIABLE = "controller_request"
_UNSAFE = re.compile(r"[^A-Za-z0-9._~:/?#&=-]")


def fields_of(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    pairs = (part.partition("=") for part in text.split(","))
    return {key: value for key, _, value in pairs if key}


def number_of(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def safe(text: str) -> str:
    return _UNSAFE.sub("-", text)[:200]


@dataclass(frozen=True)
class HoldState:
    kind: str  # approval | pause
    since: float
    until: float | None = None

    def encode(self) -> str:
        until = "" if self.until is None else f",until={int(self.until)}"
        return f"kind={self.kind},since={int(self.since)}{until}"

    @classmethod
    def read(cls, stage: StageState) -> HoldState | None:
        fields = fields_of(stage.variable(HOLD_VARIABLE))
        since = number_of(fields.get("since"))
        if fields.get("kind") not in ("approval", "pause") or since is None:
            return None
        return cls(fields["kind"], since, number_of(fields.get("until")))

    def describe(self, now: float) -> str:
        held = f"held for {now - self.since:.0f}s"
        if self.kind == "approval":
            left = "" if self.until is None else f", rolls back in {max(0.0, self.until - now):.0f}s"
            return f"waiting for approval ({held}{left}): run approve or abort"
        return f"paused ({held}): run resume or abort"


@dataclass(frozen=True)
class RequestRecord:
    action: str
    by: str
    at: float

    def encode(self) -> str:
        return f"action={self.action},by={safe(self.by)},at={int(self.at)}"

    @classmethod
    def read(cls, stage: StageState) -> RequestRecord | None:
        fields = fields_of(stage.variable(REQUEST_VARIABLE))
        at = number_of(fields.get("at"))
        if fields.get("action") not in REQUESTS or at is None:
            return None
        return cls(fields["action"], fields.get("by", ""), at)

    def as_input(self) -> UserRequest:
        return UserRequest(self.action, self.by)


def pending_request(stage: StageState, since: float) -> RequestRecord | None:
    """A request made during this run (an older one is stale: a previous run's, never read)."""
    record = RequestRecord.read(stage)
    return record if record is not None and record.at >= int(since) else None
