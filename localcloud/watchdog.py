"""Requests in flight, and the stack of any that runs far longer than AWS would answer.

An SDK call that hangs looks, from the client, like a stalled rollout or a provider retrying for minutes; the
local cloud logs no access lines, so without this nothing would say where the server was. A request still in
flight after `slow_after_s` is logged once with its thread's stack."""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

log = logging.getLogger("localcloud.watchdog")

SLOW_AFTER_S = 30.0


@dataclass
class InFlight:
    what: str
    thread_id: int
    started: float
    reported: bool = False


@dataclass
class RequestWatchdog:
    slow_after_s: float = SLOW_AFTER_S
    check_every_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    _requests: dict[int, InFlight] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watching(self, what: str) -> Iterator[None]:
        with self._lock:
            key = next(self._ids)
            self._requests[key] = InFlight(what, threading.get_ident(), self.clock())
        try:
            yield
        finally:
            with self._lock:
                done = self._requests.pop(key)
            if done.reported:
                log.warning("slow request finished: %s after %.1fs", what, self.clock() - done.started)

    def check(self) -> list[str]:
        """Log each request in flight past `slow_after_s` that was not logged yet; returns what was logged."""
        now = self.clock()
        with self._lock:
            waiting = self._requests.values()
            late = [r for r in waiting if not r.reported and now - r.started > self.slow_after_s]
            for request in late:
                request.reported = True
        frames = sys._current_frames() if late else {}
        for request in late:
            frame = frames.get(request.thread_id)
            stack = "".join(traceback.format_stack(frame)) if frame is not None else "(thread gone)\n"
            log.warning(
                "slow request: %s in flight for %.1fs; its thread is at:\n%s",
                request.what,
                now - request.started,
                stack,
            )
        return [r.what for r in late]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="request-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.check_every_s + 1)

    def _run(self) -> None:
        while not self._stop.wait(self.check_every_s):
            self.check()
