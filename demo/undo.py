"""The demo's undo: `python -m controller undo` under the demo's traffic, measured as its clients see it.

How long after the command started the former release answered again, whether the promoted one had stopped
answering by the end of the window, and how many requests failed meanwhile (a 4xx or 5xx, or no answer).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# event_types first: it registers lifecycle_events' events, which subclass its Event.
from controller import event_types as ev
from controller import lifecycle_events as lev
from demo.procs import DemoError, wait_until
from demo.traffic import TrafficGenerator, VersionStats

# The bound, as in tests/e2e/test_lifecycle_e2e.py: the former release answers within 5 s.
UNDO_LIMIT_S = 5.0
# After the former release first answers, the window stays open this long: every answer in the second half
# of it must come from the former release, and a request that fails anywhere in the window counts.
SETTLE_S = 3.0


@dataclass(frozen=True)
class UndoSummary:
    former: str  # the release undo puts back, "blue v1.0.0"
    undone: str  # the release that was promoted, "green v2.0.0"
    idle_slot: str  # the promoted release's slot, which staging serves after undo (the next release's)
    answered_s: float | None  # from the command's start to the former release's first answer
    update_s: float | None  # the controller's own figure (`undone` event): its checks and the stage update
    traffic: dict[str, VersionStats]  # every answer in the window, per version
    failed: int  # requests with no HTTP answer in the window
    settled: dict[str, int]  # answers per version in the second half of the settle time
    limit_s: float = UNDO_LIMIT_S

    @property
    def failed_requests(self) -> int:
        answered_badly = sum(s.errors_5xx + s.errors_4xx for s in self.traffic.values())
        return answered_badly + self.failed

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.traffic.values()) + self.failed

    @property
    def as_expected(self) -> bool:
        return (
            self.answered_s is not None
            and self.answered_s < self.limit_s
            and self.failed_requests == 0
            and set(self.settled) == {self.former}
        )

    @property
    def decision(self) -> str:
        return "undone" if self.answered_s is not None else "not undone"

    def line(self) -> str:
        if self.answered_s is None:
            return f"undo: {self.former} did not answer within {self.limit_s * 2:.0f} s of `controller undo`"
        update = f" (its checks and stage update: {self.update_s:.2f} s)" if self.update_s is not None else ""
        return (
            f"undo: {self.former} answered {self.answered_s:.2f} s after `controller undo` started{update}; "
            f"{self.failed_requests} failed of {self.requests} requests meanwhile"
        )


def undo_under_traffic(
    traffic: TrafficGenerator,
    run_undo: Callable[[], list[ev.Event]],
    former: str,
    undone: str,
    *,
    limit_s: float = UNDO_LIMIT_S,
    settle_s: float | None = None,
) -> UndoSummary:
    """Run the undo command (`run_undo` returns its events) while `traffic` runs, and measure it
    (`settle_s`: SETTLE_S unless given)."""
    before = traffic.snapshot()
    asked = time.time()  # the traffic generator stamps its answers with wall time too
    events = run_undo()
    done = next((e for e in events if isinstance(e, lev.Undone)), None)
    if done is None:
        kinds = [e.kind for e in events]
        raise DemoError(f"controller undo exited 0 without an `undone` event (events: {kinds})")
    try:
        back = f"{former} to answer"
        wait_until(lambda: former in traffic.first_seen_after(asked), timeout_s=limit_s * 2, what=back)
    except DemoError:
        answered_s = None
    else:
        answered_s = traffic.first_seen_after(asked)[former] - asked
    settle = SETTLE_S if settle_s is None else settle_s
    time.sleep(settle)
    end = time.time()
    window = traffic.snapshot().since(before)
    return UndoSummary(
        former=former,
        undone=undone,
        idle_slot=done.undone_slot,
        answered_s=None if answered_s is None else round(answered_s, 3),
        update_s=done.seconds,
        traffic=window.by_version,
        failed=window.failed,
        settled=traffic.answered_between(end - settle / 2, end),
        limit_s=limit_s,
    )
