"""`python -m bench`: the judge benchmark (table + bench/out/judge.json), the data-plane benchmark, then the
fleet benchmark (bench/fleet.py: N stacks in one wave under the control-plane quotas, bench/out/fleet.json).

The data-plane benchmark lives in `bench/dataplane.py` (another part of the project); it runs after the
judge benchmark when that module exists and has a `main()`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from bench import drift
from bench.judge_sim import run_benchmark
from bench.report import VARIANT_LABELS, goals, table
from bench.scenarios import RUNS, all_scenarios

DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "judge.json"


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
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(table(document))
    print("\n" + drift.table(document["drift"]))
    print(f"\nwrote {out} in {time.perf_counter() - started:.0f} s")
    return document


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
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--runs", type=int, default=RUNS, help=f"runs per scenario and policy (default {RUNS})"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="added to every scenario's seed: another value re-runs the benchmark on fresh random traffic "
        "(default 0, the published figures)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the judge JSON")
    parser.add_argument("--only", choices=("judge", "dataplane", "fleet"), help="run one benchmark only")
    parser.add_argument(
        "--fleet-sizes",
        default="1,5,20,50",
        help="stacks per wave for the fleet benchmark, comma-separated (default 1,5,20,50: about 15 minutes)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        sizes = tuple(int(n) for n in args.fleet_sizes.split(","))
    except ValueError:
        parser.error(f"--fleet-sizes {args.fleet_sizes!r}: write whole numbers, like 1,5,20")
    if not sizes or min(sizes) < 1 or list(sizes) != sorted(sizes):
        parser.error("--fleet-sizes must be increasing whole numbers of at least 1")
    if args.only in (None, "judge"):
        judge_main(args.runs, args.out, args.seed)
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
