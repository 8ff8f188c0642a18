"""`python -m bench`: the judge benchmarks, the data-plane benchmark, then the fleet benchmark.

The judge is measured twice, both written to bench/out/judge.json:

- the continuity table: the named scenarios (bench/scenarios.py), idealised, 2,000 runs each, against the
  peers tuned on each scenario's identical twin (the keys `scenarios`, `goals`, `goals_by_variant`,
  `drift`);
- the scenario family (bench/family.py): about 140 cells drawn from ranges of base error rate, traffic and
  its shape, overdispersion, history drift, regression size and onset; peers tuned per cell on the tuning
  split, everything scored on the evaluation split (the key `family`). A rollout undecided at 30 minutes
  counts as rolled back;
- the trade-off curve (bench/tradeoff.py): `shift --min-observation` and `--guard` against late
  regressions, ours alone on the family's onset cells and its fastest identical cells (the key `tradeoff`).

Quick iterations on the family: `python -m bench --only family --runs 400 --cells 'od:ind' --split
tuning` (tune ours on the tuning split only; the evaluation split and its held-out cells are for reporting).

The data-plane benchmark lives in `bench/dataplane.py` (another part of the project); it runs after the
judge benchmarks when that module exists and has a `main()`. The fleet benchmark (bench/fleet.py: N stacks in
one wave under the control-plane quotas, bench/out/fleet.json) runs last.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
from functools import partial
from pathlib import Path

from bench import drift, family_report, tradeoff
from bench.family import SPLITS, describe, select
from bench.family_sim import run_family
from bench.family_streams import FAMILY_NOISE, MAX_SPIKE_CHANCE, NoiseShape
from bench.judge_sim import run_benchmark
from bench.ours import Ours
from bench.ours_flags import OursFlagsError, ours_from_flags
from bench.report import VARIANT_LABELS, goals, table
from bench.scenarios import RUNS, all_scenarios
from bench.streams import PERIOD_S

DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "judge.json"


def _merge(out: Path, keys: dict) -> None:
    """Write `keys` into the JSON document at `out`, keeping the keys another benchmark wrote there."""
    document = json.loads(out.read_text()) if out.exists() else {}
    document.update(keys)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")


def judge_main(runs: int = RUNS, out: Path = DEFAULT_OUT, seed: int = 0) -> dict:
    started = time.perf_counter()
    print(
        f"judge benchmark: {runs} runs per scenario and policy, seed {seed}, virtual time, no AWS", flush=True
    )
    document = {
        "seed": seed,
        **run_benchmark(all_scenarios(runs, seed), log=lambda line: print(line, flush=True)),
    }
    document["goals"] = goals(document)
    document["goals_by_variant"] = {key: goals(document, key) for key in VARIANT_LABELS}
    document["drift"] = drift.run(runs=min(runs, drift.RUNS))
    _merge(out, document)
    print(table(document))
    print("\n" + drift.table(document["drift"]))
    print(f"\nwrote {out} in {time.perf_counter() - started:.0f} s")
    return document


def family_main(
    runs: int = RUNS,
    out: Path = DEFAULT_OUT,
    seed: int = 0,
    split: str = "evaluation",
    pattern: str | None = None,
    judge_goals: list[dict] | None = None,
    jobs: int = 1,
    ours_flags: str = "",
    noise: NoiseShape = FAMILY_NOISE,
) -> dict:
    """Run the family (or the cells matching `pattern`) on `split`, print its tables and put it under the
    key `family` of `out`, keeping the file's other keys. `judge_goals`: the continuity table's goals, to
    count as one goal of the family's summary. `ours_flags`: the judge's `shift` flags ours runs with
    (bench/ours_flags.py; empty: the defaults, as published). `noise`: outside the family, how every
    per-minute noise factor is drawn (lasting, or in spikes), and whether latencies carry cold starts."""
    cells = select(split, pattern)
    options = ours_from_flags(ours_flags, PERIOD_S) if ours_flags else None
    ours = (
        partial(
            Ours,
            judge_config=options.judge_config,
            guard_s=options.guard_s,
            guard_slow=options.guard_slow,
            guard_keep_percent=options.guard_keep_percent,
        )
        if options
        else Ours
    )
    started = time.perf_counter()
    print(
        f"\nscenario family: {len(cells)} cells x {runs} runs, {split} split, seed {seed}; "
        "peers tuned on the tuning split"
        + (f"; ours with {ours_flags}" if ours_flags else "")
        + (f"; {noise.describe()}" if not noise.is_family else ""),
        flush=True,
    )
    results = run_family(
        cells,
        split,
        runs,
        seed,
        ours=ours,
        log=lambda line: print(line, flush=True),
        jobs=jobs,
        noise=noise,
    )
    goal_list = family_report.goals(results)
    if judge_goals is not None:
        goal_list.append(family_report.continuity_goal(judge_goals))
    section = family_report.to_json(results, goal_list, runs, split, seed)
    section["ours_flags"] = ours_flags
    section["noise_lasts_min"] = noise.lasts_min
    section["noise_spike_chance"] = noise.spike_chance
    section["cold_starts"] = noise.cold_starts
    section["latency_shocks_cv"] = noise.latency_cv
    section["summary"]["wall_time_s"] = time.perf_counter() - started
    _merge(out, {"family": section})
    print("\n" + family_report.table(results, goal_list, runs, split))
    print(f"\nwrote the family to {out} in {section['summary']['wall_time_s']:.0f} s")
    return section


def tradeoff_main(runs: int, out: Path, seed: int, split: str, jobs: int) -> dict:
    """The promotion-speed / late-onset curve (bench/tradeoff.py), printed and put under `tradeoff`."""
    print(
        f"\ntrade-off: --min-observation and --guard against late regressions, {split} split, {runs} runs",
        flush=True,
    )
    print(tradeoff.HEADER, flush=True)
    points = tradeoff.run(split, runs, seed, jobs, log=lambda text: print(text, flush=True))
    family = json.loads(out.read_text()).get("family") if out.exists() else None
    peers = tradeoff.peer_reference(family, split, seed)
    if peers is not None:
        print(tradeoff.peer_line(points, peers), flush=True)
    section = tradeoff.to_json(points, split, runs, seed, peers)
    _merge(out, {"tradeoff": section})
    return section


def dataplane_main() -> int | None:
    try:
        module = importlib.import_module("bench.dataplane")
    except ModuleNotFoundError as exc:
        if exc.name != "bench.dataplane":
            raise
        return None
    entry = getattr(module, "main", None)
    if entry is None:
        return None
    print("\ndata-plane benchmark", flush=True)
    return entry()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", type=int, default=RUNS, help=f"runs per scenario, cell and policy (default {RUNS})"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="added to every scenario's seed and mixed into every family cell's: another value re-runs the "
        "benchmarks on fresh random traffic (default 0, the published figures)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the judge JSON")
    parser.add_argument(
        "--only",
        choices=("judge", "family", "tradeoff", "dataplane", "fleet"),
        help="run one benchmark only: judge (the continuity table), family, tradeoff (--min-observation "
        "and --guard against late regressions), dataplane, fleet",
    )
    parser.add_argument(
        "--fleet-sizes",
        default="1,5,20,50",
        help="stacks per wave for the fleet benchmark, comma-separated (default 1,5,20,50: about 15 minutes)",
    )
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default="evaluation",
        help="the family's split to score (default evaluation; tune ours on tuning, which leaves out the "
        "held-out cells)",
    )
    parser.add_argument(
        "--cells",
        metavar="PATTERN",
        help="run only the family cells whose name matches this regular expression (and their identical "
        "twins), e.g. 'od:sha', '^x2-5 onset:0', '10-50rps'",
    )
    parser.add_argument(
        "--tradeoff-runs",
        type=int,
        default=tradeoff.RUNS,
        help=f"runs per cell and setting for the trade-off curve (default {tradeoff.RUNS}: seven settings "
        "(five minimum observations, two guards) of 15 cells, about 3 minutes on two cores)",
    )
    parser.add_argument(
        "--ours-flags",
        default="",
        metavar="FLAGS",
        help="run ours in the family with these `shift` flags of the judge (and --guard, --guard-slow), read "
        "by the controller's own parser, e.g. '--latency-ratio 1.15', '--narrowest-ratio off' or "
        "'--guard-slow' (default: none, the published figures; write it as --ours-flags='--flag value')",
    )
    parser.add_argument(
        "--noise-lasts",
        type=float,
        default=1.0,
        metavar="MINUTES",
        help="outside the family: hold each per-minute noise factor (overdispersed cells) for a random run "
        "of minutes with this mean, today and in the history, peers tuned in the same world (default 1: a "
        "new factor every minute, the published figures; needs --only family and another --out)",
    )
    parser.add_argument(
        "--noise-spikes",
        type=float,
        default=0.0,
        metavar="CHANCE",
        help="outside the family: draw each per-minute noise factor (overdispersed cells) as rare spikes "
        "instead of gamma, with the same mean and coefficient of variation: in this share of minutes the "
        "error rate jumps (at CV 0.5 and 0.02, to 4.8 times the other minutes'), today and in the history, "
        "peers tuned in the same world (default 0: gamma, the published figures; needs --only family and "
        "another --out)",
    )
    parser.add_argument(
        "--cold-starts",
        action="store_true",
        help="outside the family: Lambda cold starts, each version's new execution environments' first "
        "requests slowed by the run's init time (250-1,000 ms), the canary's function fresh as the rollout "
        "starts, peers tuned in the same world (bench/cold_starts.py; needs --only family and another --out)",
    )
    parser.add_argument(
        "--latency-shocks",
        type=float,
        default=0.0,
        metavar="CV",
        help="outside the family: every request of a minute, both versions' alike, slowed or sped by one "
        "mean-1 factor of this coefficient of variation, drawn as --noise-lasts and --noise-spikes say (a "
        "slow downstream dependency: at CV 0.2 in spikes of 0.02, 2.4 times slower in one minute in fifty), "
        "peers tuned in the same world (default 0: none, the published figures; needs --only family and "
        "another --out)",
    )
    parser.add_argument("--list-cells", action="store_true", help="print the family's cells and exit")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes for the family (default: one per CPU); the figures do not depend on it",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.jobs < 1 or args.tradeoff_runs < 1:
        parser.error("--jobs and --tradeoff-runs must be at least 1")
    if not (1 <= args.noise_lasts < math.inf):
        parser.error(f"--noise-lasts {args.noise_lasts:g}: write a mean run of at least 1 minute")
    if not (0 <= args.noise_spikes <= MAX_SPIKE_CHANCE):
        parser.error(
            f"--noise-spikes {args.noise_spikes:g}: write a share of minutes, 0 to {MAX_SPIKE_CHANCE:g}"
        )
    if not (0 <= args.latency_shocks <= 1):
        parser.error(f"--latency-shocks {args.latency_shocks:g}: write a coefficient of variation, 0 to 1")
    if args.noise_spikes and args.noise_spikes >= 1 / (1 + args.latency_shocks**2):
        parser.error(f"--noise-spikes {args.noise_spikes:g} is too common for --latency-shocks's CV")
    noise = NoiseShape(args.noise_lasts, args.noise_spikes, args.cold_starts, args.latency_shocks)
    if not noise.is_family and (args.only != "family" or args.out.resolve() == DEFAULT_OUT.resolve()):
        flag = (
            "--noise-lasts"
            if args.noise_lasts > 1
            else "--noise-spikes"
            if args.noise_spikes
            else "--cold-starts"
            if args.cold_starts
            else "--latency-shocks"
        )
        parser.error(f"{flag} needs --only family and an --out other than the published figures' file")
    try:
        sizes = tuple(int(n) for n in args.fleet_sizes.split(","))
    except ValueError:
        parser.error(f"--fleet-sizes {args.fleet_sizes!r}: write whole numbers, like 1,5,20")
    if not sizes or min(sizes) < 1 or list(sizes) != sorted(sizes):
        parser.error("--fleet-sizes must be increasing whole numbers of at least 1")
    try:
        if args.ours_flags:
            ours_from_flags(args.ours_flags, PERIOD_S)
    except OursFlagsError as exc:
        parser.error(str(exc))
    if args.list_cells:
        print(describe(select(args.split)))
        return 0
    try:
        chosen = select(args.split, args.cells)
    except ValueError as exc:
        parser.error(str(exc))
    if not chosen:
        parser.error(f"--cells {args.cells!r} matches no cell of the {args.split} split (see --list-cells)")
    judge_goals = None
    if args.only in (None, "judge"):
        judge_goals = judge_main(args.runs, args.out, args.seed)["goals"]
    if args.only in (None, "family"):
        family_main(
            args.runs,
            args.out,
            args.seed,
            args.split,
            args.cells,
            judge_goals,
            args.jobs,
            args.ours_flags,
            noise,
        )
    if args.only in (None, "tradeoff"):
        tradeoff_main(args.tradeoff_runs, args.out, args.seed, args.split, args.jobs)
    if args.only in (None, "dataplane"):
        result = dataplane_main()
        if isinstance(result, int) and result != 0:
            return result
    if args.only in (None, "fleet"):
        from bench import fleet

        print("\nfleet benchmark", flush=True)
        return fleet.main(sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
