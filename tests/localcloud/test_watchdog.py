"""The request watchdog: a request in flight far longer than AWS would answer is logged once, with the stack
of the thread serving it, and again when it finishes; a quick request is never logged."""

from __future__ import annotations

import logging
import threading

import pytest

from localcloud.watchdog import RequestWatchdog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stuck_in_a_named_place(entered: threading.Event, release: threading.Event) -> None:
    entered.set()
    release.wait(10)


def test_a_request_in_flight_too_long_is_logged_once_with_its_stack(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    watchdog = RequestWatchdog(slow_after_s=30, clock=clock)
    entered, release = threading.Event(), threading.Event()

    def serve() -> None:
        with watchdog.watching("POST / (monitoring)"):
            stuck_in_a_named_place(entered, release)

    worker = threading.Thread(target=serve)
    worker.start()
    assert entered.wait(5)
    with caplog.at_level(logging.WARNING, logger="localcloud.watchdog"):
        clock.now += 29
        assert watchdog.check() == []
        clock.now += 2
        assert watchdog.check() == ["POST / (monitoring)"]
        assert watchdog.check() == []  # once, however long it stays
        release.set()
        worker.join(5)
    messages = [r.getMessage() for r in caplog.records]
    assert "in flight for 31.0s" in messages[0] and "stuck_in_a_named_place" in messages[0], messages
    assert messages[1] == "slow request finished: POST / (monitoring) after 31.0s", messages


def test_a_quick_request_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    watchdog = RequestWatchdog(slow_after_s=30, clock=clock)
    with caplog.at_level(logging.WARNING, logger="localcloud.watchdog"):
        with watchdog.watching("GET /restapis (apigateway)"):
            clock.now += 5
        clock.now += 60
        assert watchdog.check() == []
    assert caplog.records == []


def test_the_thread_checks_until_stopped() -> None:
    watchdog = RequestWatchdog(slow_after_s=0.0, check_every_s=0.05)
    watchdog.start()
    try:
        with watchdog.watching("GET /slow (lambda)"):
            threading.Event().wait(0.3)
            assert watchdog._requests and all(r.reported for r in watchdog._requests.values())
    finally:
        watchdog.stop()
    assert watchdog._thread is not None and not watchdog._thread.is_alive()
