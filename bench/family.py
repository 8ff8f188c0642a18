"""The scenario family: cells of the judge's parameter space, a tuning split and an evaluation split.

The named scenarios (bench/scenarios.py) are six points; the judge's constants were fitted to them. The
family replaces points with regions. A cell fixes a band for every factor and each run draws its own values
inside them (log-uniform for rates, traffic and ratios, uniform otherwise):

- base error rate: 0.05-0.2 %, 0.2-1 %, 1-5 % (the live version's rate today);
- traffic: 2-10, 10-50, 50-150, 150-500 requests/s, and its shape: steady; diurnal (a smooth trend of
  +-20-50 % across the 30-minute run); bursty (per-minute lognormal noise plus occasional spikes);
- overdispersion: none, or a per-minute mean-1 gamma factor on the error rate with coefficient of variation
  in a band (0.05-0.25, 0.25-0.5, 0.5-0.6), either independent per version or one shock shared by both;
- history drift d: today's rate = the last day's rate x (1 + d), d in a band of -40..+40 %;
- the change: none (identical versions), an error regression (canary rate x 1.3-2, 2-5 or 5-50) or a latency
  regression (canary p99 x 1.3-2 or 2-3, median unchanged), switching on at an onset (0: from the first
  request; early 1-4 min; late 5-10 min; after a typical healthy promotion, 10-20 min).

Cells are chosen, not crossed: an iid reference varied one or two factors at a time, the iid grid of base
rate x traffic x ratio, and combination cells drawn at random (a fixed draw) across all factors. Every
regression cell has an identical twin (the same bands, no change), where the peers are tuned. Both splits
hold the same cells with disjoint seeds, so disjoint parameter draws and noise; the held-out cells
(combinations of their own, drawn inside the regions the goals judge) exist only in the evaluation split:
nothing of ours may be tuned on them. Their peers are still tuned on a tuning-seed draw of their twin, as
every peer is (an operator tunes an alarm on their own service).
`python -m bench --list-cells` prints the family.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass

import numpy as np

SPLITS = ("tuning", "evaluation")


@dataclass(frozen=True)
class Band:
    """A range a run draws a value from: [low, high], log-uniform when `log`; low == high is one value."""

    label: str
    low: float
    high: float
    log: bool = False

    def draw(self, u: np.ndarray) -> np.ndarray:
        if self.log and self.low > 0:
            return np.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def to_json(self) -> list[float]:
        return [self.low, self.high]


BASE_RATES = (
    Band("0.05-0.2%", 0.0005, 0.002, log=True),
    Band("0.2-1%", 0.002, 0.01, log=True),
    Band("1-5%", 0.01, 0.05, log=True),
)
TRAFFIC = (
    Band("2-10rps", 2, 10, log=True),
    Band("10-50rps", 10, 50, log=True),
    Band("50-150rps", 50, 150, log=True),
    Band("150-500rps", 150, 500, log=True),
)
SHAPES = ("steady", "diurnal", "bursty")
CVS = (Band("0.05-0.25", 0.05, 0.25), Band("0.25-0.5", 0.25, 0.5), Band("0.5-0.6", 0.5, 0.6))
NO_CV = Band("0", 0.0, 0.0)
DRIFTS = (
    Band("0", 0.0, 0.0),
    Band("+0..15%", 0.0, 0.15),
    Band("+15..30%", 0.15, 0.30),
    Band("+30..40%", 0.30, 0.40),
    Band("-15..0%", -0.15, 0.0),
    Band("-30..-15%", -0.30, -0.15),
    Band("-40..-30%", -0.40, -0.30),
)
ERROR_RATIOS = (
    Band("x1.3-2", 1.3, 2, log=True),
    Band("x2-5", 2, 5, log=True),
    Band("x5-50", 5, 50, log=True),
)
LATENCY_RATIOS = (Band("p99 x1.3-2", 1.3, 2, log=True), Band("p99 x2-3", 2, 3, log=True))
ONSETS = (Band("0", 0, 0), Band("1-4m", 1, 4), Band("5-10m", 5, 10), Band("10-20m", 10, 20))
NO_RATIO = Band("x1", 1.0, 1.0)


@dataclass(frozen=True)
class Dispersion:
    kind: str  # "none" | "independent" | "shared"
    cv: Band = NO_CV

    @property
    def label(self) -> str:
        return "od:none" if self.kind == "none" else f"od:{self.kind[:3]} {self.cv.label}"


NO_DISPERSION = Dispersion("none")
DISPERSIONS = (
    NO_DISPERSION,
    *(Dispersion(kind, cv) for kind in ("independent", "shared") for cv in CVS),
)


@dataclass(frozen=True)
class Setting:
    """Everything of a cell but the change: what a regression cell shares with its identical twin."""

    base: Band
    traffic: Band
    shape: str = "steady"
    dispersion: Dispersion = NO_DISPERSION
    drift: Band = DRIFTS[0]

    @property
    def label(self) -> str:
        return (
            f"{self.base.label} {self.traffic.label} {self.shape} {self.dispersion.label} "
            f"drift:{self.drift.label}"
        )

    @property
    def iid(self) -> bool:
        """Steady traffic, no overdispersion, no drift: every count a Poisson/binomial draw at fixed rates."""
        return (
            self.shape == "steady"
            and self.dispersion.kind == "none"
            and self.drift.high == self.drift.low == 0
        )


@dataclass(frozen=True)
class Change:
    kind: str  # "identical" | "errors" | "latency"
    ratio: Band = NO_RATIO  # canary/baseline error rate (errors) or p99 (latency)
    onset: Band = ONSETS[0]  # minutes after the rollout starts

    @property
    def label(self) -> str:
        if self.kind == "identical":
            return "identical"
        return f"{self.ratio.label} onset:{self.onset.label}"


IDENTICAL = Change("identical")


@dataclass(frozen=True)
class Cell:
    setting: Setting
    change: Change
    group: str
    held_out: bool = False

    @property
    def name(self) -> str:
        return f"{self.change.label} | {self.setting.label}"

    @property
    def kind(self) -> str:
        return self.change.kind

    @property
    def twin(self) -> Cell:
        return Cell(self.setting, IDENTICAL, self.group, self.held_out)

    @property
    def iid(self) -> bool:
        """The iid cells of the goals: an iid setting and (for a regression) onset 0."""
        return self.setting.iid and self.change.onset.high == 0

    def to_json(self) -> dict:
        s, c = self.setting, self.change
        return {
            "name": self.name,
            "group": self.group,
            "kind": c.kind,
            "held_out": self.held_out,
            "twin": None if c.kind == "identical" else self.twin.name,
            "base_error_rate": s.base.to_json(),
            "requests_per_s": s.traffic.to_json(),
            "traffic_shape": s.shape,
            "overdispersion": {"kind": s.dispersion.kind, "cv": s.dispersion.cv.to_json()},
            "history_drift": s.drift.to_json(),
            "ratio": None if c.kind == "identical" else c.ratio.to_json(),
            "onset_min": None if c.kind == "identical" else c.onset.to_json(),
        }


# -- the cells ----------------------------------------------------------------------------------------------

LOW, MID, HIGH = BASE_RATES
REFERENCE = Setting(MID, TRAFFIC[2])  # 0.2-1 % at 50-150 requests/s, steady, no overdispersion, no drift
X13, X2, X5 = ERROR_RATIOS
ZERO, EARLY, LATE, AFTER = ONSETS


def _errors(ratio: Band, onset: Band = ZERO) -> Change:
    return Change("errors", ratio, onset)


def _latency(ratio: Band, onset: Band = ZERO) -> Change:
    return Change("latency", ratio, onset)


def _vary(setting: Setting = REFERENCE, **changes) -> Setting:
    fields = {f: getattr(setting, f) for f in ("base", "traffic", "shape", "dispersion", "drift")}
    return Setting(**{**fields, **changes})


def _dispersion(kind: str, cv: int) -> Dispersion:
    return Dispersion(kind, CVS[cv])


def _core() -> list[tuple[str, Setting, tuple[Change, ...]]]:
    """The cells that vary one or two factors from the iid reference (or span the iid grid)."""
    ind, shared = "independent", "shared"
    drift = {band.label: band for band in DRIFTS}
    return [
        *(
            ("iid", Setting(base, traffic), tuple(_errors(r) for r in ERROR_RATIOS))
            for base in BASE_RATES
            for traffic in TRAFFIC
        ),
        ("onset", REFERENCE, (*(_errors(r, o) for r in ERROR_RATIOS for o in (EARLY, LATE, AFTER)),)),
        ("shape", _vary(shape="diurnal"), (_errors(X2),)),
        ("shape", _vary(shape="bursty"), (_errors(X2), _errors(X13))),
        ("shape", _vary(traffic=TRAFFIC[1], shape="diurnal"), ()),
        ("shape", _vary(traffic=TRAFFIC[1], shape="bursty"), (_errors(X2),)),
        ("dispersion", _vary(dispersion=_dispersion(ind, 0)), (_errors(X13),)),
        ("dispersion", _vary(dispersion=_dispersion(ind, 1)), (_errors(X2),)),
        ("dispersion", _vary(dispersion=_dispersion(ind, 2)), (_errors(X2),)),
        ("dispersion", _vary(dispersion=_dispersion(shared, 0)), (_errors(X13),)),
        ("dispersion", _vary(dispersion=_dispersion(shared, 1)), (_errors(X2),)),
        ("dispersion", _vary(dispersion=_dispersion(shared, 2)), (_errors(X2),)),
        ("dispersion", _vary(base=HIGH, dispersion=_dispersion(ind, 1)), (_errors(X13),)),
        ("dispersion", _vary(base=HIGH, dispersion=_dispersion(shared, 1)), (_errors(X13),)),
        ("dispersion", _vary(traffic=TRAFFIC[1], dispersion=_dispersion(ind, 1)), ()),
        ("dispersion", _vary(traffic=TRAFFIC[3], dispersion=_dispersion(shared, 1)), ()),
        ("drift", _vary(drift=drift["+0..15%"]), (_errors(X13),)),
        ("drift", _vary(drift=drift["+15..30%"]), (_errors(X2),)),
        ("drift", _vary(drift=drift["+30..40%"]), ()),
        ("drift", _vary(drift=drift["-15..0%"]), (_errors(X13),)),
        ("drift", _vary(drift=drift["-30..-15%"]), (_errors(X2), _errors(X13))),
        ("drift", _vary(drift=drift["-40..-30%"]), (_errors(X2),)),
        ("drift", _vary(base=HIGH, drift=drift["+15..30%"]), ()),
        ("drift", _vary(base=HIGH, drift=drift["-30..-15%"]), (_errors(X13),)),
        ("drift", _vary(base=LOW, drift=drift["+15..30%"]), ()),
        ("drift", _vary(traffic=TRAFFIC[1], drift=drift["+15..30%"]), ()),
        ("latency", REFERENCE, (*(_latency(r) for r in LATENCY_RATIOS), _latency(LATENCY_RATIOS[1], EARLY))),
        ("latency", Setting(MID, TRAFFIC[1]), (_latency(LATENCY_RATIOS[1]),)),
        ("latency", Setting(MID, TRAFFIC[0]), (_latency(LATENCY_RATIOS[1]),)),
        ("latency", _vary(shape="bursty"), (_latency(LATENCY_RATIOS[0]),)),
        ("mixed", _vary(shape="bursty", dispersion=_dispersion(ind, 1)), (_errors(X2),)),
        ("mixed", _vary(shape="diurnal", drift=drift["+15..30%"]), (_errors(X13),)),
        ("mixed", _vary(dispersion=_dispersion(ind, 1), drift=drift["+15..30%"]), (_errors(X2, LATE),)),
    ]


def _in_goals(setting: Setting) -> bool:
    """Inside the false-rollback goal's region: overdispersion CV <= 0.5, history drift within +-30 %."""
    return setting.dispersion.cv.high <= 0.5 and max(abs(setting.drift.low), abs(setting.drift.high)) <= 0.3


