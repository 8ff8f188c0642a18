"""The scenario family: cells and splits, streams, peer tuning on the tuning split, goals, `--only family`."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bench.__main__ as bench_main
from bench.family import (
    AFTER,
    CVS,
    DRIFTS,
    ERROR_RATIOS,
    LATE,
    LATENCY_RATIOS,
    REFERENCE,
    TRAFFIC,
    Cell,
    Change,
    Dispersion,
    Setting,
    family,
    select,
)
from bench.family_report import continuity_goal, goals, peer_ratio, table
from bench.family_sim import CellResult, PolicyResult, run_family, summarise, tune_cell, wald_limit
from bench.family_streams import FamilyWorld, NoiseShape
from bench.judge_sim import Outcome, play
from bench.policies import PEERS, Decision, Policy
from bench.scenarios import SIGMA_P99_100, sprt_limit_failed

X2 = ERROR_RATIOS[1]
DRIFT_UP = next(d for d in DRIFTS if d.label == "+15..30%")


def _cell(setting: Setting = REFERENCE, change: Change | None = None, group: str = "test") -> Cell:
    return Cell(setting, change or Change("identical"), group)


def _world(cell: Cell, runs: int = 400, split: str = "evaluation") -> FamilyWorld:
    return FamilyWorld(cell, runs, split, seed=7)


# -- cells and splits ----------------------------------------------------------------------------------------


def test_every_regression_cell_has_its_identical_twin_in_the_family() -> None:
    cells = {c.name: c for c in family()}
    for cell in cells.values():
        twin = cells[cell.twin.name]
        assert twin.kind == "identical" and twin.setting == cell.setting
        assert twin.held_out == cell.held_out


def test_the_family_covers_the_space_without_a_full_factorial() -> None:
    cells = family()
    kinds = [c.kind for c in cells]
    assert 35 <= kinds.count("identical") <= 55
    assert 60 <= kinds.count("errors") + kinds.count("latency") <= 95
    assert len({c.name for c in cells}) == len(cells)
    settings = {c.setting for c in cells}
    assert {s.shape for s in settings} == {"diurnal", "bursty", "steady"}
    assert {s.dispersion.kind for s in settings} == {"none", "independent", "shared"}
    assert {s.drift for s in settings} == set(DRIFTS)
    assert {s.traffic for s in settings} == set(TRAFFIC)
    assert {c.change.onset.label for c in cells if c.kind != "identical"} == {"0", "1-4m", "5-10m", "10-20m"}
    assert {c.change.ratio for c in cells if c.kind == "latency"} == set(LATENCY_RATIOS)


def test_the_held_out_cells_exist_only_in_the_evaluation_split() -> None:
    held_out = [c for c in family() if c.held_out]
    assert len(held_out) >= 5 and any(c.kind != "identical" for c in held_out)
    tuning = {c.name for c in select("tuning")}
    assert not tuning & {c.name for c in held_out}
    assert {c.name for c in select("evaluation")} == tuning | {c.name for c in held_out}
    assert not {c.setting for c in held_out} & {c.setting for c in family() if not c.held_out}
    # drawn where the goals judge, so every held-out cell counts for one
    assert all(c.setting.dispersion.cv.high <= 0.5 and abs(c.setting.drift.low) <= 0.3 for c in held_out)
    assert all(c.setting.drift.high <= 0.3 and c.change.onset.high <= 10 for c in held_out)


def test_a_cells_pattern_brings_the_identical_twins_along() -> None:
    chosen = select("evaluation", r"^x2-5 onset:0 \| 0.2-1% 50-150rps steady od:none")
    assert {c.kind for c in chosen} == {"errors", "identical"}
    assert {c.twin.name for c in chosen} <= {c.name for c in chosen}
    with pytest.raises(ValueError, match="regular expression"):
        select("evaluation", "(")
    with pytest.raises(ValueError, match="split"):
        select("training")


def test_the_splits_draw_disjoint_parameters_and_noise() -> None:
    cell = _cell(REFERENCE, Change("errors", X2, LATE))
    tuning, evaluation = _world(cell, split="tuning"), _world(cell)
    assert not set(tuning.draws.base_rate.tolist()) & set(evaluation.draws.base_rate.tolist())
    assert not set(tuning.draws.onset_min.tolist()) & set(evaluation.draws.onset_min.tolist())
    assert not np.isin(tuning.streams.u_requests, evaluation.streams.u_requests).any()
    again = _world(cell)  # the same split and seed: the same world
    assert (again.draws.ratio == evaluation.draws.ratio).all()
    assert (again.streams.u_errors == evaluation.streams.u_errors).all()


def test_each_run_draws_its_parameters_inside_its_cells_bands() -> None:
    setting = Setting(REFERENCE.base, TRAFFIC[3], "diurnal", Dispersion("shared", CVS[1]), DRIFT_UP)
    d = _world(_cell(setting, Change("errors", ERROR_RATIOS[2], AFTER)), runs=2000).draws
    for values, band in (
        (d.base_rate, setting.base),
        (d.requests_per_s, setting.traffic),
        (d.cv, setting.dispersion.cv),
        (d.drift, setting.drift),
        (d.ratio, ERROR_RATIOS[2]),
        (d.onset_min, AFTER),
    ):
        assert band.low <= values.min() and values.max() <= band.high
        assert values.max() - values.min() > 0.8 * (band.high - band.low)  # it spreads over the band
    # log-uniform: the median ratio sits at the geometric middle of 5-50
    assert np.median(d.ratio) == pytest.approx(np.sqrt(5 * 50), rel=0.1)
    assert np.abs(d.trend).min() >= 0.2 and np.abs(d.trend).max() <= 0.5


# -- streams -------------------------------------------------------------------------------------------------


def test_independent_overdispersion_multiplies_each_versions_rate_with_its_own_noise() -> None:
    world = _world(
        _cell(Setting(REFERENCE.base, REFERENCE.traffic, dispersion=Dispersion("independent", CVS[1])))
    )
    base = world.draws.base_rate[:, None]
    baseline, canary = world.baseline_rate / base, world.canary_rate / base
    cv = baseline.std(axis=1, ddof=1) / baseline.mean(axis=1)
    assert cv.mean() == pytest.approx(world.draws.cv.mean(), rel=0.08)
    assert baseline.mean() == pytest.approx(1.0, abs=0.02)
    assert abs(np.corrcoef(baseline.ravel(), canary.ravel())[0, 1]) < 0.05


def test_shared_overdispersion_is_one_shock_on_both_versions() -> None:
    world = _world(_cell(Setting(REFERENCE.base, REFERENCE.traffic, dispersion=Dispersion("shared", CVS[2]))))
    assert (world.baseline_rate == world.canary_rate).all()
    factor = world.baseline_rate / world.draws.base_rate[:, None]
    assert (factor.std(axis=1, ddof=1) / factor.mean(axis=1)).mean() == pytest.approx(0.55, rel=0.1)


def test_lasting_noise_keeps_each_minutes_noise_and_holds_it_for_minutes() -> None:
    cell = _cell(Setting(REFERENCE.base, REFERENCE.traffic, dispersion=Dispersion("independent", CVS[1])))
    base = _world(cell)
    lasting = FamilyWorld(cell, 400, "evaluation", seed=7, noise=NoiseShape(lasts_min=8.0))

    def lag1(rates: np.ndarray) -> float:
        factor = rates / rates.mean(axis=1, keepdims=True)
        return float(np.corrcoef(factor[:, :-1].ravel(), factor[:, 1:].ravel())[0, 1])

    assert abs(lag1(base.canary_rate)) < 0.05 and lag1(lasting.canary_rate) > 0.7
    # Each minute's noise is the same gamma factor's, across runs (within one run, fewer distinct looks).
    across = lambda w: (w.canary_rate / w.draws.base_rate[:, None]).std(axis=0, ddof=1).mean()  # noqa: E731
    assert across(lasting) == pytest.approx(across(base), rel=0.1)
    # The history lasts too, the parameters and the traffic are the same draws.
    requests, errors = lasting.history()
    rate = errors[:, :1440] / requests[:, :1440]
    assert lag1(rate) > 0.5 and lag1(base.history()[1] / base.history()[0]) < 0.1
    assert (lasting.draws.base_rate == base.draws.base_rate).all() and (lasting.volume == base.volume).all()


def test_lasting_noise_is_written_apart_from_the_published_figures(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_main.main(["--only", "family", "--noise-lasts", "5"])
    assert exit_.value.code == 2 and "an --out other than the published" in capsys.readouterr().err


@pytest.mark.parametrize("minutes", ["0.5", "inf", "nan"])
def test_a_mean_burst_under_a_minute_or_without_end_is_a_one_line_error(
    minutes: str, capsys, tmp_path
) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_main.main(["--only", "family", "--noise-lasts", minutes, "--out", str(tmp_path / "o.json")])
    assert exit_.value.code == 2 and "write a mean run of at least 1 minute" in capsys.readouterr().err


def test_spiky_noise_has_the_gamma_noises_mean_and_spread_in_rare_minutes() -> None:
    cell = _cell(Setting(REFERENCE.base, REFERENCE.traffic, dispersion=Dispersion("independent", CVS[1])))
    gamma = _world(cell)
    spiky = FamilyWorld(cell, 400, "evaluation", seed=7, noise=NoiseShape(spike_chance=0.02))
    factor = lambda w: w.canary_rate / w.draws.base_rate[:, None]  # noqa: E731
    across = lambda w: factor(w).std(axis=0, ddof=1).mean()  # noqa: E731
    assert factor(spiky).mean() == pytest.approx(1.0, abs=0.03)
    assert across(spiky) == pytest.approx(across(gamma), rel=0.15)
    # Two levels per run: most minutes a little under 1, one in fifty far above it.
    high = factor(spiky) > 1.5
    assert high.mean() == pytest.approx(0.02, abs=0.006)
    assert len(np.unique(np.round(factor(spiky)[0], 9))) <= 2
    # The gamma factor's upper tail is far thinner at the same spread.
    assert (factor(spiky) > 3).mean() > 10 * (factor(gamma) > 3).mean()
    requests, errors = spiky.history()
    day = errors / np.maximum(requests, 1) / spiky.usual_error_rate()[:, None]
    assert (day > 3).mean() > 0.005 and (spiky.volume == gamma.volume).all()


@pytest.mark.parametrize("chance", ["-0.1", "0.6", "nan"])
def test_a_spike_chance_outside_0_to_half_is_a_one_line_error(chance: str, capsys, tmp_path) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_main.main(["--only", "family", "--noise-spikes", chance, "--out", str(tmp_path / "o.json")])
    assert exit_.value.code == 2 and "write a share of minutes, 0 to 0.5" in capsys.readouterr().err


def test_spiky_noise_is_written_apart_from_the_published_figures(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_main.main(["--only", "family", "--noise-spikes", "0.02"])
    assert exit_.value.code == 2 and "--noise-spikes needs --only family" in capsys.readouterr().err


def test_overdispersion_shows_in_the_error_counts() -> None:
    runs = 400
    iid = _world(_cell(REFERENCE), runs)
    noisy = _world(
        _cell(Setting(REFERENCE.base, REFERENCE.traffic, dispersion=Dispersion("shared", CVS[1]))), runs
    )
    idx = np.arange(runs)

    def dispersion_index(world: FamilyWorld) -> float:
        counts = np.stack(
            [world.period(t, idx, np.full(runs, 0.5)).baseline_errors for t in range(30)], axis=1
        )
        return float((counts.var(axis=1, ddof=1) / np.maximum(counts.mean(axis=1), 1e-9)).mean())

    assert dispersion_index(iid) == pytest.approx(1.0, abs=0.15)  # binomial: variance ~ mean
    assert dispersion_index(noisy) > 2.0


def test_an_error_regression_switches_on_at_the_runs_onset() -> None:
    world = _world(_cell(REFERENCE, Change("errors", X2, LATE)))
    d = world.draws
    expected = d.base_rate[:, None] * (1 + (d.ratio[:, None] - 1) * world.active)
    assert world.canary_rate == pytest.approx(expected)
    for run in range(20):
        first_bad = int(np.floor(d.onset_min[run]))
        assert (world.canary_rate[run, :first_bad] == world.baseline_rate[run, :first_bad]).all()
        assert world.canary_rate[run, first_bad + 1] == pytest.approx(d.base_rate[run] * d.ratio[run])
    assert (world.canary_sigma == SIGMA_P99_100).all()


def test_a_latency_regression_fattens_the_canarys_tail_from_its_onset() -> None:
    world = _world(_cell(REFERENCE, Change("latency", LATENCY_RATIOS[1], LATE)))
    assert (world.canary_rate == world.baseline_rate).all()
    slow = world.canary_sigma > SIGMA_P99_100
    assert (slow == (world.active >= 0.5)).all()
    run = int(np.argmax(slow.any(axis=1)))
    idx = np.array([run])
    before, after = world.period(0, idx, np.full(1, 0.5)), world.period(29, idx, np.full(1, 0.5))
    ratio = world.draws.ratio[run]
    assert before.canary_latency[0, 2] == pytest.approx(100, rel=0.25)
    assert after.canary_latency[0, 2] == pytest.approx(100 * ratio, rel=0.25)


def test_every_policy_sees_the_same_world_at_the_same_share() -> None:
    world = _world(_cell(Setting(REFERENCE.base, REFERENCE.traffic, "bursty", Dispersion("shared", CVS[1]))))
    idx = np.arange(world.runs)
    first, second = (world.period(3, idx, np.full(idx.size, 0.2)) for _ in range(2))
    assert (first.canary_requests == second.canary_requests).all()
    assert (first.canary_errors == second.canary_errors).all()
    larger = world.period(3, idx, np.full(idx.size, 0.4))
    assert (larger.canary_requests >= first.canary_requests).all()


def test_the_minutes_past_the_horizon_leave_every_minute_before_it_as_it_was() -> None:
    cell = _cell(Setting(REFERENCE.base, REFERENCE.traffic, "bursty", Dispersion("independent", CVS[1])))
    extended, plain = _world(cell, runs=200), _world(cell, runs=200)
    assert extended.beyond(10) == 10 and extended.beyond(25) == 10  # drawn once
    idx, share = np.arange(200), np.full(200, 0.3)
    for t in (0, 17, 29):
        a, b = extended.period(t, idx, share), plain.period(t, idx, share)
        assert (a.canary_errors == b.canary_errors).all()
        assert (a.baseline_requests == b.baseline_requests).all()
    assert extended.volume.shape == (200, 30) and (extended.volume == plain.volume).all()  # the oracle's
    with pytest.raises(IndexError):
        plain.period(30, idx, share)


def test_a_regression_stays_on_past_the_horizon() -> None:
    world = _world(_cell(REFERENCE, Change("errors", ERROR_RATIOS[2], LATE)), runs=2000)
    world.beyond(10)
    idx, everyone = np.arange(world.runs), np.ones(world.runs)
    past = [world.period(t, idx, everyone) for t in range(30, 40)]
    served = sum(p.canary_requests.sum() for p in past)
    rate = sum(p.canary_errors.sum() for p in past) / served
    expected = float((world.draws.base_rate * world.draws.ratio).mean())
    assert rate == pytest.approx(expected, rel=0.15)
    assert served == pytest.approx(10 * world.requests_per_period().sum(), rel=0.05)


class PromoteLastThenUndo(Policy):
    """Promotes every run in the horizon's last period and undoes them two periods past it."""

    guards = True
    guard_periods = 10

    def decide(self, t: int, idx: np.ndarray, period) -> Decision:
        last = np.full(idx.shape, t == 29)
        return Decision(np.zeros(idx.shape, dtype=bool), last)

    def watch(self, t: int, idx: np.ndarray, period) -> np.ndarray:
        self.watched = [*getattr(self, "watched", []), t]
        return np.full(idx.shape, t == 31)


