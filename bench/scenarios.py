"""The benchmark's scenarios and the statistical limit each regression is measured against."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.streams import Version

MINUTES = 30  # a run lasts 30 one-minute periods
RUNS = 2000

# Lognormal latency with a 40 ms median: sigma 0.394 puts p90 at 66 ms and p99 at 100 ms. The latency
# regression keeps the median and fattens the tail (a slow dependency on some requests): p90 109 ms,
# p99 250 ms.
MEDIAN_MS = 40.0
SIGMA_P99_100 = math.log(100 / MEDIAN_MS) / 2.3263
SIGMA_P99_250 = math.log(250 / MEDIAN_MS) / 2.3263


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # "regression" | "identical"
    requests_per_s: float
    baseline: Version
    canary: Version
    seed: int
    runs: int = RUNS

    @property
    def identical_twin(self) -> str:
        """The identical-version scenario at the same baseline error rate and traffic (peers tune there)."""
        return identical_name(self.baseline.error_rate, self.requests_per_s)

    @property
    def is_latency(self) -> bool:
        return self.canary.sigma != self.baseline.sigma or self.canary.median_ms != self.baseline.median_ms


def _version(error_rate: float, sigma: float = SIGMA_P99_100) -> Version:
    return Version(error_rate, MEDIAN_MS, sigma)


def _pct(rate: float) -> str:
    return f"{rate * 100:g}%"


def identical_name(error_rate: float, rps: float) -> str:
    return f"identical {_pct(error_rate)} @ {rps:g} rps"


def regression(p0: float, p1: float, rps: float, seed: int) -> Scenario:
    return Scenario(
        f"{_pct(p0)}->{_pct(p1)} @ {rps:g} rps", "regression", rps, _version(p0), _version(p1), seed
    )


def identical(p: float, rps: float, seed: int) -> Scenario:
    return Scenario(identical_name(p, rps), "identical", rps, _version(p), _version(p), seed)


def all_scenarios(runs: int = RUNS, seed: int = 0) -> list[Scenario]:
    """Every scenario of the benchmark; `seed` shifts every scenario's random streams (0: the published
    ones), so a second seed re-runs the same benchmark on fresh traffic."""
    latency = Scenario(
        "p99 100->250 ms @ 50 rps (0.5% errors)",
        "regression",
        50.0,
        _version(0.005),
        _version(0.005, SIGMA_P99_250),
        seed=106,
    )
    scenarios = [
        regression(0.005, 0.02, 50, seed=101),
        regression(0.001, 0.05, 50, seed=102),
        regression(0.01, 0.015, 50, seed=103),
        regression(0.005, 0.02, 2, seed=104),
        regression(0.005, 0.02, 500, seed=105),
        latency,
        identical(0.005, 50, seed=201),
        identical(0.001, 50, seed=202),
        identical(0.01, 50, seed=203),
        identical(0.005, 2, seed=204),
        identical(0.005, 500, seed=205),
    ]
    return [
        Scenario(s.name, s.kind, s.requests_per_s, s.baseline, s.canary, s.seed + seed, runs)
        for s in scenarios
    ]


def kl_bernoulli(p: float, q: float) -> float:
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def sprt_limit_requests(p0: float, p1: float, a: float = 0.01, b: float = 0.01) -> float:
    """Wald's lower bound on E[canary requests | p1] for any test with error rates a, b, knowing p0, p1."""
    return ((1 - b) * math.log((1 - b) / a) + b * math.log(b / (1 - a))) / kl_bernoulli(p1, p0)


def sprt_limit_failed(p0: float, p1: float, a: float = 0.01, b: float = 0.01) -> float:
    """The same bound in failed requests: canary requests times the canary's error rate."""
    return p1 * sprt_limit_requests(p0, p1, a, b)