def _random_setting(rng: np.random.Generator, in_goals: bool) -> Setting:
    """A combination: every factor drawn at random, at least two of them away from the reference (with
    `in_goals`, inside the false-rollback goal's region)."""
    while True:
        setting = Setting(
            BASE_RATES[rng.integers(len(BASE_RATES))],
            TRAFFIC[rng.integers(len(TRAFFIC))],
            SHAPES[rng.integers(len(SHAPES))],
            DISPERSIONS[rng.integers(len(DISPERSIONS))],
            DRIFTS[rng.integers(len(DRIFTS))],
        )
        away = (
            (setting.shape != "steady") + (setting.dispersion.kind != "none") + (setting.drift.label != "0")
        )
        if away >= 2 and (_in_goals(setting) or not in_goals):
            return setting


ONSET_WEIGHTS = (0.4, 0.25, 0.2, 0.15)  # combinations: mostly onsets a canary can catch


def _random_change(rng: np.random.Generator, catchable: bool) -> Change:
    """A regression of random kind, size and onset (`catchable`: onset by minute 10)."""
    weights = np.array(ONSET_WEIGHTS[:3] if catchable else ONSET_WEIGHTS)
    onset = ONSETS[rng.choice(weights.size, p=weights / weights.sum())]
    if rng.random() < 0.2:
        return _latency(LATENCY_RATIOS[rng.integers(len(LATENCY_RATIOS))], onset)
    return _errors(ERROR_RATIOS[rng.integers(len(ERROR_RATIOS))], onset)