def test_a_guard_watches_a_release_promoted_at_the_horizon_past_it() -> None:
    world = _world(_cell(REFERENCE), runs=6)
    policy = PromoteLastThenUndo()
    outcome = play(policy, world)
    assert policy.watched == [30, 31]  # past minute 30, until every run was undone
    assert outcome.undone.all() and (outcome.undone_s == 32 * 60).all()
    assert (outcome.decided_s == 30 * 60).all()
    without = play(PromoteLastThenUndo(), _world(_cell(REFERENCE), runs=6), until_decided=True)
    assert not without.undone.any()  # tuning reads decisions only


def test_the_failed_requests_stop_counting_at_the_horizon_for_a_guarded_release_too() -> None:
    cell = _cell(REFERENCE, Change("errors", ERROR_RATIOS[2], LATE))
    guarded, unguarded = PromoteLastThenUndo(), PromoteLastThenUndo()
    unguarded.guards = False
    a, b = play(guarded, _world(cell, runs=50)), play(unguarded, _world(cell, runs=50))
    assert (a.failed == b.failed).all() and a.undone.all() and not b.undone.any()


def test_the_history_is_a_day_of_minutes_at_todays_rate_before_the_drift() -> None:
    world = _world(_cell(Setting(REFERENCE.base, REFERENCE.traffic, drift=DRIFT_UP)), runs=300)
    requests, errors = world.history()
    assert requests.shape == errors.shape == (300, 1440)
    assert (errors <= requests).all()
    rate = errors.sum(axis=1) / requests.sum(axis=1)
    expected = world.draws.base_rate / (1 + world.draws.drift)
    assert np.median(rate / expected) == pytest.approx(1.0, abs=0.01)
    assert world.usual_error_rate() == pytest.approx(expected)
    # its own daily swing and spikes: the busiest minute well above the quietest
    assert np.median(requests.max(axis=1) / np.maximum(requests.min(axis=1), 1)) > 1.5
    assert world.history() is world.history()  # drawn once, whoever reads it


