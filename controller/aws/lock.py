"""A lease on the production stage, kept in its `controller_lock` stage variable.

Value: `holder=<host:pid>,expires=<epoch>`. API Gateway has no conditional update, so acquisition writes and
re-reads to confirm; a lease is renewed every tick and released at the end. An expired lease may be taken
over, and so may one whose holder is a dead process on this host (a crashed controller being rerun).
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from controller.aws.stage import StageAdapter, StageState
from controller.errors import LockHeldError

LOCK_VARIABLE = "controller_lock"
_VALUE = re.compile(r"^holder=(?P<holder>[^,]+),expires=(?P<expires>\d+(?:\.\d+)?)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._~:/?#&=-]")  # stage variable values allow alphanumerics and -._~:/?#&=,


@dataclass(frozen=True)
class Lease:
    holder: str
    expires: float

    def encode(self) -> str:
        return f"holder={self.holder},expires={int(self.expires)}"

    @classmethod
    def parse(cls, text: str | None) -> Lease | None:
        if not text:
            return None
        match = _VALUE.match(text)
        if not match:
            return Lease(holder=f"unreadable lock {text!r}", expires=0.0)  # garbage: treat as expired
        return cls(match["holder"], float(match["expires"]))

    def describe(self, now: float) -> str:
        left = self.expires - now
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires))
        return (
            f"{self.holder} until {when} ({left:.0f}s left)"
            if left > 0
            else f"{self.holder} (expired {when})"
        )


def default_holder() -> str:
    return _UNSAFE.sub("-", f"{socket.gethostname()}:{os.getpid()}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_is_dead_local(holder: str) -> bool:
    """True when `holder` names a process on this host that no longer runs."""
    host, _, pid = holder.rpartition(":")
    if host != _UNSAFE.sub("-", socket.gethostname()) or not pid.isdigit():
        return False
    return not _pid_alive(int(pid))


class StageLock:
    def __init__(
        self,
        stages: StageAdapter,
        stage: str,
        ttl_s: float,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stages = stages
        self.stage = stage
        self.ttl_s = ttl_s
        self.holder = holder or default_holder()
        self._clock = clock
        self.expires: float | None = None  # set while we hold it

    def current(self, state: StageState) -> Lease | None:
        return Lease.parse(state.variable(LOCK_VARIABLE))

    def check_free(self, state: StageState) -> Lease | None:
        """Raise LockHeldError if someone else holds a live lease; return the lease being taken over."""
        lease = self.current(state)
        if lease is None or lease.holder == self.holder:
            return lease
        now = self._clock()
        if lease.expires > now and not holder_is_dead_local(lease.holder):
            raise LockHeldError(
                f"stage {self.stage} is locked by controller {lease.describe(now)}; wait for it to finish, "
                f"or if it is gone, let the lease expire (or run rollback, which needs no lock)"
            )
        return lease

    def acquire(self, state: StageState | None = None) -> tuple[StageState, Lease | None]:
        """Take the lease; returns the stage as written and the stale lease taken over, if any."""
        state = state or self.stages.get(self.stage)
        taken_over = self.check_free(state)
        expires = self._clock() + self.ttl_s
        self.stages.set_variable(self.stage, LOCK_VARIABLE, Lease(self.holder, expires).encode())
        confirmed = self.stages.get(self.stage)
        lease = self.current(confirmed)
        if lease is None or lease.holder != self.holder:
            holder = lease.describe(self._clock()) if lease else "nobody (the lock vanished)"
            raise LockHeldError(
                f"stage {self.stage}: another controller took the lock at the same moment: {holder}"
            )
        self.expires = expires
        return confirmed, taken_over

    def renew(self) -> StageState:
        """Extend the lease. Blind while it is safely unexpired; checked first if we overran it."""
        now = self._clock()
        if self.expires is None or now >= self.expires - 1.0:
            # Past our own expiry someone may have taken over: never write over their lease.
            state = self.stages.get(self.stage)
            lease = self.current(state)
            if lease is None or lease.holder != self.holder:
                self.expires = None
                held = lease.describe(now) if lease else "nobody"
                raise LockHeldError(f"lost the lock on stage {self.stage} (now held by {held}); stopping")
        expires = now + self.ttl_s
        state = self.stages.set_variable(self.stage, LOCK_VARIABLE, Lease(self.holder, expires).encode())
        self.expires = expires
        return state

    def extend_for(self, seconds: float) -> None:
        """Renew long enough to cover a known wait (a hook), then fall back to the usual TTL."""
        saved = self.ttl_s
        self.ttl_s = max(saved, seconds + saved)
        try:
            self.renew()
        finally:
            self.ttl_s = saved

    def release(self) -> None:
        """Remove the lease if it is still ours (best effort: it expires anyway)."""
        if self.expires is None:
            return
        state = self.stages.get(self.stage)
        lease = self.current(state)
        if lease is not None and lease.holder == self.holder:
            self.stages.remove_variable(self.stage, LOCK_VARIABLE)
        self.expires = None
