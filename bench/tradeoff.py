"""The trade-off between promotion speed and late-onset detection: `shift --min-observation`.

A release promoted at minute 7 cannot be caught by a canary judge when it turns bad at minute 9; the guard
(`--guard`) and alarms are what is left. Holding the judge's PASS for a minimum observation time lets
late regressions surface while the canary is still a canary, at the price of slower promotions of every
healthy release. This runs ours alone, with `JudgeConfig.min_periods` at each minimum observation, on:

- the iid identical cells at 50 requests/s and more (the promotion-time goal's cells): mean time to
  promote and false rollbacks;
- the family's onset cells at 0.2-1 % and 50-150 requests/s (1.3-2x, 2-5x and 5-50x starting at minute
  1-4, 5-10 and 10-20): the share of runs caught before promotion, counting a release promoted before its
  onset as missed (it escaped the canary), and the mean failed requests.

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

MIN_OBSERVATION_MIN: tuple[int, ...] = (0, 5, 10, 15, 20)
RUNS = 500  # per cell and setting: a curve, not a goal; `--tradeoff-runs` asks for more
ONSET_CELLS = r"^x[0-9.]+-[0-9]+ onset:[1-9][0-9-]*m \| 0\.2-1% 50-150rps steady od:none drift:0$"
PROMOTION_CELLS = r"^identical \| .* (50-150|150-500)rps steady od:none drift:0$"


@dataclass
class TradeoffPoint:
    min_observation_min: int
    promotion_time_s_mean: float | None  # mean over the identical cells of their mean time to promote
    false_rollbacks_worst: float  # the worst identical cell's rollbacks (undecided at 30 min included)
    late_caught_mean: float  # mean over the onset cells of the runs rolled back before promotion
    late_caught_by_onset: dict[str, float]  # the same per onset band
    late_failed_requests_mean: float  # mean over the onset cells of their mean failed requests


def cells(split: str) -> tuple[list[Cell], list[Cell]]:
    chosen = select(split)
    return (
        [c for c in chosen if re.search(PROMOTION_CELLS, c.name)],
        [c for c in chosen if re.search(ONSET_CELLS, c.name)],
    )


def _judge(minutes: int) -> JudgeConfig:
    """The judge `shift --min-observation {minutes}m` runs (the same rounding as the CLI's)."""
    return JudgeConfig(min_periods=min_periods_for(minutes * 60, PERIOD_S))


def _run(cell: Cell, split: str, runs: int, seed: int, minutes: int) -> tuple[str, PolicyResult]:
    world = FamilyWorld(cell, runs, split, seed)
    return cell.name, summarise(play(Ours(judge_config=_judge(minutes)), world), world)


def point(
    minutes: int, promotion: list[Cell], onset: list[Cell], results: dict[str, PolicyResult]
) -> TradeoffPoint:
    same = [results[c.name] for c in promotion]
    late = {c: results[c.name] for c in onset}
    by_band: dict[str, list[float]] = {}
    for cell, r in late.items():
        band = cell.name.split(" ")[1].removeprefix("onset:")
        by_band.setdefault(band, []).append(r.rollback_rate)
    times = [r.time_to_promote_s_mean for r in same if r.time_to_promote_s_mean is not None]
    return TradeoffPoint(
        min_observation_min=minutes,
        promotion_time_s_mean=statistics.mean(times) if times else None,
        false_rollbacks_worst=max(r.rollback_rate for r in same),
        late_caught_mean=statistics.mean(r.rollback_rate for r in late.values()),
        late_caught_by_onset={band: statistics.mean(v) for band, v in by_band.items()},
        late_failed_requests_mean=statistics.mean(r.failed_requests_mean for r in late.values()),
    )


def run(
    split: str = "evaluation",
    runs: int = RUNS,
    seed: int = 0,
    jobs: int = 1,
    settings: tuple[int, ...] = MIN_OBSERVATION_MIN,
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
    for i, minutes in enumerate(settings):
        chunk = dict(done[i * len(promotion + onset) : (i + 1) * len(promotion + onset)])
        points.append(point(minutes, promotion, onset, chunk))
        log(line(points[-1]))
    return points


def line(p: TradeoffPoint) -> str:
    bands = "  ".join(f"{band} {share:6.1%}" for band, share in p.late_caught_by_onset.items())
    promote = f"{p.promotion_time_s_mean:6.0f} s" if p.promotion_time_s_mean is not None else "     - "
    return (
        f"  {p.min_observation_min:>3} min   {promote}   {p.false_rollbacks_worst:6.1%}   "
        f"{p.late_caught_mean:6.1%}   {bands}   {p.late_failed_requests_mean:9.1f}"
    )


HEADER = (
    "  min obs   promote   worst FRR   late caught   by onset (caught before promotion)   failed (late cells)"
)


def to_json(points: list[TradeoffPoint], split: str, runs: int, seed: int) -> dict:
    return {"split": split, "runs": runs, "seed": seed, "points": [asdict(p) for p in points]}
