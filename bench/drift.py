"""What a baseline that moves during the rollout does to the judge: good releases rolled back and promoted.

The judge's baseline history is the live version's last day; the benchmark's scenarios keep the baseline's
error rate where its history says it is. Real services drift (an incident downstream, a daily peak), and a
test that trusts the history then compares the canary with the wrong rate. Here the canary is exactly as good
as the baseline *now*, whose rate has moved from the history's: every rollback is a false one. Each
configuration of ours (default: the history serves the pass test and the ramp; trusting: its fail test too)
runs the same rollouts, 50 requests/s, the ramp choosing the share, 30 one-minute periods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from controller.judge import BaselineHistory, Judge, JudgeConfig, Verdict, WindowStats
from controller.ramp import AdaptiveRamp, RampConfig

PERIOD_S = 60
HISTORY_S = 24 * 3600
RPS = 50.0
RUNS = 1000


@dataclass(frozen=True)
class DriftCase:
    name: str
    history_rate: float
    current_rate: float


CASES = (
    DriftCase("steady 0.5%", 0.005, 0.005),
    DriftCase("steady 1%", 0.01, 0.01),
    DriftCase("1% rises 15%", 0.01, 0.0115),
    DriftCase("1% rises 30%", 0.01, 0.013),
    DriftCase("0.5% rises 30%", 0.005, 0.0065),
    DriftCase("0.5% doubles", 0.005, 0.01),
    DriftCase("1% halves", 0.01, 0.005),
)


def _rollout(rng: np.random.Generator, case: DriftCase, trust: bool) -> Verdict:
    requests = int(rng.poisson(RPS * HISTORY_S))
    history = BaselineHistory(requests, int(rng.binomial(requests, case.history_rate)))
    judge = Judge(JudgeConfig(history_fail=trust), history)
    ramp = AdaptiveRamp(RampConfig.for_trusted_history() if trust else RampConfig())
    volume = RPS * PERIOD_S
    percent = ramp.initial_percent(volume)
    verdict = Verdict.CONTINUE
    for _ in range(30):
        n_c = int(rng.poisson(volume * percent / 100))
        n_b = int(rng.poisson(volume * (1 - percent / 100)))
        canary = WindowStats(n_c, int(rng.binomial(n_c, case.current_rate)), 0, 40.0, 66.0, 100.0)
        baseline = WindowStats(n_b, int(rng.binomial(n_b, case.current_rate)), 0, 40.0, 66.0, 100.0)
        judgement = judge.observe(canary, baseline)
        verdict = judgement.verdict
        if verdict is not Verdict.CONTINUE:
            break
        percent = ramp.next_percent(percent, judgement, n_c + n_b)
    return verdict


def run(runs: int = RUNS, seed: int = 41) -> list[dict]:
    """One row per case: the share of good releases each configuration rolls back and promotes."""
    rows = []
    for case in CASES:
        row: dict = {"case": case.name, "history_rate": case.history_rate, "current_rate": case.current_rate}
        for label, trust in (("default", False), ("trusting", True)):
            rng = np.random.default_rng(seed)
            verdicts = [_rollout(rng, case, trust) for _ in range(runs)]
            row[label] = {
                "rolled_back": verdicts.count(Verdict.FAIL) / runs,
                "promoted": verdicts.count(Verdict.PASS) / runs,
            }
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "Baseline drift: good releases (canary = today's baseline) rolled back / promoted in 30 min",
        f"{'baseline':<16} {'default':>22} {'trusting history':>22}",
    ]
    for r in rows:
        cells = [f"{r[k]['rolled_back']:6.1%} / {r[k]['promoted']:6.1%}" for k in ("default", "trusting")]
        lines.append(f"{r['case']:<16} {cells[0]:>22} {cells[1]:>22}")
    return "\n".join(lines)
