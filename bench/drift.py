"""What a baseline that moves during the rollout does to good releases: ours and the peers, rolled back.

The judge's baseline history is the live version's last day; the benchmark's scenarios keep the baseline's
error rate where its history says it is. Real services drift (an incident downstream, a daily peak), and a
test that trusts the history then compares the canary with the wrong rate. Here the canary is exactly as good
as the baseline *now*, whose rate has moved from the history's: every rollback is a false one.

Ours runs in its default configuration (the fail test trusts the history, with the drift watch) and strict
(`--no-trust-baseline-history`: fail test on the concurrent split alone). The peers get what an operator who
knows their normal error rate would set: the threshold tuned, as in the main benchmark, to 1 % false
rollbacks on identical versions at the *history's* rate; then the rate moves. 50 requests/s, 30 one-minute
periods, the same random streams for every policy of a case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.judge_sim import ScenarioWorld, simulate, tune_peers
from bench.ours import Ours
from bench.policies import PEERS
from bench.scenarios import MINUTES, SIGMA_P99_100, Scenario, identical
from bench.streams import Streams, Version

RPS = 50.0
RUNS = 1000
OURS = {"default": Ours, "strict": Ours.strict}


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
    DriftCase("0.1% doubles", 0.001, 0.002),
    DriftCase("1% halves", 0.01, 0.005),
)


class _HistoryAt(Streams):
    """The scenario's streams, with each run's history drawn at the history's rate, not today's."""

    def __init__(self, runs: int, periods: int, seed: int, history_rate: float) -> None:
        super().__init__(runs, periods, seed)
        self.history_rate = history_rate

    def history(self, rps: float, seconds: float, baseline: Version) -> tuple[np.ndarray, np.ndarray]:
        at_history_rate = Version(self.history_rate, baseline.median_ms, baseline.sigma)
        return super().history(rps, seconds, at_history_rate)


def _shares(policy, scenario: Scenario, streams: Streams) -> dict[str, float]:
    """A good release the guard undid after its promotion counts as rolled back (and as promoted)."""
    outcome = simulate(policy, scenario, streams)
    return {
        "rolled_back": float((outcome.rolled_back | outcome.undone).mean()),
        "promoted": float(outcome.promoted.mean()),
        "undone": float(outcome.undone.mean()),
    }


def run(runs: int = RUNS, seed: int = 41) -> list[dict]:
    """One row per case: the share of good releases each policy rolls back and promotes in 30 minutes."""
    rows = []
    for i, case in enumerate(CASES):
        twin = identical(case.history_rate, RPS, seed)
        twin = Scenario(twin.name, twin.kind, RPS, twin.baseline, twin.canary, seed + 100 * i + 1, runs)
        tuned = tune_peers(ScenarioWorld(twin, Streams(runs, MINUTES, twin.seed)), variants=False)
        today = Version(case.current_rate, twin.baseline.median_ms, SIGMA_P99_100)
        drifted = Scenario(case.name, "identical", RPS, today, today, seed + 100 * i + 2, runs)
        row: dict = {"case": case.name, "history_rate": case.history_rate, "current_rate": case.current_rate}
        streams = _HistoryAt(runs, MINUTES, drifted.seed, case.history_rate)  # read-only: shared by all
        for label, make in OURS.items():
            row[label] = _shares(make(), drifted, streams)
        for peer, cls in PEERS.items():
            row[peer] = _shares(cls(tuned[peer]["error"].checks), drifted, streams)
        rows.append(row)
    return rows


PEER_LABELS = {
    "recipe": "recipe",
    "codedeploy_canary": "CD canary",
    "codedeploy_linear": "CD linear",
    "flagger": "Flagger",
    "kayenta": "Kayenta",
}


def table(rows: list[dict]) -> str:
    peers = [p for p in PEER_LABELS if rows and p in rows[0]]
    lines = [
        "Baseline drift: good releases (canary = today's baseline) rolled back in 30 min "
        "(ours: rolled back / promoted; peers tuned to 1 % at the history's rate)",
        f"{'baseline':<16} {'ours':>16} {'ours, strict':>16}"
        + "".join(f" {PEER_LABELS[p]:>10}" for p in peers),
    ]
    for r in rows:
        ours = [f"{r[k]['rolled_back']:.1%} / {r[k]['promoted']:.0%}" for k in OURS]
        cells = "".join(f" {r[p]['rolled_back']:>10.1%}" for p in peers)
        lines.append(f"{r['case']:<16} {ours[0]:>16} {ours[1]:>16}{cells}")
    return "\n".join(lines)