def test_the_history_has_no_drift_where_the_cell_has_none() -> None:
    world = _world(_cell(REFERENCE), runs=300)
    requests, errors = world.history()
    rate = errors.sum(axis=1) / requests.sum(axis=1)
    assert np.median(rate / world.draws.base_rate) == pytest.approx(1.0, abs=0.01)


# -- simulation and tuning -----------------------------------------------------------------------------------


def test_peer_tuning_holds_one_percent_on_the_tuning_split() -> None:
    twin = _cell(Setting(REFERENCE.base, TRAFFIC[1], "bursty"))
    tuned = tune_cell(twin, runs=400, seed=7)
    world = FamilyWorld(twin, 400, "tuning", seed=7)
    for peer, settings in tuned.items():
        for mode, setting in settings.items():
            assert setting.frr <= 0.01, (peer, mode)
        checks = settings["error"].checks
        assert np.ndim(checks.error_unit) == (0 if peer == "kayenta" else 1)
        outcome = play(PEERS[peer](checks), world)
        assert float((~outcome.promoted).mean()) == pytest.approx(settings["error"].frr)


def _outcome(rolled: list[bool], promoted: list[bool], decided: list[float]) -> Outcome:
    n = len(rolled)
    return Outcome(np.array(rolled), np.array(promoted), np.array(decided), np.ones(n), np.ones(n))


