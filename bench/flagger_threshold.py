"""Flagger with its analysis `threshold` tuned per cell, beside the family
(`python -m bench.flagger_threshold`).

The family's Flagger rolls back after 5 failed checks, its documented example. An operator sets that
`threshold` too. This tunes each of THRESHOLDS to 1 % false rollbacks on a cell's identical twin (tuning
split), lets each regression cell take the one that fails the fewest requests on its own tuning split (as
CodeDeploy's M of N is chosen), and scores it on the evaluation split. It then recounts the family's peer
goals from `bench/out/judge.json` (the same split and seed) with that Flagger in place of the published one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.family import Cell, select
from bench.family_sim import peer_units
from bench.family_streams import FamilyWorld
from bench.judge_sim import FRR_TARGET, play, tune
from bench.policies import Checks, Flagger

THRESHOLDS = (1, 2, 3, 5, 10)
SPLITS = ("tuning", "evaluation")  # the choice is made on the first, scored on the second


@dataclass(frozen=True)
class Choice:
    cell: str
    threshold: int  # failed checks before a rollback, chosen on the cell's tuning split
    failed: float  # mean failed requests on the evaluation split
    twin_false_rollbacks: float  # the chosen setting on the evaluation split's twin
    failed_by_threshold: dict[int, float]  # every threshold's mean failed requests on the evaluation split


def _flagger(mode: str, value: float, unit, threshold: int) -> Flagger:
    checks = (
        Checks(error=value, mode=mode, error_unit=unit)
        if mode == "error"
        else Checks(latency=value, mode=mode)
    )
    return Flagger(checks, threshold=threshold)


def _family(twin: Cell, members: list[Cell], runs: int, seed: int) -> list[Choice]:
    tuning, scored = FamilyWorld(twin, runs, "tuning", seed), FamilyWorld(twin, runs, "evaluation", seed)
    tuning_unit, scored_unit = peer_units(tuning)["flagger"], peer_units(scored)["flagger"]
    settings = {}
    for mode in ("error", "latency"):
        for k in THRESHOLDS:
            value, _ = tune(lambda c, mode=mode, k=k: _flagger(mode, c, tuning_unit, k), tuning)
            on_twin = play(_flagger(mode, value, scored_unit, k), scored)
            settings[mode, k] = value, float((~on_twin.promoted).mean())
    choices = []
    for cell in members:
        mode = "latency" if cell.kind == "latency" else "error"
        worlds = [(w, peer_units(w)["flagger"]) for w in (FamilyWorld(cell, runs, s, seed) for s in SPLITS)]
        failed = {
            k: [play(_flagger(mode, settings[mode, k][0], unit, k), w).failed.mean() for w, unit in worlds]
            for k in THRESHOLDS
        }
        k = min(THRESHOLDS, key=lambda t: failed[t][0])  # a tie keeps the smaller threshold
        scored_failed = {t: float(f[1]) for t, f in failed.items()}
        choices.append(Choice(cell.name, k, scored_failed[k], settings[mode, k][1], scored_failed))
    return choices


def measure(runs: int, seed: int, jobs: int) -> list[Choice]:
    families: dict[str, tuple[Cell, list[Cell]]] = {}
    for cell in select("evaluation"):
        if cell.kind != "identical":
            families.setdefault(cell.twin.name, (cell.twin, []))[1].append(cell)
    with ProcessPoolExecutor(jobs) as pool:
        futures = [pool.submit(_family, twin, members, runs, seed) for twin, members in families.values()]
        return [choice for future in futures for choice in future.result()]


def recount(choices: list[Choice], family: dict) -> str:
    """The family's peer goals with the chosen Flagger in place of the published one."""
    chosen = {c.cell: c for c in choices}
    ratios, losses = [], []
    for cell in family["cells"]:
        if cell["kind"] == "identical":
            continue
        policies = cell["policies"]
        peers = [
            (p["failed_requests_mean"], n)
            for n, p in policies.items()
            if n not in ("ours", "flagger") and p.get("eligible")
        ]
        c = chosen[cell["name"]]
        if c.twin_false_rollbacks <= FRR_TARGET:
            peers.append((c.failed, f"flagger on {c.threshold}"))
        if not peers:
            continue
        best, name = min(peers)
        ours = policies["ours"]["failed_requests_mean"]
        ratios.append(ours / best if best else 1.0)
        if ours > best:
            losses.append(f"  {ours / best:.2f}x  {cell['name']} (against {name})")
    met = sum(r <= 1 for r in ratios)
    counts = {k: sum(c.threshold == k for c in choices) for k in THRESHOLDS}
    return "\n".join(
        [
            f"thresholds chosen: {counts}",
            f"ours at or under the best eligible peer: {met} of {len(ratios)} ({met / len(ratios):.1%}); "
            f"median ratio {statistics.median(ratios):.2f}",
            *sorted(losses, reverse=True),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.flagger_threshold", description=__doc__.split("\n\n")[0].replace("\n", " ")
    )
    parser.add_argument("--runs", type=int, default=2000, help="runs per cell (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="the family's seed (default 0)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--family", type=Path, default=Path("bench/out/judge.json"), help="the family's published table"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.jobs < 1:
        parser.error("--runs and --jobs must be at least 1")
    try:
        family = json.loads(args.family.read_text())["family"]
    except (OSError, ValueError, KeyError) as exc:
        parser.error(f"--family {args.family}: no family table there ({exc}); run `python -m bench` first")
    if family["runs"] != args.runs or family["seed"] != args.seed or family["split"] != "evaluation":
        parser.error(
            f"--family {args.family} holds {family['runs']} runs at seed {family['seed']}: match them"
        )
    started = time.perf_counter()
    print(recount(measure(args.runs, args.seed, args.jobs), family))
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
