"""Which records Route 53 would answer a query with, given the health checks: a stand-in for DNS resolution.

The local cloud runs no name server. `GET /_localcloud/route53/answer?zone_id=Z..&name=api.example.test
&type=A&client_region=eu-west-1` applies Route 53's documented choice to the zone's records and the local
health checks, and returns every record of the group with the probability that a query gets it.

Follows "How Amazon Route 53 chooses records when health checking is configured"
(https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-how-route-53-chooses-records.html):
- a record without a health check is always healthy; with one, it is as healthy as its health check;
- Route 53 chooses by the routing policy among healthy records; if no record of the group is healthy, it
  treats them all as healthy;
- weighted: healthy records with a non-zero weight, in proportion to their weights; zero-weight records only
  when every non-zero record is unhealthy (then with equal probability);
- latency: the healthy record whose region has the lowest latency to the client; failover: PRIMARY while
  healthy, else SECONDARY.

Local stand-ins: the client's region is given (`client_region`) instead of measured, and latency ranks regions
coarsely: the client's own region, then regions of the same area (the `us`, `eu`, `ap`... prefix), then the
rest, ties by name. Evaluate-target-health on an alias to an AWS resource (an API Gateway domain name) counts
as healthy: the local cloud has no view of an AWS endpoint's health beyond the health checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from moto.route53 import models as r53_models


class AnswerError(ValueError):
    """A query the caller got wrong: unknown zone, no such records."""


@dataclass(frozen=True)
class Candidate:
    set_identifier: str | None
    policy: str  # simple | weighted | latency | failover
    target: str  # alias DNS name or the first value
    healthy: bool
    weight: int | None = None
    region: str | None = None
    failover: str | None = None  # PRIMARY | SECONDARY


@dataclass(frozen=True)
class Answer:
    candidates: tuple[tuple[Candidate, float], ...]  # each record and the probability a query gets it
    rule: str

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "records": [
                {
                    "set_identifier": c.set_identifier,
                    "policy": c.policy,
                    "target": c.target,
                    "healthy": c.healthy,
                    "weight": c.weight,
                    "region": c.region,
                    "failover": c.failover,
                    "probability": round(p, 6),
                }
                for c, p in self.candidates
            ],
        }


def _area(region: str) -> str:
    return region.split("-", 1)[0]


def _latency_rank(client_region: str, region: str | None) -> tuple[int, str]:
    region = region or ""
    if region == client_region:
        return (0, region)
    return (1 if _area(region) == _area(client_region) else 2, region)


def choose(candidates: list[Candidate], client_region: str) -> Answer:
    """Route 53's choice among one group of records (same name and type)."""
    if not candidates:
        raise AnswerError("no records of that name and type")
    pool = [i for i, c in enumerate(candidates) if c.healthy]
    rule = "among the healthy records"
    if not pool:
        pool = list(range(len(candidates)))
        rule = "no record is healthy, so all are treated as healthy"
    policy = candidates[0].policy
    share: dict[int, float]
    if policy == "weighted":
        nonzero = [i for i in pool if (candidates[i].weight or 0) > 0]
        if nonzero:
            total = float(sum(candidates[i].weight or 0 for i in nonzero))
            share = {i: (candidates[i].weight or 0) / total for i in nonzero}
            rule += ", in proportion to their weights"
        else:
            share = {i: 1.0 / len(pool) for i in pool}
            rule += "; all of weight 0, so in equal shares"
    elif policy == "latency":
        best = min(pool, key=lambda i: _latency_rank(client_region, candidates[i].region))
        share = {best: 1.0}
        rule += f", the one with the lowest latency from {client_region}"
    elif policy == "failover":
        primary = [i for i in pool if candidates[i].failover == "PRIMARY"]
        share = {(primary or pool)[0]: 1.0}
        rule += ", PRIMARY first"
    else:
        share = {pool[0]: 1.0}
    return Answer(tuple((c, share.get(i, 0.0)) for i, c in enumerate(candidates)), rule)


def candidates_of(zone: Any, name: str, type_: str, healthy: Callable[[str], bool]) -> list[Candidate]:
    """The zone's records of one name and type, with their health from the health checks."""
    wanted = name.rstrip(".").lower()
    out = []
    for record in zone.rrsets:
        if record.name.rstrip(".").lower() != wanted or record.type != type_:
            continue
        if record.weight is not None:
            policy = "weighted"
        elif record.region:
            policy = "latency"
        elif record.failover:
            policy = "failover"
        else:
            policy = "simple"
        alias = record.alias_target or {}
        values = record.records or []
        out.append(
            Candidate(
                set_identifier=record.set_identifier,
                policy=policy,
                target=str(alias.get("DNSName") or (values[0] if values else "")).rstrip("."),
                healthy=healthy(record.health_check_id) if record.health_check_id else True,
                weight=int(record.weight) if record.weight is not None else None,
                region=record.region,
                failover=record.failover,
            )
        )
    return out


def answer_query(params: Mapping[str, str], account: str, healthy: Callable[[Any], bool]) -> dict[str, Any]:
    """The /_localcloud/route53/answer document; healthy(check) is the monitor's verdict on a health check."""
    zone_id, name = params.get("zone_id"), params.get("name")
    type_, client_region = params.get("type", "A"), params.get("client_region", "us-east-1")
    if not zone_id or not name:
        raise AnswerError("pass zone_id and name (and type, default A; client_region, default us-east-1)")
    backend = dict.get(dict.get(r53_models.route53_backends, account, {}), "aws")
    zone = backend.zones.get(zone_id.replace("/hostedzone/", "")) if backend is not None else None
    if zone is None:
        raise AnswerError(f"no hosted zone {zone_id}")

    def record_healthy(check_id: str) -> bool:
        check = backend.health_checks.get(check_id)
        return True if check is None else healthy(check)

    chosen = choose(candidates_of(zone, name, type_, record_healthy), client_region)
    return {"name": name.rstrip("."), "type": type_, "client_region": client_region, **chosen.to_json()}