def test_a_rollout_undecided_at_the_horizon_counts_as_rolled_back() -> None:
    world = _world(_cell(REFERENCE), runs=4)
    nan = float("nan")
    result = summarise(
        _outcome([True, False, False, False], [False, False, True, True], [60, nan, 300, 400]), world
    )
    assert result.rollback_rate == 0.5 and result.undecided_rate == 0.25 and result.promotion_rate == 0.5
    assert result.detection_before_promotion is None and result.escaped_before_onset == 0


def test_a_release_promoted_before_its_onset_escaped_and_is_left_out_of_detection() -> None:
    world = _world(_cell(REFERENCE, Change("errors", X2, AFTER)), runs=4)
    world.draws.onset_min[:] = 12.0  # promoted at 300 s and 600 s escaped; at 900 s it did not
    result = summarise(
        _outcome([True, False, False, False], [False, True, True, True], [60, 300, 600, 900]), world
    )
    assert result.escaped_before_onset == 0.5
    assert result.detection_before_promotion == 0.5  # one of the two runs still exposed was rolled back


def test_a_release_promoted_within_a_period_of_its_onset_is_a_miss_told_apart() -> None:
    world = _world(_cell(REFERENCE, Change("errors", X2, LATE)), runs=5)
    world.draws.onset_min[:] = 6.0  # onset at 360 s
    result = summarise(
        _outcome(
            [False, False, False, True, False],
            [True, True, True, False, True],
            [300, 365, 419, 420, 480],  # escaped; 5 s and 59 s after the onset; rolled back; a full period
        ),
        world,
    )
    assert result.escaped_before_onset == 0.2
    assert result.detection_before_promotion == 0.25
    assert result.promoted_within_a_period_of_onset == 0.5  # two of the four runs not escaped
    identical = summarise(_outcome([False], [True], [300]), _world(_cell(REFERENCE), runs=1))
    assert identical.promoted_within_a_period_of_onset is None


