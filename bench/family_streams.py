"""One cell's world: each run's parameters, its 30 minutes of traffic, and its day of history.

Each run draws its parameters inside the cell's bands (`RunDraws`). Its minutes then follow from them:

- traffic: the run's level (requests/s) times the shape's factor per minute: 1 (steady); a linear trend from
  1 - a to 1 + a or back across the 30 minutes, a in 0.2-0.5 (diurnal); exp(s z - s^2 / 2) with s in
  0.1-0.4, times 2-4 in a spike minute (5 % of minutes) (bursty);
- error rates: the base rate, times a mean-1 gamma factor per minute of coefficient of variation c, one per
  version (independent) or one for both (shared); the canary's times 1 + (ratio - 1) x (the share of the
  minute after the onset) for an error regression, clipped at 100 %;
- latency: lognormal, median 40 ms, p99 100 ms; a latency regression fattens the canary's tail to p99 x
  ratio (median unchanged) from the first minute that is at least half after the onset;
- past minute 30, only for a guard still watching a release promoted near it (`FamilyWorld.beyond`): the same
  cell from a generator of its own (a diurnal level held at its last minute), the minutes before unchanged.

Requests and errors are then drawn as in bench/streams.py, by inverse transform from common random numbers
(`Streams.draw`): every policy sees the same world at whatever share it picks.

The history is the live version's 1,440 minutes before the rollout, drawn directly (no policy changes it):
a daily swing of the traffic (amplitude 0.2-0.6, random phase, passing through today's level as the rollout
starts), spikes (0.5 % of minutes, x 2-5) and, in bursty cells, the same per-minute noise as today; an error
rate of base / (1 + drift), swinging through the day by up to |drift| (flat without drift) and with the
cell's overdispersion, normalised so the day's traffic-weighted rate is base / (1 + drift). Requests are
Poisson and errors binomial among them (drawn as the two independent Poisson streams that makes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.cold_starts import WarmPools, environments_needed, init_ms, mean_latency_ms
from bench.family import Cell, seed_sequence
from bench.scenarios import MEDIAN_MS, MINUTES, SIGMA_P99_100
from bench.streams import PERIOD_S, ColdStarts, Period, Streams, Version

HISTORY_MINUTES = 24 * 60
TREND = (0.2, 0.5)  # diurnal: the traffic's change across the run, either way
BURST_SIGMA = (0.1, 0.4)  # bursty: lognormal sigma of the per-minute traffic factor
SPIKE_CHANCE, SPIKE_SIZE = 0.05, (2.0, 4.0)  # bursty: share of minutes with a spike, and its factor
HISTORY_SWING = (0.2, 0.6)  # the day's traffic: amplitude of its daily swing
HISTORY_SPIKE_CHANCE, HISTORY_SPIKE_SIZE = 0.005, (2.0, 5.0)
MAX_SPIKE_CHANCE = 0.5  # spike_factor needs chance < 1 / (1 + cv^2): 0.74 at the family's widest CV, 0.6


@dataclass(frozen=True)
class RunDraws:
    """Each run's parameters, drawn inside its cell's bands (arrays of shape (runs,))."""

    base_rate: np.ndarray  # the live version's 5XX rate today
    requests_per_s: np.ndarray  # today's traffic level
    cv: np.ndarray  # overdispersion: coefficient of variation of the per-minute rate factor
    drift: np.ndarray  # today's rate = history's x (1 + drift)
    ratio: np.ndarray  # canary/baseline error rate or p99 once the regression is on (1: none)
    onset_min: np.ndarray  # minutes after the start when the regression switches on
    trend: np.ndarray  # diurnal: signed change of the traffic across the run (0 otherwise)
    burst_sigma: np.ndarray  # bursty: lognormal sigma of the traffic (0 otherwise)


def draw_runs(cell: Cell, runs: int, rng: np.random.Generator) -> RunDraws:
    s, c = cell.setting, cell.change
    u = rng.random((8, runs))
    trend = TREND[0] + u[6] * (TREND[1] - TREND[0])
    sign = np.where(rng.random(runs) < 0.5, -1.0, 1.0)
    return RunDraws(
        base_rate=s.base.draw(u[0]),
        requests_per_s=s.traffic.draw(u[1]),
        cv=s.dispersion.cv.draw(u[2]),
        drift=s.drift.draw(u[3]),
        ratio=c.ratio.draw(u[4]),
        onset_min=c.onset.draw(u[5]),
        trend=sign * trend if s.shape == "diurnal" else np.zeros(runs),
        burst_sigma=(
            BURST_SIGMA[0] + u[7] * (BURST_SIGMA[1] - BURST_SIGMA[0])
            if s.shape == "bursty"
            else np.zeros(runs)
        ),
    )


def gamma_factor(rng: np.random.Generator, cv: np.ndarray, minutes: int) -> np.ndarray:
    """Per (run, minute) mean-1 gamma factors with coefficient of variation cv per run (1 where cv = 0)."""
    cv = np.asarray(cv, dtype=float)[:, None]
    noisy = cv > 0
    shape = np.where(noisy, 1 / np.maximum(cv, 1e-9) ** 2, 1.0)
    draws = rng.gamma(shape, np.where(noisy, cv**2, 1.0), size=(cv.shape[0], minutes))
    return np.where(noisy, draws, 1.0)


def spike_factor(rng: np.random.Generator, cv: np.ndarray, minutes: int, chance: float) -> np.ndarray:
    """Per (run, minute) mean-1 factors with coefficient of variation cv per run, all of it in rare spikes:
    a level a in most minutes and a x (1 + k) in a `chance` share of them (a two-point mixture with
    gamma_factor's mean and variance, and a far heavier tail: at CV 0.5 and a 2 % chance, 4.8x the level
    in one minute in fifty). Needs chance < 1 / (1 + cv^2)."""
    cv = np.asarray(cv, dtype=float)[:, None]
    k = cv / (math.sqrt(chance * (1 - chance)) - cv * chance)
    level = 1 / (1 + k * chance)
    spikes = rng.random((cv.shape[0], minutes)) < chance
    return np.where(spikes, level * (1 + k), level)


@dataclass(frozen=True)
class NoiseShape:
    """How each per-minute noise factor is drawn. The family's: gamma, a new factor every minute. Outside it
    (`python -m bench --noise-lasts / --noise-spikes`): each factor held for a geometric run of minutes with
    mean `lasts_min`, or the same variance carried by spikes in a `spike_chance` share of minutes. And
    (`--cold-starts`) the latencies' own departure from the family: Lambda cold starts on each version's
    new execution environments (bench/cold_starts.py). And (`--latency-shocks CV`) a latency shock both
    versions share: every request of a minute slowed (or sped) by one mean-1 factor of that coefficient of
    variation, drawn as the error noise is (gamma, lasting or in spikes), as a slow downstream dependency
    does."""

    lasts_min: float = 1.0
    spike_chance: float = 0.0
    cold_starts: bool = False
    latency_cv: float = 0.0

    @property
    def is_family(self) -> bool:
        return (
            self.lasts_min <= 1 and self.spike_chance <= 0 and not self.cold_starts and self.latency_cv <= 0
        )

    def describe(self) -> str:
        parts = []
        if self.lasts_min > 1:
            parts.append(f"noise lasting {self.lasts_min:g} minutes")
        if self.spike_chance > 0:
            parts.append(f"noise in spikes ({self.spike_chance:.3g} of minutes)")
        if self.cold_starts:
            parts.append("Lambda cold starts")
        if self.latency_cv > 0:
            parts.append(f"shared latency shocks (CV {self.latency_cv:g})")
        return ", ".join(parts)


FAMILY_NOISE = NoiseShape()


def noise_factor(
    rng: np.random.Generator, cv: np.ndarray, minutes: int, shape: NoiseShape = FAMILY_NOISE
) -> np.ndarray:
    """Per (run, minute) mean-1 noise factors of coefficient of variation cv per run, drawn as `shape`
    says (the family's: `gamma_factor`, drawing nothing more)."""
    if shape.spike_chance > 0:
        fresh = spike_factor(rng, cv, minutes, shape.spike_chance)
    else:
        fresh = gamma_factor(rng, cv, minutes)
    if shape.lasts_min <= 1:
        return fresh
    keep = rng.random(fresh.shape) >= 1.0 / shape.lasts_min
    for t in range(1, minutes):
        fresh[:, t] = np.where(keep[:, t], fresh[:, t - 1], fresh[:, t])
    return fresh


def burst_factor(
    rng: np.random.Generator, sigma: np.ndarray, minutes: int, chance: float, size
) -> np.ndarray:
    """Per (run, minute) traffic factors: lognormal noise of mean 1 (sigma per run), times a spike of
    `size` (a range) in a `chance` share of minutes."""
    sigma = np.asarray(sigma, dtype=float)[:, None]
    runs = sigma.shape[0]
    factor = np.ones((runs, minutes))
    spikes = rng.random((runs, minutes)) < chance
    factor[spikes] = rng.uniform(*size, int(spikes.sum()))
    if (sigma > 0).any():
        factor *= np.exp(sigma * rng.standard_normal((runs, minutes)) - sigma**2 / 2)
    return factor


def latency_sigma(p99_ratio: np.ndarray) -> np.ndarray:
    """The lognormal sigma whose p99 is `p99_ratio` x 100 ms at a 40 ms median."""
    return np.log(100.0 * p99_ratio / MEDIAN_MS) / 2.3263


@dataclass(frozen=True)
class _Minutes:
    """A stretch of minutes of every run, each array (runs, minutes): the horizon's, or those past it."""

    volume: np.ndarray  # both versions' requests expected in the minute
    active: np.ndarray  # share of each minute regressed
    baseline_rate: np.ndarray
    canary_rate: np.ndarray
    canary_sigma: np.ndarray


class FamilyWorld:
    """`runs` runs of one cell in one split (bench.judge_sim.World)."""

    def __init__(
        self, cell: Cell, runs: int, split: str, seed: int = 0, noise: NoiseShape = FAMILY_NOISE
    ) -> None:
        """`noise`: how the per-minute noise factors are drawn, today and in the history (the family's
        unless `python -m bench --noise-lasts / --noise-spikes` says otherwise)."""
        # The first five seeds are the family's whatever follows them (a child's seed is its index).
        params, today, noise_seed, history, beyond, cold, shocks = seed_sequence(cell, split, seed).spawn(7)
        self.cell = cell
        self.noise = noise
        self.runs = runs
        self.periods = MINUTES
        self.draws = d = draw_runs(cell, runs, np.random.default_rng(params))
        self.streams = Streams(runs, MINUTES, int(today.generate_state(1)[0]))
        self._history_seed = history
        self._beyond_seed = beyond
        self._beyond: _Minutes | None = None
        self._beyond_streams: Streams | None = None
        self._history: tuple[np.ndarray, np.ndarray] | None = None
        rng = np.random.default_rng(noise_seed)
        minute = np.arange(MINUTES)[None, :]
        if cell.setting.shape == "diurnal":
            traffic = 1 + d.trend[:, None] * (2 * (minute + 0.5) / MINUTES - 1)
        elif cell.setting.shape == "bursty":
            traffic = burst_factor(rng, d.burst_sigma, MINUTES, SPIKE_CHANCE, SPIKE_SIZE)
        else:
            traffic = np.ones((runs, MINUTES))
        horizon = self._minutes(rng, minute, traffic)
        self.volume, self.active = horizon.volume, horizon.active
        self.baseline_rate, self.canary_rate = horizon.baseline_rate, horizon.canary_rate
        self.baseline_sigma = SIGMA_P99_100
        self.canary_sigma = horizon.canary_sigma
        self._shocks = np.random.default_rng(shocks)
        self.latency_shock = self._latency_shocks(MINUTES)
        self._beyond_shock: np.ndarray | None = None
        self._pools: WarmPools | None = None
        if noise.cold_starts:
            live = environments_needed(d.requests_per_s, mean_latency_ms(np.asarray(SIGMA_P99_100)))
            self._pools = WarmPools(runs, live)
            self._cold_ms = MEDIAN_MS + init_ms(np.random.default_rng(cold), runs)

    def begin(self) -> None:
        """A policy's rollouts start: with cold starts, the canary's function fresh again."""
        if self._pools is not None:
            self._pools.begin()

    def _cold(
        self,
        t: int,
        idx: np.ndarray,
        share: np.ndarray,
        volume: np.ndarray,
        canary: Version,
        baseline: Version,
    ) -> ColdStarts | None:
        """Minute t's cold starts for runs idx (None in the family's world)."""
        if self._pools is None:
            return None
        share = np.clip(np.asarray(share, dtype=float), 0.0, 1.0)
        per_s = volume / PERIOD_S
        needed_c = environments_needed(per_s * share, mean_latency_ms(canary.sigma))
        needed_b = environments_needed(per_s * (1 - share), mean_latency_ms(baseline.sigma))
        cold_c, cold_b = self._pools.cold(t, idx, needed_c, needed_b)
        return ColdStarts(cold_c, cold_b, self._cold_ms[idx])

    def _minutes(self, rng: np.random.Generator, minute: np.ndarray, traffic: np.ndarray) -> _Minutes:
        """The minutes `minute` (1, n) of every run at the traffic factors `traffic` (runs, n): their noise
        drawn from `rng` (the baseline's, then the canary's unless shared), the regression from its onset."""
        d, cell, n = self.draws, self.cell, minute.shape[1]
        baseline_factor = self._noise(rng, n)
        shared = cell.setting.dispersion.kind == "shared"
        canary_factor = baseline_factor if shared else self._noise(rng, n)
        active = np.clip(minute + 1 - d.onset_min[:, None], 0.0, 1.0)
        worse = 1 + (d.ratio[:, None] - 1) * active if cell.kind == "errors" else 1.0
        slow = (active >= 0.5) if cell.kind == "latency" else np.zeros((self.runs, n), dtype=bool)
        return _Minutes(
            volume=d.requests_per_s[:, None] * PERIOD_S * traffic,
            active=active,
            baseline_rate=np.minimum(d.base_rate[:, None] * baseline_factor, 1.0),
            canary_rate=np.minimum(d.base_rate[:, None] * canary_factor * worse, 1.0),
            canary_sigma=np.where(slow, latency_sigma(d.ratio)[:, None], SIGMA_P99_100),
        )

    def beyond(self, minutes: int) -> int:
        """Draw `minutes` more minutes past the horizon, for a guard still watching a release promoted near
        it, from a generator of their own: the minutes before the horizon (and every figure read from them)
        are as before, run for run. The cell goes on as it was: a regression stays on, fresh noise, the same
        burstiness, a diurnal trend held at its last minute. Returns the minutes drawn (drawn once per world;
        a later call returns the first call's)."""
        if self._beyond_streams is not None:
            return self._beyond_streams.periods
        d = self.draws
        rng = np.random.default_rng(self._beyond_seed)
        if self.cell.setting.shape == "bursty":
            traffic = burst_factor(rng, d.burst_sigma, minutes, SPIKE_CHANCE, SPIKE_SIZE)
        else:
            traffic = np.repeat(self.volume[:, -1:] / (d.requests_per_s[:, None] * PERIOD_S), minutes, axis=1)
        self._beyond = self._minutes(rng, np.arange(MINUTES, MINUTES + minutes)[None, :], traffic)
        self._beyond_streams = Streams(self.runs, minutes, int(rng.integers(2**63)))
        self._beyond_shock = self._latency_shocks(minutes)
        return minutes

    def _noise(self, rng: np.random.Generator, minutes: int) -> np.ndarray:
        return noise_factor(rng, self.draws.cv, minutes, self.noise)

    def _latency_shocks(self, minutes: int) -> np.ndarray | None:
        """Per (run, minute) factors on every request's latency, both versions alike (None: no shocks)."""
        if self.noise.latency_cv <= 0:
            return None
        cv = np.full(self.runs, self.noise.latency_cv)
        return noise_factor(self._shocks, cv, minutes, self.noise)

    @property
    def onset_s(self) -> np.ndarray:
        return self.draws.onset_min * 60.0

    def usual_error_rate(self) -> np.ndarray:
        """Each run's 5XX rate over the day before (today's / (1 + drift)): what its operator knows."""
        return self.draws.base_rate / (1 + self.draws.drift)

    def requests_per_period(self) -> np.ndarray:
        """Each run's traffic level (what the last minutes of its history show a controller)."""
        return self.draws.requests_per_s * PERIOD_S

    def period(self, t: int, idx: np.ndarray, share: np.ndarray, latency: bool = True) -> Period:
        if t < MINUTES:
            canary = Version(self.canary_rate[idx, t], MEDIAN_MS, self.canary_sigma[idx, t])
            baseline = Version(self.baseline_rate[idx, t], MEDIAN_MS, self.baseline_sigma)
            volume = self.volume[idx, t]
            cold = self._cold(t, idx, share, volume, canary, baseline)
            shock = None if self.latency_shock is None else self.latency_shock[idx, t]
            return self.streams.draw(t, idx, share, volume, canary, baseline, latency, cold, shock)
        if self._beyond is None or self._beyond_streams is None:
            raise IndexError(f"minute {t} is past the horizon: draw it first with beyond()")
        m, at = self._beyond, t - MINUTES
        canary = Version(m.canary_rate[idx, at], MEDIAN_MS, m.canary_sigma[idx, at])
        baseline = Version(m.baseline_rate[idx, at], MEDIAN_MS, self.baseline_sigma)
        volume = m.volume[idx, at]
        cold = self._cold(t, idx, share, volume, canary, baseline)
        shock = None if self._beyond_shock is None else self._beyond_shock[idx, at]
        return self._beyond_streams.draw(at, idx, share, volume, canary, baseline, latency, cold, shock)

    def history(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-minute (requests, 5XX errors) of the live version over the day before, each (runs, 1440)."""
        if self._history is None:
            self._history = self._draw_history()
        return self._history

    def history_p99_ms(self) -> float:
        """The live version's p99 over the day before: every run's is 100 ms. Its latencies are drawn today
        only; a day's latency shocks (`--latency-shocks`) would raise it, and are not modelled."""
        return float(Version(0.0, MEDIAN_MS, self.baseline_sigma).p99_ms)

    def _draw_history(self) -> tuple[np.ndarray, np.ndarray]:
        d, runs = self.draws, self.runs
        rng = np.random.default_rng(self._history_seed)
        angle = 2 * math.pi * np.arange(-HISTORY_MINUTES, 0)[None, :] / HISTORY_MINUTES
        swing = rng.uniform(*HISTORY_SWING, (runs, 1))
        phase = rng.uniform(0, 2 * math.pi, (runs, 1))
        daily = (1 + swing * np.sin(angle + phase)) / (1 + swing * np.sin(phase))  # 1 as the rollout starts
        burst_sigma = d.burst_sigma if self.cell.setting.shape == "bursty" else np.zeros(runs)
        bursts = burst_factor(rng, burst_sigma, HISTORY_MINUTES, HISTORY_SPIKE_CHANCE, HISTORY_SPIKE_SIZE)
        expected = d.requests_per_s[:, None] * PERIOD_S * daily * bursts
        error_swing = rng.random((runs, 1)) * np.abs(d.drift)[:, None]
        shape = 1 + error_swing * np.sin(angle + rng.uniform(0, 2 * math.pi, (runs, 1)))
        shape /= (expected * shape).sum(axis=1, keepdims=True) / expected.sum(axis=1, keepdims=True)
        rate = (d.base_rate / (1 + d.drift))[:, None] * shape * self._noise(rng, HISTORY_MINUTES)
        rate = np.minimum(rate, 1.0)
        # Poisson requests with binomial errors, drawn as two independent Poisson streams (thinning)
        errors = rng.poisson(expected * rate)
        return errors + rng.poisson(expected * (1 - rate)), errors
