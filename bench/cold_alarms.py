"""CodeDeploy's p99 alarm on one period and on a fixed "M out of N datapoints", under Lambda cold starts and
without (`python -m bench.cold_alarms`).

Under cold starts (`python -m bench --only family --cold-starts`) a canary's p99 at a small share is often a
cold start, and a one-period alarm tuned to roll back at most 1 % of identical releases has to loosen until
it sees almost nothing; an operator who knows that sets the alarm's `DatapointsToAlarm` to M of N
`EvaluationPeriods`. The family's CodeDeploy peers choose their M of N per cell (bench.family_sim); this
shows one fixed M of N beside one period, on the p99 cells from the first request at 0.2-1 % errors, each
tuned as the bench tunes its peers (on its identical twin, tuning split) and scored on the evaluation split,
with ours from the same worlds.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.family import select
from bench.family_streams import FamilyWorld, NoiseShape
from bench.judge_sim import play, tune
from bench.ours import Ours
from bench.policies import Checks, CodeDeployLinear

CELLS = r"^p99 x(1\.3-2|2-3) onset:0 \| 0\.2-1% (2-10|10-50|50-150)rps (steady|bursty) od:none drift:0$"


def measure(runs: int, seed: int, m: int, n: int) -> list[str]:
    lines = []
    for cold in (False, True):
        shape = NoiseShape(cold_starts=cold)
        lines.append(f"\n{'with' if cold else 'without'} cold starts ({runs} runs per cell, seed {seed})")
        lines.append(
            f"{'cell':<60} {'alarm':>9} {'threshold':>10} {'rolled back':>11} {'failed':>8}   ours: failed"
        )
        for cell in select("evaluation", CELLS):
            world = FamilyWorld(cell, runs, "evaluation", seed, shape)
            ours = play(Ours(), world)
            for m_, n_ in ((1, 1), (m, n)):
                twin = FamilyWorld(cell.twin, runs, "tuning", seed, shape)

                def make(c: float, m_: int = m_, n_: int = n_) -> CodeDeployLinear:
                    return CodeDeployLinear(Checks(latency=c, mode="latency", datapoints=(m_, n_)))

                threshold, _ = tune(make, twin)
                peer = play(make(threshold), world)
                rolled = peer.rolled_back.mean()
                lines.append(
                    f"{cell.name:<60} {f'{m_} of {n_}':>9} {threshold:>8.0f}ms {rolled:>11.1%} "
                    f"{peer.failed.mean():>8.2f}   {ours.failed.mean():.2f}"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_alarms", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs per cell (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="the family's seed (default 0)")
    parser.add_argument("--datapoints", default="2of2", help="the alarm's M of N, as MofN (default 2of2)")
    args = parser.parse_args(argv)
    try:
        m, n = (int(part) for part in args.datapoints.lower().split("of"))
        Checks(datapoints=(m, n))
    except ValueError as exc:
        parser.error(f"--datapoints {args.datapoints!r}: write M of N as e.g. 2of3 ({exc})")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    started = time.perf_counter()
    print("\n".join(measure(args.runs, args.seed, m, n)))
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
