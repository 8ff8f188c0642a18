"""What the judge's tests take the live version's per-period noise to be, read off its history once.

Three reads, each described where it is made: the extra-binomial noise per period (dispersion.estimate_c2),
whether it lasts over several periods (dispersion.read_persistence; JudgeConfig.lasting_noise), and the
periods no noise of that kind explains, spikes (outliers.read_outliers; JudgeConfig.outlier_cap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controller.judge.config import JudgeConfig
from controller.judge.dispersion import read_persistence
from controller.judge.outliers import NO_OUTLIERS, Outliers, read_outliers


@dataclass(frozen=True)
class NoiseModel:
    """The noise every test carries (`c2`), what the history tests carry (`history_c2`: the periods other
    than the outliers', where those are censored), and the share of periods they censor."""

    c2: float
    carries_lasting_noise: bool
    outliers: Outliers
    caps_outliers: bool
    history_c2: float

    @property
    def outlier_share(self) -> float:
        return self.outliers.share if self.caps_outliers else 0.0


def read_noise(config: JudgeConfig, periods: Sequence[tuple[int, int]], history_usable: bool) -> NoiseModel:
    """The noise model for a rollout from the live version's (requests, 5XX errors) per period, oldest first
    (none: the floor); `history_usable`: the history tests will run (only they censor outliers)."""
    c = config
    # An upper bound on the per-period c2 (the floor when there is no history): every test's likelihood
    # carries it, so bursts are not evidence. Where it clearly lasts over several periods, the c2 at that
    # scale (JudgeConfig.lasting_noise).
    noise = read_persistence(periods, c.dispersion_floor) if c.overdispersion else None
    lasting = noise is not None and noise.lasts and c.lasting_noise
    c2 = 0.0 if noise is None else noise.c2 if lasting else noise.per_period_c2
    # Periods the noise model cannot explain (spikes): the history tests censor each period's ratio for
    # their share (JudgeConfig.outlier_cap), and carry the other periods' noise. Not where the noise lasts:
    # a lasting burst's edges are not spikes (JudgeConfig.lasting_noise decides what to do with it).
    outliers = NO_OUTLIERS
    if noise is not None and not noise.lasts:
        outliers = read_outliers(periods, c.dispersion_floor, noise.per_period_estimate)
    caps = history_usable and c.outlier_cap and outliers.share > 0
    history_c2 = outliers.bulk_c2 if caps and outliers.bulk_c2 is not None else c2
    return NoiseModel(c2, lasting, outliers, caps, history_c2)
