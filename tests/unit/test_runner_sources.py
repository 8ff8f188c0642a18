"""`shift` with a user's gates and with a metrics source that checks itself, against fakes (no AWS)."""

from __future__ import annotations

from pathlib import Path

from rollout_world import World
from rollout_world import adaptive_run as _adaptive

from controller.aws.stage import METRICS_SOURCE_VARIABLE
from controller.domain import Outcome
from controller.measurement import LAMBDA_PER_SLOT
from controller.user_gates import load_gates

CHECKOUT = Path(__file__).resolve().parents[2] / "examples" / "gates" / "checkout.yaml"
CHECKOUT_KEY = ("Shop", "CheckoutFailures", (("Slot", "green"),), "Sum")


def checkout_failures(per_canary_request: float):
    """Shop/CheckoutFailures for the green slot: published only while the canary serves traffic."""

    def value(t: float, percent: float) -> float | None:
        return round(1000 * percent / 100 * per_canary_request) if percent else None

    return value


def gates(path: Path = CHECKOUT, shadow: bool = False):
    (gate,) = load_gates(str(path)).gates
    if shadow:
        from dataclasses import replace

        gate = replace(gate, shadow=True)
    return (gate,)


def test_the_checkout_gate_rolls_back_a_release_the_built_in_gates_pass(world: World) -> None:
    world.traffic.extra[CHECKOUT_KEY] = checkout_failures(0.01)
    assert world.run(user_gates=gates()) is Outcome.ROLLED_BACK
    (failed,) = world.of("gate_failed")
    assert failed["gate"] == "checkout-failures" and "> max 0" in failed["reason"]
    assert world.production().variable("slot") == "blue"
    # Every built-in gate passed on the same ticks: only the user's metric saw the regression.
    last = world.of("tick")[-1]
    assert {g["gate"] for g in last["gates"] if g["status"] == "FAIL"} == {"checkout-failures"}


def test_without_checkout_failures_the_same_gate_lets_the_release_through(world: World) -> None:
    assert world.run(user_gates=gates()) is Outcome.PROMOTED
    started = world.of("run_started")[0]
    assert any(line.startswith("checkout-failures: Shop/CheckoutFailures") for line in started["gates"])


def test_a_breaching_shadow_gate_is_reported_on_every_tick_and_does_not_roll_back(world: World) -> None:
    world.traffic.extra[CHECKOUT_KEY] = checkout_failures(0.01)
    assert world.run(user_gates=gates(shadow=True)) is Outcome.PROMOTED
    shadowed = [g for t in world.of("tick") for g in t["gates"] if g["gate"] == "checkout-failures"]
    assert shadowed and all(g["shadow"] for g in shadowed)
    assert any(g["status"] == "FAIL" for g in shadowed)
    assert not world.of("gate_failed")


def test_a_gate_alarm_in_alarm_rolls_back(world: World) -> None:
    world.alarms.names = (*world.alarms.names, "payments-errors")
    world.alarms.state["payments-errors"] = "OK"
    world.alarms.schedule.append((world.clock() + 200, "payments-errors", "ALARM"))
    assert world.run(gate_alarms=("payments-errors",)) is Outcome.ROLLED_BACK
    assert world.of("gate_failed")[0]["gate"] == "alarms"


def run_without_the_canary_dimension(world: World) -> Outcome:
    world.traffic.canary_dimension = False
    world.traffic.staging_requests_per_period = 40  # staging's smoke traffic also reaches the candidate
    seen_variable: list[str | None] = []
    world.clock.on_sleep = lambda _: seen_variable.append(
        world.production().variable(METRICS_SOURCE_VARIABLE)
    )
    outcome = _adaptive(world)
    world.seen_variable = seen_variable  # type: ignore[attr-defined]
    return outcome


def test_without_the_canary_dimension_the_per_slot_lambda_metrics_promote_a_healthy_release(
    world: World,
) -> None:
    assert run_without_the_canary_dimension(world) is Outcome.PROMOTED
    (chosen,) = world.of("metrics_source")
    assert chosen["source"] == LAMBDA_PER_SLOT and "no requests" in chosen["reason"]
    # The stage says which source decides while the rollout runs (status reads it), and not after.
    assert LAMBDA_PER_SLOT in world.seen_variable  # type: ignore[attr-defined]
    assert world.production().variable(METRICS_SOURCE_VARIABLE) is None
    # The judge saw the canary's own requests, staging's subtracted.
    assert world.of("tick")[-1]["canary"]["requests"] > 0


def test_without_the_canary_dimension_a_faulty_release_is_rolled_back(world: World) -> None:
    world.traffic.candidate_error_rate = 0.2
    assert run_without_the_canary_dimension(world) is Outcome.ROLLED_BACK
    assert world.of("metrics_source")[0]["source"] == LAMBDA_PER_SLOT
    assert world.of("gate_failed")[0]["gate"] == "judge"


def test_with_the_canary_dimension_api_gateway_decides_and_says_so(world: World) -> None:
    assert _adaptive(world) is Outcome.PROMOTED
    (chosen,) = world.of("metrics_source")
    assert chosen["source"] == "apigateway_canary"
