"""What the judge's tests take the live version's per-period noise to be, read off its history once.

Three reads, each described where it is made: the extra-binomial noise per period (dispersion.estimate_c2),
whether it lasts over several periods (dispersion.read_persistence; JudgeConfig.lasting_noise), and the
periods no noise of that kind explains, spikes (outliers.read_outliers; JudgeConfig.outlier_cap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from controller.judge.config import JudgeConfig
from controller.judge.dispersion import Persistence, read_persistence
from controller.judge.outliers import NO_OUTLIERS, Outliers, read_outliers


@dataclass(frozen=True)
class HistoryReads:
    """What a history's periods say about their noise, before any test makes use of it: whether it lasts,
    and its outlying periods (none looked for where it lasts). Read once per history at `floor`: the judge
    reads it as the rollout starts, and the guard after a promotion reads the same day, so the judge's
    reads are handed to it (`controller.guard.guard_factory`) rather than made again."""

    periods: Sequence[tuple[int, int]] = field(repr=False, compare=False)
    floor: float
    persistence: Persistence
    outliers: Outliers

    def answers(self, periods: Sequence[tuple[int, int]], floor: float) -> bool:
        """Whether these are the reads of `periods` at `floor` (the very series: it is not compared)."""
        return self.periods is periods and self.floor == floor


def read_history_noise(periods: Sequence[tuple[int, int]], floor: float) -> HistoryReads:
    """The reads `read_noise` rests on, from the live version's (requests, 5XX errors) per period."""
    persistence = read_persistence(periods, floor)
    # Not where the noise lasts: a lasting burst's edges are not spikes (JudgeConfig.lasting_noise decides
    # what to do with it).
    outliers = (
        NO_OUTLIERS if persistence.lasts else read_outliers(periods, floor, persistence.per_period_estimate)
    )
    return HistoryReads(periods, floor, persistence, outliers)


@dataclass(frozen=True)
class NoiseModel:
    """The noise every test carries (`c2`), what the history tests carry (`history_c2`: the periods other
    than the outliers', where those are censored), and the share of periods they censor."""

    c2: float
    carries_lasting_noise: bool
    outliers: Outliers
    caps_outliers: bool
    history_c2: float
    reads: HistoryReads | None = None  # what it was read from (None: the noise is not modelled)

    @property
    def outlier_share(self) -> float:
        return self.outliers.share if self.caps_outliers else 0.0


def read_noise(
    config: JudgeConfig,
    periods: Sequence[tuple[int, int]],
    history_usable: bool,
    reads: HistoryReads | None = None,
) -> NoiseModel:
    """The noise model for a rollout from the live version's (requests, 5XX errors) per period, oldest first
    (none: the floor); `history_usable`: the history tests will run (only they censor outliers). `reads`:
    the same series already read (`NoiseModel.reads`), used where it was read at this config's floor."""
    c = config
    # An upper bound on the per-period c2 (the floor when there is no history): every test's likelihood
    # carries it, so bursts are not evidence. Where it clearly lasts over several periods, the c2 at that
    # scale (JudgeConfig.lasting_noise).
    if not c.overdispersion:
        return NoiseModel(0.0, False, NO_OUTLIERS, False, 0.0)
    if reads is None or not reads.answers(periods, c.dispersion_floor):
        reads = read_history_noise(periods, c.dispersion_floor)
    noise = reads.persistence
    lasting = noise.lasts and c.lasting_noise
    c2 = noise.c2 if lasting else noise.per_period_c2
    # Periods the noise model cannot explain (spikes): the history tests censor each period's ratio for
    # their share (JudgeConfig.outlier_cap), and carry the other periods' noise.
    outliers = reads.outliers
    caps = history_usable and c.outlier_cap and outliers.share > 0
    history_c2 = outliers.bulk_c2 if caps and outliers.bulk_c2 is not None else c2
    return NoiseModel(c2, lasting, outliers, caps, history_c2, reads)
