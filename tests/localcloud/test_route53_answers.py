"""Which record Route 53 answers with, by routing policy and health (pure).

Page followed:
CHOOSE https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-how-route-53-chooses-records.html
       (records without a health check are healthy; if no record is healthy, all are treated as healthy;
       zero-weight records only when every non-zero record is unhealthy)
"""

from __future__ import annotations

import urllib.error

import pytest

from localcloud.route53_answers import AnswerError, Candidate, choose


def latency(region: str, healthy: bool = True) -> Candidate:
    return Candidate(region, "latency", f"d-{region}.example", healthy, region=region)


def weighted(name: str, weight: int, healthy: bool = True) -> Candidate:
    return Candidate(name, "weighted", f"d-{name}.example", healthy, weight=weight)


def shares(answer) -> dict[str, float]:
    return {c.set_identifier: p for c, p in answer.candidates}


def test_latency_answers_the_clients_own_region_while_it_is_healthy():
    group = [latency("us-east-1"), latency("eu-west-1")]
    assert shares(choose(group, "eu-west-1")) == {"us-east-1": 0.0, "eu-west-1": 1.0}
    assert shares(choose(group, "us-west-2")) == {"us-east-1": 1.0, "eu-west-1": 0.0}  # same area first


def test_latency_fails_over_to_the_next_closest_healthy_region():
    group = [latency("us-east-1"), latency("eu-west-1", healthy=False)]
    assert shares(choose(group, "eu-west-1")) == {"us-east-1": 1.0, "eu-west-1": 0.0}


def test_when_no_record_is_healthy_all_are_treated_as_healthy():
    # CHOOSE: "Route 53 considers all the records in the group to be healthy".
    group = [latency("us-east-1", healthy=False), latency("eu-west-1", healthy=False)]
    answer = choose(group, "eu-west-1")
    assert shares(answer) == {"us-east-1": 0.0, "eu-west-1": 1.0}
    assert "treated as healthy" in answer.rule


def test_weighted_shares_follow_the_weights_of_the_healthy_records():
    group = [weighted("a", 90), weighted("b", 10)]
    assert shares(choose(group, "us-east-1")) == {"a": 0.9, "b": 0.1}
    group = [weighted("a", 90, healthy=False), weighted("b", 10)]
    assert shares(choose(group, "us-east-1")) == {"a": 0.0, "b": 1.0}


def test_zero_weight_records_answer_only_when_every_other_record_is_unhealthy():
    group = [weighted("a", 50), weighted("standby", 0)]
    assert shares(choose(group, "us-east-1")) == {"a": 1.0, "standby": 0.0}
    group = [weighted("a", 50, healthy=False), weighted("standby", 0)]
    assert shares(choose(group, "us-east-1")) == {"a": 0.0, "standby": 1.0}


def test_failover_answers_primary_while_it_is_healthy():
    primary = Candidate("p", "failover", "p.example", True, failover="PRIMARY")
    secondary = Candidate("s", "failover", "s.example", True, failover="SECONDARY")
    assert shares(choose([secondary, primary], "us-east-1")) == {"s": 0.0, "p": 1.0}
    down = Candidate("p", "failover", "p.example", False, failover="PRIMARY")
    assert shares(choose([secondary, down], "us-east-1")) == {"s": 1.0, "p": 0.0}


def test_an_empty_group_is_an_error():
    with pytest.raises(AnswerError):
        choose([], "us-east-1")


def test_the_answer_endpoint_names_what_is_missing(localcloud):
    with pytest.raises(urllib.error.HTTPError) as err:
        localcloud.admin("GET", "route53/answer?zone_id=ZNOSUCHZONE&name=api.example.test")
    assert err.value.code == 400
    assert "no hosted zone ZNOSUCHZONE" in err.value.read().decode()
