"""Route 53 record changes: deleting one record of a routing group deletes that record only.

A record of a weighted, latency or failover group is identified by its name, type and SetIdentifier
(https://docs.aws.amazon.com/Route53/latest/APIReference/API_ResourceRecordSet.html). moto 5.2.5 deletes every
record that has the SetIdentifier, whatever its name and type: removing a region's AAAA record (say,
create_ipv6_record = false) also removed its A record, and Terraform saw it vanish on the next plan. The
records moto would take with it are put back after the change batch.
"""

from __future__ import annotations

from typing import Any

from moto.route53 import models as r53_models

_original: dict[str, Any] = {}


def _key(name: str, type_: Any, set_identifier: Any) -> tuple[str, str, str]:
    return (str(name).rstrip(".").lower(), str(type_), str(set_identifier))


def change_resource_record_sets(self: Any, zoneid: str, change_list: list[dict[str, Any]]) -> None:
    zone = self.get_hosted_zone(zoneid)
    deleted = {
        _key(
            c["ResourceRecordSet"]["Name"],
            c["ResourceRecordSet"].get("Type"),
            c["ResourceRecordSet"]["SetIdentifier"],
        )
        for c in change_list
        if c.get("Action") == "DELETE" and c["ResourceRecordSet"].get("SetIdentifier") is not None
    }
    identifiers = {key[2] for key in deleted}
    bystanders = [
        r
        for r in zone.rrsets
        if r.set_identifier is not None
        and str(r.set_identifier) in identifiers
        and _key(r.name, r.type, r.set_identifier) not in deleted
    ]
    _original["change_resource_record_sets"](self, zoneid, change_list)
    remaining = {_key(r.name, r.type, r.set_identifier) for r in zone.rrsets}
    for record in bystanders:
        if _key(record.name, record.type, record.set_identifier) not in remaining:
            zone.rrsets.append(record)


def install() -> None:
    backend = r53_models.Route53Backend
    if "change_resource_record_sets" not in _original:
        _original["change_resource_record_sets"] = backend.change_resource_record_sets
    backend.change_resource_record_sets = change_resource_record_sets