COMBINATIONS = 8  # combination cells in both splits (each an identical cell and one regression)
# Held-out combinations, by how many regression cells each has: 4 + 6 cells. They are drawn inside the
# regions the goals judge (CV <= 0.5, drift within +-30 %, onset by minute 10), so each one counts.
HELD_OUT = (2, 1, 2, 1)


def _combinations(taken: set[Setting]) -> list[tuple[str, Setting, tuple[Change, ...], bool]]:
    rng = np.random.default_rng(13)  # the number: a fixed draw, listed by --list-cells
    out = []
    plan = [(1, False)] * COMBINATIONS + [(n, True) for n in HELD_OUT]
    for regressions, held_out in plan:
        setting = _random_setting(rng, in_goals=held_out)
        while setting in taken:
            setting = _random_setting(rng, in_goals=held_out)
        taken.add(setting)
        changes: list[Change] = []
        while len(changes) < regressions:
            change = _random_change(rng, catchable=held_out)
            if change not in changes:
                changes.append(change)
        out.append(("held-out" if held_out else "combination", setting, tuple(changes), held_out))
    return out


def family() -> list[Cell]:
    """Every cell, identical twins first within each group, each name once."""
    rows = [(group, setting, changes, False) for group, setting, changes in _core()]
    rows += _combinations({setting for _, setting, _, _ in rows})
    cells: dict[str, Cell] = {}
    for group, setting, changes, held_out in rows:
        for change in (IDENTICAL, *changes):
            cell = Cell(setting, change, group, held_out)
            cells.setdefault(cell.name, cell)
    return list(cells.values())


