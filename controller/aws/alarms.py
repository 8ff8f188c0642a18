"""Alarm states: ONE DescribeAlarms call per tick for every configured alarm, metric and composite.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html
"""

from __future__ import annotations

from typing import Any

from controller.aws.clients import aws_errors

MAX_NAMES_PER_CALL = 100  # DescribeAlarms' AlarmNames limit


class AlarmsAdapter:
    def __init__(self, client: Any, names: tuple[str, ...]) -> None:
        self._client = client
        self.names = names

    def states(self) -> dict[str, str]:
        """{alarm name: OK | ALARM | INSUFFICIENT_DATA} for the configured names that exist."""
        states: dict[str, str] = {}
        for index in range(0, len(self.names), MAX_NAMES_PER_CALL):
            request: dict[str, Any] = {
                "AlarmNames": list(self.names[index : index + MAX_NAMES_PER_CALL]),
                # Without AlarmTypes DescribeAlarms returns metric alarms only.
                "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            }
            while True:
                with aws_errors("DescribeAlarms"):
                    page = self._client.describe_alarms(**request)
                for alarm in (*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])):
                    states[alarm["AlarmName"]] = alarm["StateValue"]
                token = page.get("NextToken")
                if not token:
                    break
                request["NextToken"] = token
        return states

    def missing(self, states: dict[str, str]) -> tuple[str, ...]:
        return tuple(name for name in self.names if name not in states)
