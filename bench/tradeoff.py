"""The trade-off between promotion speed and late-onset detection: `shift --min-observation` and `--guard`.

A release promoted at minute 7 cannot be caught by a canary judge when it turns bad at minute 9; the guard
(`--guard`) and alarms are what is left. Holding the judge's PASS for a minimum observation time lets
late regressions surface while the canary is still a canary, at the price of slower promotions of every
healthy release. The guard keeps the fast promotion and judges the promoted release alone against the
former version's rate for a while after it, undoing the promotion on a regression (coarser: it allows the
judge's margin, 1.5x, over the former rate's upper bound, and `shift` runs that much longer). `shift
--strategy adaptive` guards ten periods by default. This runs ours alone, with `JudgeConfig.min_periods` at
each minimum observation and no guard (`--guard 0`), and then the two-period minimum with each guard (the
first of them the default), on:

- the iid identical cells at 50 requests/s and more (the promotion-time goal's cells): mean time to
  promote and false rollbacks;
- the family's onset cells at 0.2-1 % and 50-150 requests/s (1.3-2x, 2-5x and 5-50x starting at minute
  1-4, 5-10 and 10-20): the share of runs caught before promotion, counting a release promoted before its
  onset as missed (it escaped the canary); with a guard also the share undone after the promotion, and
  the mean failed requests (an undone release fails no more requests).

`python -m bench --only tradeoff [--tradeoff-runs N] [--split evaluation|tuning]` (500 runs per cell and
setting by default); the figures go under the key `tradeoff` of bench/out/judge.json.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

from bench.family import Cell, select
from bench.family_sim import PolicyResult, summarise
from bench.family_streams import FamilyWorld
from bench.judge_sim import play
from bench.ours import Ours
from bench.streams import PERIOD_S
from controller.judge import JudgeConfig
from controller.judge.config import min_periods_for
from controller.shift_options import default_guard_s

MIN_OBSERVATION_MIN: tuple[int, ...] = (0, 5, 10, 15, 20)
GUARD_MIN: tuple[int, ...] = (10, 20)  # `--guard` alone is 10m, the default of `--strategy adaptive`
RUNS = 500  # per cell and setting: a curve, not a goal; `--tradeoff-runs` asks for more
ONSET_CELLS = r"^x[0-9.]+-[0-9]+ onset:[1-9][0-9-]*m \| 0\.2-1% 50-150rps steady od:none drift:0$"
PROMOTION_CELLS = r"^identical \| .* (50-150|150-500)rps steady od:none drift:0$"


@dataclass(frozen=True)
class Setting:
    min_observation_min: int  # `shift --min-observation`
    guard_min: int = 0  # `shift --guard` (0: off)


SETTINGS: tuple[Setting, ...] = (
    *(Setting(m) for m in MIN_OBSERVATION_MIN),
    *(Setting(0, g) for g in GUARD_MIN),
)


@dataclass
class TradeoffPoint:
    min_observation_min: int
    promotion_time_s_mean: float | None  # mean over the identical cells of their mean time to promote
    false_rollbacks_worst: float  # the worst identical cell's rollbacks (undecided at 30 min, undone too)
    late_caught_mean: float  # mean over the onset cells of the runs rolled back before promotion
    late_caught_by_onset: dict[str, float]  # the same per onset band
    late_failed_requests_mean: float  # mean over the onset cells of their mean failed requests
    guard_min: int = 0
    # The worst share of healthy releases the guard undid: in an identical cell, or before the onset in an
    # onset cell.
    false_undone_worst: float = 0.0
    late_undone_mean: float = 0.0  # mean over the onset cells of the runs undone after their promotion
    late_undone_by_onset: dict[str, float] | None = None  # the same per onset band (with a guard)


def cells(split: str) -> tuple[list[Cell], list[Cell]]:
    chosen = select(split)
    return (
        [c for c in chosen if re.search(PROMOTION_CELLS, c.name)],
        [c for c in chosen if re.search(ONSET_CELLS, c.name)],
    )


def _judge(minutes: int) -> JudgeConfig:
    """The judge `shift --min-observation {minutes}m` runs (the same rounding as the CLI's)."""
    return JudgeConfig(min_periods=min_periods_for(minutes * 60, PERIOD_S))


def _run(cell: Cell, split: str, runs: int, seed: int, setting: Setting) -> tuple[str, PolicyResult]:
    world = FamilyWorld(cell, runs, split, seed)
    ours = Ours(judge_config=_judge(setting.min_observation_min), guard_s=setting.guard_min * 60.0)
    return cell.name, summarise(play(ours, world), world)


def _by_band(late: dict[Cell, PolicyResult], value: Callable[[PolicyResult], float]) -> dict[str, float]:
    by_band: dict[str, list[float]] = {}
    for cell, r in late.items():
        by_band.setdefault(cell.name.split(" ")[1].removeprefix("onset:"), []).append(value(r))
    return {band: statistics.mean(v) for band, v in by_band.items()}


def point(
    setting: Setting, promotion: list[Cell], onset: list[Cell], results: dict[str, PolicyResult]
) -> TradeoffPoint:
    same = [results[c.name] for c in promotion]
    late = {c: results[c.name] for c in onset}
    times = [r.time_to_promote_s_mean for r in same if r.time_to_promote_s_mean is not None]
    healthy_undone = [r.undone_rate for r in same] + [r.undone_before_onset for r in late.values()]
    return TradeoffPoint(
        min_observation_min=setting.min_observation_min,
        promotion_time_s_mean=statistics.mean(times) if times else None,
        false_rollbacks_worst=max(r.false_rollback_rate for r in same),
        late_caught_mean=statistics.mean(r.rollback_rate for r in late.values()),
        late_caught_by_onset=_by_band(late, lambda r: r.rollback_rate),
        late_failed_requests_mean=statistics.mean(r.failed_requests_mean for r in late.values()),
        guard_min=setting.guard_min,
        false_undone_worst=max(healthy_undone),
        late_undone_mean=statistics.mean(r.undone_rate for r in late.values()),
        late_undone_by_onset=_by_band(late, lambda r: r.undone_rate) if setting.guard_min else None,
    )


def run(
    split: str = "evaluation",
    runs: int = RUNS,
    seed: int = 0,
    jobs: int = 1,
    settings: tuple[Setting, ...] = SETTINGS,
    log: Callable[[str], None] = print,
) -> list[TradeoffPoint]:
    promotion, onset = cells(split)
    tasks = [(c, split, runs, seed, m) for m in settings for c in promotion + onset]
    if jobs <= 1:
        done = [_run(*task) for task in tasks]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(_run, *zip(*tasks, strict=True)))
    points = []
    for i, setting in enumerate(settings):
        chunk = dict(done[i * len(promotion + onset) : (i + 1) * len(promotion + onset)])
        points.append(point(setting, promotion, onset, chunk))
        log(line(points[-1]))
    return points


