"""Notifications and webhook hooks against real receivers: an HTTP server on 127.0.0.1 started by the test,
and the local cloud's SNS (a topic with an SQS subscription the test reads)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from http_receiver import Receiver, start_receiver

from controller import event_types as ev
from controller import lifecycle_events as lev
from controller.events import Fanout, Recorder
from controller.hooks import HookPayload, run_target
from controller.notify import Notifier, NotifyTarget


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = start_receiver()
    yield r
    r.stop()


def payload(hook: str = "post-promotion") -> HookPayload:
    return HookPayload(
        hook=hook,
        api_id="abc123",
        api_name="shop",
        stage="production",
        region="us-east-1",
        production_url="http://127.0.0.1:1/production",
        staging_url="http://127.0.0.1:1/staging",
        percent=100.0,
        step=2,
        live_slot="blue",
        candidate_slot="green",
        reason="every gate passed",
    )


def test_a_webhook_hook_posts_the_documented_payload_and_passes_on_2xx(receiver: Receiver) -> None:
    result = run_target("post-promotion", f"{receiver.url}/hooks", payload(), timeout_s=10)
    assert result.ok and result.attempts == 1
    (got,) = receiver.on("/hooks")
    assert got.body == json.loads(payload().to_json())
    assert got.headers["Content-Type"] == "application/json"


def test_a_webhook_hook_retries_a_5xx_and_fails_with_its_status(receiver: Receiver) -> None:
    receiver.status["/down"] = 503
    result = run_target("confirm-rollout", f"{receiver.url}/down", payload(), timeout_s=20, retries=2)
    assert not result.ok and result.attempts == 3 and "HTTP 503" in result.describe()
    receiver.status["/denied"] = 403
    denied = run_target("confirm-rollout", f"{receiver.url}/denied", payload(), timeout_s=20, retries=2)
    assert not denied.ok and denied.attempts == 1  # a 4xx is an answer, not a fault: no retry


def test_notifications_reach_slack_teams_and_generic_receivers_and_an_sns_topic(
    receiver: Receiver, aws_client: Any
) -> None:
    sns, sqs = aws_client("sns"), aws_client("sqs")
    topic = sns.create_topic(Name="releases")["TopicArn"]
    queue = sqs.create_queue(QueueName="releases-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    targets = tuple(
        NotifyTarget.parse(t)
        for t in (f"slack:{receiver.url}/slack", f"teams:{receiver.url}/teams", f"{receiver.url}/any", topic)
    )
    failures: list[str] = []
    primary = Recorder()
    notifier = Notifier(
        targets, "shop/production", "decisions", "https://ci.example.com/run/7", lambda: sns, failures.append
    )
    events = Fanout(primary, notifier)
    events.emit(ev.StepStarted(step=1, steps=2, percent=10.0, bake_s=60.0))  # a step: not a decision
    events.emit(
        ev.TickEvent(
            step=1,
            percent=10.0,
            canary=ev.Window(200, 30),
            baseline=ev.Window(1800, 1),
            verdict="FAIL",
            reason="5XX 15%",
            bake_left_s=0.0,
        )
    )
    events.emit(
        ev.RolledBack(live_slot="blue", candidate_slot="green", reason="error_rate: 15%", percent=10.0)
    )
    assert failures == [] and notifier.sent == 4
    (slack,) = receiver.on("/slack")
    assert "rolled back" in slack.body["text"] and "error_rate: 15%" in slack.body["text"]
    assert (
        "canary 200 requests, 30 5XX" in slack.body["text"] and "ci.example.com/run/7" in slack.body["text"]
    )
    (teams,) = receiver.on("/teams")
    assert teams.body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    (generic,) = receiver.on("/any")
    assert generic.body["event"]["event"] == "rolled_back" and generic.body["level"] == "decision"
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])  # SNS delivers its JSON envelope to SQS
    assert envelope["Subject"] == "shop/production: rolled back" and "error_rate: 15%" in envelope["Message"]


def test_a_receiver_that_fails_is_a_warning_never_an_error(receiver: Receiver) -> None:
    receiver.status["/broken"] = 500
    failures: list[str] = []
    notifier = Notifier(
        (NotifyTarget.parse(f"{receiver.url}/broken"),), "shop/prod", on_failure=failures.append
    )
    Fanout(Recorder(), notifier).emit(lev.Refused(reason="change freeze"))
    assert len(failures) == 1 and "HTTP 500" in failures[0]


def test_the_steps_level_also_sends_each_step(receiver: Receiver) -> None:
    notifier = Notifier((NotifyTarget.parse(f"webhook:{receiver.url}/steps"),), "shop/prod", "steps")
    Fanout(Recorder(), notifier).emit(ev.StepStarted(step=1, steps=2, percent=10.0, bake_s=60.0))
    assert [r.body["level"] for r in receiver.on("/steps")] == ["step"]
