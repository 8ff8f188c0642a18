"""Where rollout events go: JSON lines for CI and `controller report`, the human view, or memory (tests).

Every event is a typed `controller.event_types.Event`; a sink stamps its `at` and writes it. Events are
validated against docs/events.schema.json by the test suite.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from controller.event_types import Event


class Events:
    """Base: stamps and forwards events; subclasses write them."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def emit(self, event: Event) -> Event:
        stamped = dataclasses.replace(event, at=round(self._clock(), 3))
        self.write(stamped)
        return stamped

    def write(self, event: Event) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class Recorder(Events):
    """Keeps events in memory (tests, and the e2e measurements)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.events: list[Event] = []

    def write(self, event: Event) -> None:
        self.events.append(event)

    @property
    def records(self) -> list[dict[str, Any]]:
        """The events as their JSON objects."""
        return [event.to_dict() for event in self.events]

    def names(self) -> list[str]:
        return [event.kind for event in self.events]

    def of(self, cls: type[Event]) -> list[Any]:
        return [event for event in self.events if isinstance(event, cls)]


class JsonLines(Events):
    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self._stream = stream or sys.stdout

    def write(self, event: Event) -> None:
        self._stream.write(json.dumps(event.to_dict(), separators=(", ", ": ")) + "\n")
        self._stream.flush()  # CI tails the log while the rollout runs


class Fanout(Events):
    """Writes every event to several sinks (e.g. the human view and a notifier)."""

    def __init__(self, *sinks: Events, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.sinks = sinks

    def write(self, event: Event) -> None:
        for sink in self.sinks:
            sink.write(event)