def test_a_release_the_guard_undoes_after_its_onset_counts_as_detected() -> None:
    world = _world(_cell(REFERENCE, Change("errors", X2, LATE)), runs=4)
    world.draws.onset_min[:] = 6.0  # onset at 360 s
    nan = float("nan")
    outcome = Outcome(
        rolled_back=np.array([True, False, False, False]),
        promoted=np.array([False, True, True, True]),
        decided_s=np.array([420.0, 400.0, 410.0, 415.0]),  # promoted 40-55 s after the onset
        failed=np.ones(4),
        canary_requests=np.ones(4),
        undone_s=np.array([nan, 600.0, nan, 360.0]),  # one undone after the onset; the last one at it
    )
    result = summarise(outcome, world)
    assert result.detection_before_promotion == 0.25  # only the rollback
    assert result.detection == 0.5  # and the late undo; an undo by the onset judged healthy minutes only
    assert result.promoted_within_a_period_of_onset == 0.5  # the two misses, not the undone one


def test_walds_limit_averages_each_runs_own_limit() -> None:
    world = _world(_cell(REFERENCE, Change("errors", X2)), runs=50)
    d = world.draws
    expected = np.mean([sprt_limit_failed(p, p * r) for p, r in zip(d.base_rate, d.ratio, strict=True)])
    assert wald_limit(world.cell, world) == pytest.approx(expected)
    late = _cell(REFERENCE, Change("errors", X2, LATE))
    assert wald_limit(late, _world(late, runs=10)) is None


