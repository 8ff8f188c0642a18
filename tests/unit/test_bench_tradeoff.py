"""The --min-observation trade-off curve: slower promotions buy late regressions caught as a canary."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from bench import tradeoff
from bench.family_sim import PolicyResult, summarise
from bench.judge_sim import Outcome


def test_the_cells_are_the_fast_identical_ones_and_the_late_onsets() -> None:
    promotion, onset = tradeoff.cells("evaluation")
    assert len(promotion) == 6 and all(
        c.kind == "identical" and c.setting.traffic.low >= 50 for c in promotion
    )
    assert len(onset) == 9 and all(c.change.onset.low >= 1 for c in onset)


def test_watching_longer_promotes_later_and_catches_more_late_regressions() -> None:
    settings = (tradeoff.Setting(0), tradeoff.Setting(15))
    points = tradeoff.run("tuning", runs=30, seed=2, settings=settings, log=lambda _: None)
    quick, patient = points
    assert quick.promotion_time_s_mean is not None and patient.promotion_time_s_mean is not None
    assert patient.promotion_time_s_mean >= 15 * 60 > quick.promotion_time_s_mean
    assert patient.late_caught_by_onset["5-10m"] > quick.late_caught_by_onset["5-10m"] + 0.3
    document = json.loads(json.dumps(tradeoff.to_json(points, "tuning", 30, 2)))
    assert [p["min_observation_min"] for p in document["points"]] == [0, 15]


def test_a_guard_undoes_late_regressions_promoted_before_them_and_keeps_the_fast_promotion() -> None:
    settings = (tradeoff.Setting(0), tradeoff.Setting(0, guard_min=10))
    plain, guarded = tradeoff.run("tuning", runs=40, seed=3, settings=settings, log=lambda _: None)
    assert plain.late_undone_mean == 0 and plain.late_undone_by_onset is None
    # The same worlds and the same judge: the canary phase is unchanged, the guard acts only afterwards.
    assert guarded.promotion_time_s_mean == plain.promotion_time_s_mean
    assert guarded.late_caught_by_onset == plain.late_caught_by_onset
    assert guarded.late_undone_by_onset is not None and guarded.late_undone_by_onset["5-10m"] > 0.2
    assert guarded.late_failed_requests_mean < 0.5 * plain.late_failed_requests_mean
    assert guarded.false_undone_worst <= 0.05
    assert "undone" in tradeoff.line(guarded) and "undone" not in tradeoff.line(plain)


def test_the_peers_figure_is_the_best_eligible_peer_per_onset_cell_of_the_same_split_and_seed() -> None:
    _, onset = tradeoff.cells("evaluation")

    def policies(i: int) -> dict:
        return {
            "ours": {"failed_requests_mean": 1.0},
            "recipe": {"failed_requests_mean": 100.0 + i, "eligible": True},
            "flagger": {"failed_requests_mean": 50.0, "eligible": False},  # cheaper, but not eligible
            "kayenta": {"failed_requests_mean": 300.0, "eligible": True},
        }

    family = {
        "split": "evaluation",
        "seed": 0,
        "runs": 2000,
        "cells": [{"name": c.name, "policies": policies(i)} for i, c in enumerate(onset)],
    }
    peers = tradeoff.peer_reference(family, "evaluation", 0)
    assert peers is not None and peers.runs == 2000
    assert peers.failed_requests_mean == sum(100.0 + i for i in range(len(onset))) / len(onset)
    assert set(peers.best.values()) == {"recipe"}
    assert tradeoff.peer_reference(family, "evaluation", 1) is None  # another seed: other draws
    assert tradeoff.peer_reference(family, "tuning", 0) is None
    assert tradeoff.peer_reference({**family, "cells": family["cells"][1:]}, "evaluation", 0) is None
    point = tradeoff.TradeoffPoint(0, 480.0, 0.0, 0.4, {}, peers.failed_requests_mean / 2, guard_min=10)
    assert "guard 10m 0.50x" in tradeoff.peer_line([point], peers)


def test_a_healthy_release_the_guard_undoes_counts_as_a_false_rollback() -> None:
    result = PolicyResult(0.004, 0.002, 0.996, 0.0, None, 10.0, 20.0, None, 480.0, 3000.0, undone_rate=0.007)
    assert result.false_rollback_rate == pytest.approx(0.011)


def test_an_undo_before_the_onset_is_a_healthy_release_undone_not_a_late_catch() -> None:
    # Four runs, all promoted at minute 5: undone at minute 7, at minute 9 and at minute 12; one kept.
    # The regression switches on at minute 8 in every run.
    nan = float("nan")
    outcome = Outcome(
        rolled_back=np.zeros(4, dtype=bool),
        promoted=np.ones(4, dtype=bool),
        decided_s=np.full(4, 300.0),
        failed=np.zeros(4),
        canary_requests=np.zeros(4),
        undone_s=np.array([420.0, 540.0, 720.0, nan]),
    )
    onset = SimpleNamespace(cell=SimpleNamespace(kind="errors"), onset_s=np.full(4, 480.0))
    late = summarise(outcome, onset)  # type: ignore[arg-type]
    assert late.undone_before_onset == pytest.approx(0.25) and late.undone_rate == pytest.approx(0.5)
    twin = SimpleNamespace(cell=SimpleNamespace(kind="identical"), onset_s=np.zeros(4))
    same = summarise(outcome, twin)  # type: ignore[arg-type]
    assert same.undone_rate == pytest.approx(0.75) and same.undone_before_onset == 0.0
    # The curve's healthy-undone column counts it, and the late catches do not.
    promotion, onsets = tradeoff.cells("evaluation")
    clean = replace(same, undone_rate=0.0)
    results = {c.name: clean for c in promotion} | {c.name: late for c in onsets}
    point = tradeoff.point(tradeoff.Setting(0, guard_min=10), promotion, onsets, results)
    assert point.false_undone_worst == pytest.approx(0.25) and point.late_undone_mean == pytest.approx(0.5)