def select(split: str, pattern: str | None = None) -> list[Cell]:
    """The cells of `split` whose name matches `pattern` (a regular expression, searched), with the
    identical twin of every regression cell chosen (the peers are tuned there)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    cells = [c for c in family() if split == "evaluation" or not c.held_out]
    if pattern is None:
        return cells
    try:
        matcher = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"--cells {pattern!r} is not a regular expression: {exc}") from exc
    chosen = {c.name for c in cells if matcher.search(c.name)}
    chosen |= {c.twin.name for c in cells if c.name in chosen}
    return [c for c in cells if c.name in chosen]


def seed_sequence(cell: Cell, split: str, seed: int = 0) -> np.random.SeedSequence:
    """The cell's random streams in `split`: the splits' entropies differ, so their draws are disjoint."""
    return np.random.SeedSequence([zlib.crc32(cell.name.encode()), SPLITS.index(split) + 1, seed])


def describe(cells: list[Cell]) -> str:
    """One line per cell, by group, saying which split holds it."""
    lines = []
    group = None
    for cell in cells:
        if cell.group != group:
            group = cell.group
            lines.append(f"{group}:")
        where = "evaluation only (held out)" if cell.held_out else "both splits"
        lines.append(f"  {cell.name:<72} {where}")
    kinds = [c.kind for c in cells]
    lines.append(
        f"{len(cells)} cells: {kinds.count('identical')} identical, {kinds.count('errors')} error "
        f"regressions, {kinds.count('latency')} latency regressions; "
        f"{sum(c.held_out for c in cells)} held out"
    )
    return "\n".join(lines)