def test_a_small_family_run_reports_every_policy_with_its_tuning() -> None:
    cells = select("evaluation", r"^x2-5 onset:0 \| 0.2-1% 50-150rps steady od:none drift:0")
    results = run_family(cells, runs=60, seed=3, log=lambda _: None)
    assert [r.cell.kind for r in results] == ["identical", "errors"]
    twin, regression = results
    for name, row in regression.policies.items():
        if name == "ours":
            continue
        assert row.mode == "error" and row.tuned_false_rollback_rate <= 0.01
        # a setting other than the documented one (M of N, failed checks, intervals) has its own rate
        documented = (row.datapoints, row.failed_checks, row.intervals)
        if all(value in (None, default) for value, default in zip(documented, ([1, 1], 5, 5), strict=True)):
            assert row.twin_false_rollback_rate == twin.policies[name].false_rollback_rate_by_check["error"]
    assert regression.wald_failed_mean > 0
    document = json.loads(json.dumps([r.to_json() for r in results]))
    assert set(document[1]["policies"]) == {"ours", *PEERS}


def test_worker_processes_give_the_same_figures_as_one() -> None:
    cells = select("evaluation", r"^x5-50 onset:0 \| 1-5% 50-150rps steady od:none drift:0$")
    one = run_family(cells, runs=30, seed=5, log=lambda _: None)
    two = run_family(
        cells + select("evaluation", "^identical.*0.2-1% 2-10rps steady od:none drift:0$"),
        runs=30,
        seed=5,
        log=lambda _: None,
        jobs=2,
    )
    by_name = {r.cell.name: r for r in two}
    assert len(two) == 3
    for r in one:
        assert by_name[r.cell.name].to_json() == r.to_json()