def line(p: TradeoffPoint) -> str:
    bands = "  ".join(f"{band} {share:6.1%}" for band, share in p.late_caught_by_onset.items())
    promote = f"{p.promotion_time_s_mean:6.0f} s" if p.promotion_time_s_mean is not None else "     - "
    guard = f"{p.guard_min:>3} min" if p.guard_min else "    off"
    default_guard = default_guard_s(adaptive=True, period_s=PERIOD_S)
    default = p.guard_min * 60 == default_guard and not p.min_observation_min
    undone = ""
    if p.late_undone_by_onset is not None:
        by_band = "  ".join(f"{band} {share:6.1%}" for band, share in p.late_undone_by_onset.items())
        undone = f"   undone {p.late_undone_mean:6.1%} ({by_band}); healthy undone {p.false_undone_worst:.1%}"
    return (
        f"  {p.min_observation_min:>3} min   {guard}   {promote}   {p.false_rollbacks_worst:6.1%}   "
        f"{p.late_caught_mean:6.1%}   {bands}   {p.late_failed_requests_mean:9.1f}{undone}"
        + ("   (the default)" if default else "")
    )


HEADER = (
    "  min obs   guard   promote   worst FRR   late caught   by onset (caught before promotion)   "
    "failed (late cells)"
)


@dataclass
class PeerReference:
    """The tuned peers on the same onset cells, from the family's table of the same split and seed."""

    failed_requests_mean: float  # mean over the onset cells of the best eligible peer's mean failed requests
    runs: int  # the family's runs per cell
    best: dict[str, str]  # per onset cell, which peer that is


def peer_reference(family: dict | None, split: str, seed: int) -> PeerReference | None:
    """The best eligible peer's failed requests on the onset cells, when `family` (the `family` key of
    bench/out/judge.json) holds every one of them, run on `split` with `seed`; else None. The peers do not
    depend on ours, so a family run of the same split and seed is their figure."""
    if not family or family.get("split") != split or family.get("seed") != seed:
        return None
    by_name = {cell["name"]: cell for cell in family.get("cells", [])}
    _, onset = cells(split)
    best: dict[str, tuple[str, float]] = {}
    for cell in onset:
        entry = by_name.get(cell.name)
        peers = [
            (name, p["failed_requests_mean"])
            for name, p in (entry or {}).get("policies", {}).items()
            if name != "ours" and p.get("eligible")
        ]
        if not peers:
            return None
        best[cell.name] = min(peers, key=lambda item: item[1])
    return PeerReference(
        failed_requests_mean=statistics.mean(v for _, v in best.values()),
        runs=int(family.get("runs", 0)),
        best={name: peer for name, (peer, _) in best.items()},
    )


def peer_line(points: list[TradeoffPoint], peers: PeerReference) -> str:
    ratios = "  ".join(
        f"{_label(p)} {p.late_failed_requests_mean / peers.failed_requests_mean:.2f}x" for p in points
    )
    return (
        f"  the best eligible peer per onset cell (the family's table, {peers.runs} runs): "
        f"{peers.failed_requests_mean:.1f} failed (late cells); ours against it: {ratios}"
    )


def _label(p: TradeoffPoint) -> str:
    return f"guard {p.guard_min}m" if p.guard_min else f"min obs {p.min_observation_min}m"


def to_json(
    points: list[TradeoffPoint], split: str, runs: int, seed: int, peers: PeerReference | None = None
) -> dict:
    return {
        "split": split,
        "runs": runs,
        "seed": seed,
        "points": [asdict(p) for p in points],
        "peers": None if peers is None else asdict(peers),
    }
