"""The oracle's ceiling on detection: exact Poisson tails, the power of the count test, and which cells no
test can meet the goals in."""

from __future__ import annotations

import math

import pytest

from bench.family import family
from bench.family_oracle import (
    detection_ceiling,
    false_rollback_floor,
    oracle_power,
    poisson_upper_tail,
    smallest_miss_free_rollbacks,
)
from bench.family_streams import FamilyWorld


def test_the_poisson_tail_is_exact() -> None:
    assert poisson_upper_tail(0, 3.0) == 1.0
    assert poisson_upper_tail(1, 3.0) == pytest.approx(1 - math.exp(-3.0))
    assert poisson_upper_tail(3, 2.0) == pytest.approx(1 - math.exp(-2.0) * (1 + 2.0 + 2.0))


def test_the_oracle_keeps_its_level_and_gains_power_with_exposure() -> None:
    # At the null the test rejects at most alpha of the time.
    for mean in (0.5, 5.0, 50.0, 5000.0):
        assert oracle_power(mean, mean * (1 + 1e-12), 0.01) <= 0.0101
    # Twice the errors: hopeless with 2 expected, certain with 200.
    assert oracle_power(2.0, 4.0, 0.01) < 0.2
    assert oracle_power(200.0, 400.0, 0.01) > 0.999
    assert oracle_power(20.0, 40.0, 0.01) < oracle_power(40.0, 80.0, 0.01)


def test_only_thin_cells_are_beyond_any_test() -> None:
    cells = {c.name: c for c in family()}
    thin = cells["x1.3-2 onset:0 | 0.05-0.2% 2-10rps steady od:none drift:0"]
    rich = cells["x2-5 onset:0 | 0.2-1% 50-150rps steady od:none drift:0"]
    assert detection_ceiling(FamilyWorld(thin, 200, "evaluation"), 0.01) < 0.5
    assert detection_ceiling(FamilyWorld(rich, 200, "evaluation"), 0.01) > 0.999
    same = next(c for c in cells.values() if c.kind == "identical")
    assert detection_ceiling(FamilyWorld(same, 10, "evaluation"), 0.01) is None


def test_catching_a_doubling_on_a_thin_service_costs_false_rollbacks_for_any_test() -> None:
    # 3.6 expected errors in the horizon: a test that catches 7.2 (2x) 99 % of the time must roll back on 2
    # errors, which identical releases reach 87 % of the time.
    assert smallest_miss_free_rollbacks(3.6, 7.2, 0.01) == pytest.approx(1 - math.exp(-3.6) * 4.6)
    cells = {c.name: c for c in family()}
    thin = cells["identical | 0.05-0.2% 2-10rps steady od:none drift:0"]
    rich = cells["identical | 0.2-1% 50-150rps steady od:none drift:0"]
    assert false_rollback_floor(FamilyWorld(thin, 200, "evaluation"), 0.01) > 0.3
    assert false_rollback_floor(FamilyWorld(rich, 200, "evaluation"), 0.01) < 1e-6