# -- goals ---------------------------------------------------------------------------------------------------


def _row(**fields) -> PolicyResult:
    defaults = dict(
        rollback_rate=0.0,
        undecided_rate=0.0,
        promotion_rate=1.0,
        escaped_before_onset=0.0,
        detection_before_promotion=None,
        failed_requests_mean=10.0,
        failed_requests_p95=20.0,
        time_to_rollback_s_mean=None,
        time_to_promote_s_mean=400.0,
        canary_requests_to_decision_mean=1000.0,
    )
    return PolicyResult(**{**defaults, **fields})


def _result(cell: Cell, ours: PolicyResult, peer_failed: float = 20.0, twin_frr: float = 0.005, wald=None):
    peers = {
        name: _row(failed_requests_mean=peer_failed + i, twin_false_rollback_rate=twin_frr, mode="error")
        for i, name in enumerate(PEERS)
    }
    return CellResult(cell, "evaluation", 2000, wald, {"ours": ours, **peers})


def test_the_goals_count_the_cells_the_issue_names() -> None:
    noisy = Setting(REFERENCE.base, REFERENCE.traffic, dispersion=Dispersion("shared", CVS[2]))
    drifting = Setting(REFERENCE.base, REFERENCE.traffic, drift=DRIFTS[3])  # +30..40 %
    results = [
        _result(_cell(REFERENCE), _row(rollback_rate=0.02, time_to_promote_s_mean=500)),
        _result(_cell(noisy), _row(rollback_rate=0.30)),  # CV 0.5-0.6: not counted
        _result(_cell(drifting), _row(rollback_rate=0.30)),  # drift past 30 %: not counted
        _result(_cell(REFERENCE, Change("errors", X2)), _row(detection=0.98), wald=4.0),
        _result(_cell(REFERENCE, Change("errors", ERROR_RATIOS[0], LATE)), _row(detection=0.96)),
        _result(_cell(REFERENCE, Change("errors", X2, AFTER)), _row(detection=0.1)),  # not counted
        _result(_cell(REFERENCE, Change("latency", LATENCY_RATIOS[1])), _row(detection=1.0)),
    ]
    by_key = {g.key: g for g in goals(results)}
    frr = by_key["false_rollbacks"]
    assert (frr.cells, frr.passed, frr.value, frr.met) == (1, 0, 0.02, False)
    assert frr.worst == [(results[0].cell.name, 0.02)]
    strong = by_key["detection_2x"]
    assert (strong.cells, strong.passed, strong.value) == (2, 1, 0.98)  # x2-5 and p99 x2-3, onset 0
    assert strong.misses_within_a_period == {}  # no figure given for the failing cell
    mild = by_key["detection_mild"]
    assert (mild.cells, mild.passed, mild.met) == (1, 1, True)
    wald = by_key["wald"]
    assert (wald.cells, wald.value, wald.met) == (1, 2.5, False)  # 10 failed against a limit of 4
    share = by_key["best_peer_share"]
    assert (share.cells, share.passed, share.met) == (4, 4, True)  # ours 10 against the best peer's 20
    assert by_key["best_peer_median"].value == 0.5 and by_key["best_peer_median"].met
    promote = by_key["promotion_time"]
    assert (promote.cells, promote.value, promote.met) == (1, 500, False)


