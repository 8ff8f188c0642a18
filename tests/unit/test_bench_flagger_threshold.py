"""`python -m bench.flagger_threshold`: Flagger's failed-check threshold chosen per cell."""

from __future__ import annotations

import json

import pytest

from bench.family import select
from bench.family_sim import run_family
from bench.flagger_threshold import THRESHOLDS, Choice, _family, main, recount

PATTERN = r"^x1\.3-2 onset:0 \| 0\.2-1% 150-500rps steady od:none drift:0$"


def test_a_regression_takes_the_threshold_that_fails_the_fewest_and_five_is_the_familys_flagger() -> None:
    twin, cell = select("evaluation", PATTERN)
    (choice,) = _family(twin, [cell], runs=200, seed=11)
    assert choice.cell == cell.name and set(choice.failed_by_threshold) == set(THRESHOLDS)
    assert choice.failed == choice.failed_by_threshold[choice.threshold]
    # 5 failed checks is the family's own Flagger: the same failed requests on the same runs
    published = run_family([twin, cell], runs=200, seed=11, log=lambda _: None)[1].policies["flagger"]
    assert choice.failed_by_threshold[5] == published.failed_requests_mean


def test_recount_puts_the_chosen_flagger_in_place_of_the_published_one() -> None:
    ours = {"failed_requests_mean": 10.0}
    cell = {
        "name": "c",
        "kind": "errors",
        "policies": {
            "ours": ours,
            "flagger": {"failed_requests_mean": 20.0, "eligible": True},
            "kayenta": {"failed_requests_mean": 15.0, "eligible": True},
        },
    }
    assert "1 of 1 (100.0%)" in recount([Choice("c", 5, 20.0, 0.005, {})], {"cells": [cell]})
    text = recount([Choice("c", 10, 8.0, 0.005, {})], {"cells": [cell]})
    assert "0 of 1 (0.0%)" in text and "1.25x  c (against flagger on 10)" in text
    # over 1 % on the scored twin: not eligible, so Kayenta stays the best peer
    assert "1 of 1" in recount([Choice("c", 10, 8.0, 0.02, {})], {"cells": [cell]})


@pytest.mark.parametrize("argv", [["--runs", "0"], ["--jobs", "0"]])
def test_bad_counts_are_a_one_line_error(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_a_family_table_of_other_runs_is_refused(tmp_path, capsys) -> None:
    table = tmp_path / "judge.json"
    table.write_text(json.dumps({"family": {"runs": 400, "seed": 0, "split": "evaluation", "cells": []}}))
    with pytest.raises(SystemExit) as exit_:
        main(["--family", str(table)])
    assert exit_.value.code == 2 and "holds 400 runs at seed 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--family", str(tmp_path / "missing.json")])
    assert "no family table there" in capsys.readouterr().err
