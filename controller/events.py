"""Where rollout events go: JSON lines for CI and `controller report`, the human view, or memory (tests).

Every event is a typed `controller.event_types.Event`; a sink stamps its `at` and writes it. Events are
validated against docs/events.schema.json by the test suite.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
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


class Locked(Events):
    """One writer at a time: the stacks of a plan roll in threads and share one log."""

    def __init__(self, sink: Events, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.sink = sink
        self._lock = threading.Lock()

    def write(self, event: Event) -> None:
        with self._lock:
            self.sink.write(event)


class Tagged(Events):
    """Names the stack and wave on every event of one stack of a plan, then hands it to the plan's sink."""

    def __init__(self, sink: Events, stack: str, wave: int) -> None:
        super().__init__()
        self.sink, self.stack, self.wave = sink, stack, wave

    def _tag(self, event: Event) -> Event:
        return dataclasses.replace(event, stack=self.stack, wave=self.wave)

    def emit(self, event: Event) -> Event:
        return self.sink.emit(self._tag(event))

    def write(self, event: Event) -> None:
        self.sink.write(self._tag(event))