def test_a_detection_goal_says_how_many_of_a_cells_misses_came_within_a_period_of_onset() -> None:
    late = _cell(REFERENCE, Change("errors", X2, LATE))
    ours = _row(detection=0.96, promoted_within_a_period_of_onset=0.03)
    strong = {g.key: g for g in goals([_result(late, ours)])}["detection_2x"]
    assert strong.worst == [(late.name, 0.96)]
    assert strong.misses_within_a_period == {late.name: pytest.approx(0.75)}  # 3 of the 4 points missed
    assert "75% of its misses promoted < 1 period after the onset" in table(
        [_result(late, ours)], [strong], 9, "x"
    )


def test_a_peer_over_one_percent_on_the_scored_twin_is_not_the_best_peer() -> None:
    cell = _cell(REFERENCE, Change("errors", X2))
    result = _result(cell, _row(failed_requests_mean=10.0), peer_failed=5.0)
    result.policies["recipe"].twin_false_rollback_rate = 0.02  # the cheapest peer, but over 1 %
    name, best = result.best_peer()
    assert name == "codedeploy_canary" and best.failed_requests_mean == 6.0
    assert result.best_peer(eligible_only=False)[0] == "recipe"
    assert peer_ratio(result) == pytest.approx(10 / 6)
    for row in result.policies.values():
        row.twin_false_rollback_rate = 0.05
    assert result.best_peer() is None and peer_ratio(result) is None


def test_the_continuity_tables_goals_count_as_one() -> None:
    goal = continuity_goal(
        [
            {"goal": "a", "value": 1.0, "target": 2.0, "op": "<=", "unit": "count", "met": True},
            {"goal": "b", "value": 13.0, "target": 12.5, "op": "<=", "unit": "count", "met": False},
            {"goal": "c", "value": 0.9835, "target": 0.99, "op": ">=", "unit": "share", "met": False},
        ]
    )
    assert (goal.cells, goal.passed, goal.met) == (3, 1, False)
    # each miss in its own unit, against its own bound: not a count of requests printed as a percentage
    assert goal.worst == [
        ("b: 13.0 against <= 12.5", pytest.approx(1.04)),
        ("c: 98.35% against >= 99.00%", pytest.approx(0.9934, abs=1e-4)),
    ]
    lines = table([], [goal], runs=1, split="evaluation").splitlines()
    assert "           1.04x  b: 13.0 against <= 12.5" in lines


# -- python -m bench -----------------------------------------------------------------------------------------


def test_only_family_adds_the_family_to_judge_json_and_keeps_its_keys(tmp_path, capsys) -> None:
    out = tmp_path / "judge.json"
    out.write_text(json.dumps({"scenarios": ["kept"], "goals": []}))
    pattern = r"^x5-50 onset:0 \| 0.2-1% 50-150rps steady od:none drift:0"
    args = ["--only", "family", "--runs", "30", "--cells", pattern, "--split", "tuning", "--out", str(out)]
    assert bench_main.main(args) == 0
    document = json.loads(out.read_text())
    assert document["scenarios"] == ["kept"]
    family_doc = document["family"]
    assert family_doc["split"] == "tuning" and family_doc["undecided_counts_as_rollback"] is True
    assert [c["kind"] for c in family_doc["cells"]] == ["identical", "errors"]
    assert {g["key"] for g in family_doc["summary"]["goals"]} >= {
        "false_rollbacks",
        "wald",
        "best_peer_share",
    }
    printed = capsys.readouterr().out
    assert "counts as rolled back" in printed and "Family goals (tuning split)" in printed


def test_a_bad_cells_pattern_is_a_one_line_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_main.main(["--only", "family", "--cells", "no such cell"])
    assert exit_.value.code == 2
    assert "matches no cell" in capsys.readouterr().err


def test_list_cells_names_the_held_out_cells(capsys) -> None:
    assert bench_main.main(["--list-cells"]) == 0
    printed = capsys.readouterr().out
    assert "evaluation only (held out)" in printed and "identical | 0.2-1% 50-150rps steady" in printed
