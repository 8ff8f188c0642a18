"""Lambda cold starts, outside the family (`python -m bench --only family --cold-starts`).

API Gateway's `Latency` includes the integration's, and Lambda serves a request that finds no idle execution
environment by starting a new one: that request waits for the function's init as well (a cold start). A
release goes to the idle slot, whose function was just deployed, so the canary starts with no warm
environment, and every step of its share that needs more environments than it has kept warm brings cold
starts. The live version has the environments its traffic keeps warm. The judge's latency tests read
exactly those requests: each cold start is slower than the live version's p99.

The model, per version and minute (`WarmPools`):
- the environments a minute needs: the peak of its requests in flight, taken as the smallest k that the
  in-flight count (Poisson with mean rate x D, D the version's mean latency: an M/G/inf queue) exceeds in
  fewer than one of the minute's 60 s / D windows; a minute of less than one request needs none;
- an environment stays warm for `KEEP_WARM_MIN` minutes after the last minute that needed it. AWS does not
  document how long; reports put it at 5-15 minutes. The live version starts with the environments its
  traffic level needs (it served all of it before the rollout);
- a minute's cold starts are the environments it needs beyond those warm, each on one request, which takes
  the run's init time (`INIT_MS`, drawn per run) on top of its latency;
- environments Lambda recycles after hours of life are left out: the live version's history holds them too.

What differs from Lambda: the peak is a rule of thumb, not simulated request by request; provisioned
concurrency and SnapStart, which remove most cold starts, are not modelled (the model is the worst case).
"""

from __future__ import annotations

import math

import numpy as np

from bench.scenarios import MEDIAN_MS
from bench.streams import PERIOD_S

KEEP_WARM_MIN = 10  # minutes an idle environment stays warm
INIT_MS = (250.0, 1000.0)  # a run's init time (a Python function with its SDK: a few hundred ms)
MAX_ENVIRONMENTS = 400  # a cap far above the family's busiest minute (about 40 at 500 requests/s)


def mean_latency_ms(sigma: float | np.ndarray) -> np.ndarray:
    """A lognormal latency's mean at the family's median (40 ms) and shape `sigma`: how long a request
    holds its environment."""
    return MEDIAN_MS * np.exp(np.asarray(sigma, dtype=float) ** 2 / 2)


def environments_needed(requests_per_s: np.ndarray, mean_latency_ms: np.ndarray) -> np.ndarray:
    """The execution environments a minute needs (see the module docstring), elementwise."""
    rate = np.asarray(requests_per_s, dtype=float)
    duration_s = np.asarray(mean_latency_ms, dtype=float) / 1000.0
    in_flight = rate * duration_s
    windows = PERIOD_S / duration_s
    needed = np.zeros(np.broadcast(rate, duration_s).shape)
    open_ = np.broadcast_to(rate * PERIOD_S >= 1, needed.shape).copy()  # under a request a minute: none
    pmf = np.exp(-in_flight)
    tail = 1.0 - pmf  # P(N > k), from k = 0
    for k in range(1, MAX_ENVIRONMENTS):
        if not open_.any():
            break
        pmf = pmf * in_flight / k
        tail = tail - pmf
        settled = open_ & (tail * windows < 1)
        needed[settled] = k
        open_ &= ~settled
    needed[open_] = MAX_ENVIRONMENTS
    return needed


class WarmPools:
    """Each run's environments needed per version and minute, as the rollout being played serves them;
    `cold` answers a minute's cold starts and records what it needed."""

    def __init__(self, runs: int, live_needed: np.ndarray) -> None:
        self.runs = runs
        self.live_needed = np.asarray(live_needed, dtype=float)  # the live version's, before the rollout
        self.needed = np.zeros((2, runs, 0))  # canary, baseline; minutes grow as they are played

    def begin(self) -> None:
        """A new rollout: the canary's function is fresh, the live version's pool as before the rollout."""
        self.needed = np.zeros((2, self.runs, 0))

    def cold(
        self, t: int, idx: np.ndarray, needed_canary: np.ndarray, needed_baseline: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cold starts of minute t (0-based) for runs idx, given the environments each version needs in it:
        (canary's, baseline's) arrays of idx's shape."""
        if self.needed.shape[2] <= t:
            grow = max(t + 1, 2 * self.needed.shape[2]) - self.needed.shape[2]
            self.needed = np.concatenate([self.needed, np.zeros((2, self.runs, grow))], axis=2)
        first = max(0, t - KEEP_WARM_MIN)
        window = self.needed[:, idx, first:t]
        warm = window.max(axis=2) if window.shape[2] else np.zeros((2, idx.size))
        if t < KEEP_WARM_MIN:
            warm[1] = np.maximum(warm[1], self.live_needed[idx])
        now = np.stack([needed_canary, needed_baseline])
        self.needed[:, idx, t] = now
        cold = np.maximum(0.0, now - warm)
        return cold[0], cold[1]


def init_ms(rng: np.random.Generator, runs: int) -> np.ndarray:
    """Each run's init time: log-uniform over INIT_MS."""
    low, high = math.log(INIT_MS[0]), math.log(INIT_MS[1])
    return np.exp(rng.uniform(low, high, runs))
