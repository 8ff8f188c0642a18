"""Route 53 record sets of a routing group: each record is its name, type and SetIdentifier.

Page followed:
RRSET https://docs.aws.amazon.com/Route53/latest/APIReference/API_ResourceRecordSet.html (SetIdentifier
      "differentiates among multiple resource record sets that have the same combination of name and type")
"""

from __future__ import annotations

import uuid


def _change(action: str, name: str, type_: str, value: str, set_identifier: str, weight: int) -> dict:
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": name,
            "Type": type_,
            "SetIdentifier": set_identifier,
            "Weight": weight,
            "TTL": 60,
            "ResourceRecords": [{"Value": value}],
        },
    }


def test_deleting_one_weighted_record_keeps_the_other_type_with_the_same_set_identifier(aws_client):
    route53 = aws_client("route53")
    zone_name = f"z{uuid.uuid4().hex[:8]}.test"
    zone_id = route53.create_hosted_zone(Name=zone_name, CallerReference=uuid.uuid4().hex)["HostedZone"]["Id"]
    name = f"api.{zone_name}"
    a = _change("CREATE", name, "A", "192.0.2.1", "us-east-1", 10)
    aaaa = _change("CREATE", name, "AAAA", "2001:db8::1", "us-east-1", 10)
    other = _change("CREATE", name, "A", "192.0.2.2", "eu-west-1", 10)
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [a, aaaa, other]})
    route53.change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": [{**a, "Action": "DELETE"}]}
    )
    left = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    kept = sorted((r["Type"], r["SetIdentifier"]) for r in left if r["Type"] in ("A", "AAAA"))
    # RRSET: name + type + SetIdentifier is one record; the AAAA and the other region's A stay.
    assert kept == [("A", "eu-west-1"), ("AAAA", "us-east-1")]
