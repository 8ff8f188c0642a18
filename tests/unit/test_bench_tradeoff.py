"""The --min-observation trade-off curve: slower promotions buy late regressions caught as a canary."""

from __future__ import annotations

import json

from bench import tradeoff


def test_the_cells_are_the_fast_identical_ones_and_the_late_onsets() -> None:
    promotion, onset = tradeoff.cells("evaluation")
    assert len(promotion) == 6 and all(
        c.kind == "identical" and c.setting.traffic.low >= 50 for c in promotion
    )
    assert len(onset) == 9 and all(c.change.onset.low >= 1 for c in onset)


def test_watching_longer_promotes_later_and_catches_more_late_regressions() -> None:
    points = tradeoff.run("tuning", runs=30, seed=2, settings=(0, 15), log=lambda _: None)
    quick, patient = points
    assert quick.promotion_time_s_mean is not None and patient.promotion_time_s_mean is not None
    assert patient.promotion_time_s_mean >= 15 * 60 > quick.promotion_time_s_mean
    assert patient.late_caught_by_onset["5-10m"] > quick.late_caught_by_onset["5-10m"] + 0.3
    document = json.loads(json.dumps(tradeoff.to_json(points, "tuning", 30, 2)))
    assert [p["min_observation_min"] for p in document["points"]] == [0, 15]
