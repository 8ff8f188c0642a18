"""Driving `python -m controller` as a subprocess against the local cloud, and watching what users see."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from controller.schema_check import assert_event_valid
from demo.traffic import TrafficGenerator

REPO = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.2) -> Any:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(every_s)


def sleep_past_faulty_windows(
    cleared_at: float, metric_alarms: list[dict[str, Any]], min_period_s: int
) -> None:
    """Sleep until each alarm has been evaluated over a window that began after the faults were cleared at
    `cleared_at` (time.time(), the local cloud's clock).

    A rollout rolled back within a period or two of its fault leaves breaching periods that no alarm has
    evaluated yet, so alarms out of ALARM prove nothing until then, and the next `shift` would find them
    in ALARM "before any traffic moved". `metric_alarms` as describe_alarms returns them; `min_period_s`
    is the local cloud's metric period, which no alarm period is shorter than there."""
    latest = 0.0
    for alarm in metric_alarms:
        periods = [q["MetricStat"]["Period"] for q in alarm.get("Metrics", []) if "MetricStat" in q]
        period = max(alarm.get("Period") or max(periods, default=60), min_period_s)
        # The local cloud evaluates just after each boundary, over the periods that end there.
        window_end = (math.ceil(cleared_at / period) + int(alarm.get("EvaluationPeriods") or 1)) * period
        latest = max(latest, window_end + 1.0)
    time.sleep(max(0.0, latest - time.time()))


class ControllerProcess:
    """`python -m controller ... --json` in the background; its events are collected as they arrive.

    Both pipes are drained by threads while the process runs: a controller that writes more to stderr than a
    pipe holds would otherwise block on the write and look like a stalled rollout. A line that is not a valid
    event is kept in `reader_error` (the rest are still read), so a test that waits for an event can say why
    none came."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controller", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self.reader_error: str | None = None
        self._stderr_lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()

    @property
    def stderr(self) -> str:
        return "".join(self._stderr_lines)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                assert_event_valid(record)  # every event a real run writes matches the published schema
            except (ValueError, AssertionError) as exc:
                self.reader_error = self.reader_error or f"{exc} (line: {line.strip()[:200]})"
                continue
            self.events.append(record)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr_lines.append(line)

    def describe(self) -> str:
        """Where the process stands, for a failure message: running or its exit code, its last events, the
        tail of its stderr, and any line that was not a valid event."""
        code = self.proc.poll()
        state = "still running" if code is None else f"exited {code}"
        last = [f"{e['event']}@{e.get('at') or 0:.0f}" for e in self.events[-4:]]
        parts = [f"controller {state}", f"last events {last}"]
        # What decided a rollout that ended early, and what the judge read before it began.
        failed = self.event("gate_failed")
        if failed is not None:
            parts.append(f"gate {failed['gate']} failed at {failed['percent']:g} %: {failed['reason']}")
        history = self.event("baseline_history")
        if history is not None:
            read = ("requests", "errors_5xx", "noise_cv", "noise_lasts_periods", "noise_carried")
            parts.append("baseline history " + ", ".join(f"{k}={history.get(k)}" for k in read))
        if self._stderr_lines:
            parts.append(f"stderr tail {''.join(self._stderr_lines[-6:])[-800:]!r}")
        if self.reader_error:
            parts.append(f"invalid output: {self.reader_error}")
        return "; ".join(parts)

    def event(self, name: str, **match: Any) -> dict[str, Any] | None:
        for record in list(self.events):
            if record["event"] == name and all(record.get(k) == v for k, v in match.items()):
                return record
        return None

    def wait_event(self, name: str, timeout_s: float = 60, **match: Any) -> dict[str, Any]:
        def seen() -> dict[str, Any] | None:
            found = self.event(name, **match)
            if found is None and self.proc.poll() is not None:
                self._reader.join(5)
                found = self.event(name, **match)
                if found is None:
                    tail = [
                        f"{e['event']}: {e.get('reason') or e.get('message') or ''}" for e in self.events[-4:]
                    ]
                    raise AssertionError(
                        f"{self.args[0]} exited {self.proc.returncode} before event {name} {match or ''}; "
                        f"last events: {tail}"
                    )
            return found

        try:
            return wait_for(seen, timeout_s, f"event {name} {match or ''} from {self.args}")
        except AssertionError as exc:
            tail = [
                f"{e['event']}: {e.get('reason') or e.get('message') or ''}"[:160] for e in self.events[-4:]
            ]
            raise AssertionError(f"{exc}; last events: {tail}; {self.describe()}") from None

    def wait(self, timeout_s: float = 180) -> int:
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"controller {self.args} did not finish in {timeout_s}s") from None
        self._reader.join(5)
        self._stderr_reader.join(5)
        assert self.reader_error is None, self.reader_error
        return code

    def names(self) -> list[str]:
        return [r["event"] for r in self.events]


def run_controller(args: list[str], env: dict[str, str], timeout_s: float = 120, stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        input=stdin,
        check=False,
    )


class WatchedTraffic(TrafficGenerator):
    """The demo's open-loop generator (which knows when each version answered after a given time), also
    noting when each version, and the first 5xx, were first seen at all."""

    def __init__(self, url: str, rate_per_s: float, **kwargs: Any) -> None:
        super().__init__(url, rate_per_s, **kwargs)
        self.first_seen: dict[str, float] = {}
        self.first_5xx: float | None = None

    def _record(self, version: str, status: int, latency_ms: float) -> None:
        now = time.time()
        self.first_seen.setdefault(version, now)
        if status >= 500 and self.first_5xx is None:
            self.first_5xx = now
        super()._record(version, status, latency_ms)


def served_versions(url: str, count: int) -> dict[str, int]:
    """Which releases answer `count` sequential requests (the handler's body names them)."""
    seen: dict[str, int] = {}
    with requests.Session() as session:
        for _ in range(count):
            response = session.get(url, timeout=10)
            try:
                body = response.json()
                key = (
                    f"{body.get('environment')} {body.get('version')}"
                    if response.ok
                    else f"HTTP {response.status_code}"
                )
            except ValueError:
                key = f"HTTP {response.status_code}"
            seen[key] = seen.get(key, 0) + 1
    return seen


def controller_env(aws_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(aws_env)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env
