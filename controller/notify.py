"""Notifications: `--notify TARGET` (repeatable) sends what happened, why, the figures and the report's link.

    --notify slack:https://hooks.slack.com/services/...    Slack incoming webhook ({"text": ...})
    --notify teams:https://....webhook.office.com/...      Teams workflow webhook (an Adaptive Card)
    --notify webhook:https://ci.example.com/hooks/canary   generic JSON (the event, a title and a text)
    --notify arn:aws:sns:us-east-1:123456789012:releases   an SNS topic (Publish: subject and text)

A bare https URL on hooks.slack.com or *.webhook.office.com is recognised; any other bare URL is a generic
webhook. `--notify-level decisions` (default) sends the decisions: promoted, rolled back, undone, refused,
held for approval and how the hold ended, the guard's verdict, a failed hook, a user's request;
`--notify-level steps` adds each step's start and the run's start. A notification that cannot be sent is a
warning in the event log, never a reason to stop a rollout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller import event_types as ev
from controller import lifecycle_events as lev
from controller.errors import UsageError
from controller.events import Events
from controller.webhooks import post_json

KINDS = ("slack", "teams", "webhook", "sns")
LEVELS = ("decisions", "steps")
NOTIFY_TIMEOUT_S = 10.0
_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")

DECISIONS: tuple[type[ev.Event], ...] = (
    ev.Promoted,
    ev.RolledBack,
    ev.Interrupted,
    ev.ErrorEvent,
    lev.Undone,
    lev.Refused,
    lev.HoldStarted,
    lev.HoldEnded,
    lev.GuardEnded,
    lev.RequestSent,
)
STEPS: tuple[type[ev.Event], ...] = (ev.RunStarted, ev.StepStarted, lev.GuardStarted)


@dataclass(frozen=True)
class NotifyTarget:
    kind: str  # slack | teams | webhook | sns
    address: str  # URL or topic ARN

    @classmethod
    def parse(cls, text: str) -> NotifyTarget:
        raw = text.strip()
        kind, sep, rest = raw.partition(":")
        if sep and kind in KINDS and not rest.startswith("//"):
            address = rest
        else:
            kind, address = _guess(raw), raw
        if kind == "sns":
            if not _SNS_ARN.match(address):
                raise UsageError(f"--notify {text}: not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        elif not address.startswith(("http://", "https://")):
            raise UsageError(f"--notify {text}: expected an http(s) URL or an SNS topic ARN")
        return cls(kind, address)


def _guess(address: str) -> str:
    if address.startswith("arn:"):
        return "sns"
    host = re.sub(r"^https?://", "", address).split("/", 1)[0].lower()
    if host == "hooks.slack.com":
        return "slack"
    if host.endswith(".webhook.office.com") or host.endswith(".logic.azure.com"):
        return "teams"
    return "webhook"


@dataclass(frozen=True)
class Message:
    title: str
    text: str
    event: dict[str, Any]
    level: str  # decision | step
    report_url: str | None


class Notifier(Events):
    """An event sink (behind `events.Fanout`) that sends the chosen events to every target."""

    def __init__(
        self,
        targets: tuple[NotifyTarget, ...],
        api: str,
        level: str = "decisions",
        report_url: str | None = None,
        sns: Callable[[], Any] | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.targets, self.api, self.level, self.report_url = targets, api, level, report_url
        self._sns, self._on_failure = sns, on_failure
        self.latest_tick: ev.TickEvent | None = None
        self.sent = 0

    def write(self, event: ev.Event) -> None:
        if isinstance(event, ev.TickEvent):
            self.latest_tick = event
        if isinstance(event, ev.HookRan) and not event.ok or isinstance(event, DECISIONS):
            level = "decision"
        elif isinstance(event, STEPS) and self.level == "steps":
            level = "step"
        else:
            return
        message = self.message(event, level)
        for target in self.targets:
            self._send(target, message)

    def message(self, event: ev.Event, level: str) -> Message:
        what = event.kind.replace("_", " ")
        title = f"{self.api}: {what}"
        lines = [event.text]
        percent = getattr(event, "percent", None)
        if percent is not None:
            lines.append(f"canary share: {percent:g}%")
        tick = self.latest_tick
        if tick is not None and level == "decision":
            c, b = tick.canary, tick.baseline
            lines.append(
                f"last check: canary {c.requests} requests, {c.errors_5xx} 5XX, p99 {_ms(c.p99_ms)}; "
                f"baseline {b.requests} requests, {b.errors_5xx} 5XX, p99 {_ms(b.p99_ms)}"
            )
        if self.report_url:
            lines.append(f"report: {self.report_url}")
        return Message(title, "\n".join(lines), event.to_dict(), level, self.report_url)

    def _send(self, target: NotifyTarget, message: Message) -> None:
        try:
            problem = self._deliver(target, message)
        except Exception as exc:  # noqa: BLE001 - a notification never stops a rollout
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            if self._on_failure is not None:
                self._on_failure(f"notification to {target.kind} {target.address} failed: {problem}")
        else:
            self.sent += 1

    def _deliver(self, target: NotifyTarget, message: Message) -> str:
        if target.kind == "sns":
            if self._sns is None:
                return "no SNS client"
            self._sns().publish(
                TopicArn=target.address,
                Subject=message.title[:100],
                Message=message.text,
                MessageAttributes={
                    "event": {"DataType": "String", "StringValue": str(message.event["event"])},
                },
            )
            return ""
        sent = post_json(target.address, json.dumps(body(target.kind, message)), NOTIFY_TIMEOUT_S, retries=1)
        return "" if sent.ok else sent.detail


def body(kind: str, message: Message) -> dict[str, Any]:
    """The JSON each kind of webhook expects."""
    if kind == "slack":
        # https://api.slack.com/messaging/webhooks: a "text" field (mrkdwn).
        return {"text": f"*{message.title}*\n{message.text}"}
    if kind == "teams":
        # Teams workflow webhooks take a message with an Adaptive Card attachment.
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": message.title, "weight": "Bolder", "wrap": True},
                *({"type": "TextBlock", "text": line, "wrap": True} for line in message.text.splitlines()),
            ],
        }
        return {
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
        }
    return {
        "title": message.title,
        "text": message.text,
        "level": message.level,
        "report_url": message.report_url,
        "event": message.event,
    }


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"
