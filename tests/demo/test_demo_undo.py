"""The demo's undo measurement against a loopback stand-in for production: when the former release answers
again, which requests failed meanwhile, and what counts as a clean undo."""

from __future__ import annotations

from controller import event_types as ev  # noqa: F401 - first: it registers lifecycle_events' events
from controller import lifecycle_events as lev
from demo.traffic import TrafficGenerator
from demo.undo import undo_under_traffic

UNDONE = lev.Undone(
    at=1.0, live_slot="blue", undone_slot="green", deployment_id="d1", reason="r", seconds=0.05
)


def measured(production, switch_to: str | None, status: int = 200, **kwargs):
    production.serve("green v2.0.0")
    with TrafficGenerator(production.url + "/hello", rate_per_s=40, workers=4) as traffic:
        while not traffic.snapshot().requests:
            pass

        def run_undo():
            if switch_to:
                production.serve(switch_to, status)
            return [UNDONE]

        return undo_under_traffic(traffic, run_undo, "blue v1.0.0", "green v2.0.0", settle_s=0.6, **kwargs)


def test_a_clean_undo_is_the_former_release_answering_at_once_and_alone_with_nothing_failed(production):
    undo = measured(production, "blue v1.0.0")
    assert undo.as_expected and undo.answered_s is not None and undo.answered_s < 1.0
    assert undo.idle_slot == "green" and undo.update_s == 0.05
    assert set(undo.settled) == {"blue v1.0.0"} and undo.failed_requests == 0
    assert "0 failed of" in undo.line()


def test_errors_while_the_stage_switches_make_the_undo_not_as_expected(production):
    undo = measured(production, "blue v1.0.0", status=503)
    assert undo.failed_requests > 0 and not undo.as_expected


def test_a_former_release_that_never_answers_is_reported_not_waited_for_forever(production):
    undo = measured(production, None, limit_s=0.5)
    assert undo.answered_s is None and not undo.as_expected
    assert undo.decision == "not undone" and "did not answer within 1 s" in undo.line()
