"""Noise that lasts: the controller tells when the live version's bursts last longer than a period.

The judge's likelihoods take periods as independent given the rate. Where the live version's history shows
its error rate wandering over several minutes at a time, a lasting burst on the canary alone can look like
a regression, so the controller says so before the rollout (docs/judge.md, "Noise that lasts").
"""

from __future__ import annotations

import numpy as np

from controller.domain import BaselineHistory
from controller.event_types import BaselineHistoryRead, Event, WarningEvent
from controller.events import Recorder
from controller.human_view import render
from controller.judge import Judge, JudgeConfig
from controller.judge.dispersion import DISPERSION_FLOOR, estimate_c2, read_persistence
from controller.rollout_setup import announce_history

RATE = 0.02
PER_MINUTE = 6000  # requests a minute: 100 req/s
CV = 0.4


def factors(rng: np.random.Generator, minutes: int, cv: float, run_length: float) -> np.ndarray:
    """Mean-1 gamma factors of coefficient of variation cv, each held for a geometric run of minutes with
    mean `run_length` (1: a new factor every minute)."""
    fresh = rng.gamma(1 / cv**2, cv**2, minutes) if cv else np.ones(minutes)
    keep = rng.random(minutes) >= 1 / run_length
    out = fresh.copy()
    for t in range(1, minutes):
        if keep[t]:
            out[t] = out[t - 1]
    return out


def history(rng: np.random.Generator, cv: float, run_length: float) -> BaselineHistory:
    errors = rng.poisson(PER_MINUTE * RATE * factors(rng, 1440, cv, run_length))
    return BaselineHistory(PER_MINUTE * 1440, int(errors.sum()), tuple((PER_MINUTE, int(k)) for k in errors))


def test_the_noise_read_at_longer_scales_finds_lasting_bursts_and_only_those() -> None:
    rng = np.random.default_rng(21)
    for _ in range(10):
        periods = history(rng, CV, 8.0).per_period
        lasting = read_persistence(periods, DISPERSION_FLOOR)
        # Neighbouring minutes share the burst, so the per-minute estimate reads less than CV^2 ...
        assert estimate_c2(periods, DISPERSION_FLOOR).estimate < CV**2
        # ... and sums over several minutes show the rest: several times the per-minute bound.
        assert lasting.lasts and lasting.c2 > 3 * lasting.per_period_c2
    blocks = [
        read_persistence(history(rng, cv, 1.0).per_period, DISPERSION_FLOOR).block
        for cv in (0.0, CV)
        for _ in range(15)
    ]
    assert blocks == [1] * 30  # independent minutes, noisy or not: nothing lasts


def test_traffic_that_swings_from_minute_to_minute_is_not_taken_for_lasting_noise() -> None:
    # Independent noise moves a k-minute sum by c2 x the sum of its minutes' squared requests: with uneven
    # minutes that is more than c2 / k of the sum squared, which must not read as persistence.
    rng = np.random.default_rng(25)
    for days in (1, 7):
        minutes = 1440 * days
        requests = rng.poisson(PER_MINUTE * np.exp(0.8 * rng.standard_normal(minutes) - 0.32))
        errors = rng.poisson(requests * RATE * factors(rng, minutes, CV, 1.0))
        periods = tuple(zip(requests.tolist(), errors.tolist(), strict=True))
        assert not read_persistence(periods, DISPERSION_FLOOR).lasts


def test_a_short_history_reads_no_longer_scale() -> None:
    short = history(np.random.default_rng(22), CV, 8.0).per_period[:90]  # 90 minutes: under 60 blocks of two
    lasting = read_persistence(short, DISPERSION_FLOOR)
    assert not lasting.lasts and lasting.c2 == lasting.per_period_c2


def _announced(h: BaselineHistory) -> list[Event]:
    events = Recorder()
    announce_history(events, h, Judge(JudgeConfig(), h), 86400)
    return events.events


def test_the_controller_reports_the_noise_and_warns_only_when_bursts_last() -> None:
    rng = np.random.default_rng(23)
    lasting = _announced(history(rng, CV, 8.0))
    read = next(e for e in lasting if isinstance(e, BaselineHistoryRead))
    assert read.noise_lasts_periods > 1 and read.noise_cv is not None and 0.2 < read.noise_cv < 0.5
    (warning,) = [e for e in lasting if isinstance(e, WarningEvent)]
    assert f"noise lasts: over {read.noise_lasts_periods} periods" in warning.message
    assert f"lasting over {read.noise_lasts_periods}-period stretches" in (render(read) or "")
    independent = _announced(history(rng, CV, 1.0))
    read = next(e for e in independent if isinstance(e, BaselineHistoryRead))
    assert read.noise_lasts_periods == 1 and not [e for e in independent if isinstance(e, WarningEvent)]
    assert "noise CV" in (render(read) or "") and "lasting" not in (render(read) or "")


def test_the_warning_stands_whether_or_not_the_judge_trusts_the_history() -> None:
    # The split test alone is misled by a lasting burst on one version too, and the judge reads its noise
    # off the history either way.
    h = history(np.random.default_rng(26), CV, 8.0)
    events = Recorder()
    announce_history(events, h, Judge(JudgeConfig(history_weight=0.0), h), 86400)
    assert not events.of(BaselineHistoryRead)[0].used and events.of(WarningEvent)
