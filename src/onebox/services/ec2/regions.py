"""EC2 DescribeRegions and DescribeAvailabilityZones: the regions onebox answers for, three zones each."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.config import REGIONS
from onebox.store.filters import Filters

api = ServiceApi("ec2")

ZONE_LETTERS = ("a", "b", "c")
# AWS zone ids use a short region code ("use1-az1"); these are the codes of the regions we list.
_REGION_CODES = {
    "us-east-1": "use1",
    "us-east-2": "use2",
    "us-west-1": "usw1",
    "us-west-2": "usw2",
    "eu-west-1": "euw1",
    "eu-central-1": "euc1",
    "ap-southeast-1": "apse1",
    "ap-northeast-1": "apne1",
}


def region_view(region: str) -> dict[str, str]:
    return {
        "RegionName": region,
        "Endpoint": f"ec2.{region}.amazonaws.com",
        "OptInStatus": "opt-in-not-required",
    }


def zones(region: str) -> list[dict[str, object]]:
    if region not in REGIONS:
        return []
    return [
        {
            "ZoneName": f"{region}{letter}",
            "ZoneId": f"{_REGION_CODES[region]}-az{index + 1}",
            "State": "available",
            "OptInStatus": "opt-in-not-required",
            "Messages": [],
            "RegionName": region,
            "GroupName": region,
            "NetworkBorderGroup": region,
            "ZoneType": "availability-zone",
            "GroupLongName": region,
        }
        for index, letter in enumerate(ZONE_LETTERS)
    ]


REGION_FILTERS = ("endpoint", "region-name", "opt-in-status")
ZONE_FILTERS = (
    "group-name",
    "message",
    "opt-in-status",
    "region-name",
    "state",
    "zone-id",
    "zone-name",
    "zone-type",
    "group-long-name",
    "network-border-group",
)


@api.operation("DescribeRegions")
def describe_regions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    filters = Filters.parse(params.get("Filters"), REGION_FILTERS, allow_tags=False)
    names = params.get("RegionNames") or list(REGIONS)
    for name in names:
        if name not in REGIONS:
            raise AwsError("InvalidParameterValue", f"Invalid region: {name}")
    views = [region_view(name) for name in names]
    selected = filters.select(
        views,
        lambda v: {
            "endpoint": v["Endpoint"],
            "region-name": v["RegionName"],
            "opt-in-status": v["OptInStatus"],
        },
        lambda v: {},
    )
    return {"Regions": selected}


@api.operation("DescribeAvailabilityZones")
def describe_availability_zones(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    filters = Filters.parse(params.get("Filters"), ZONE_FILTERS, allow_tags=False)
    available = zones(ctx.region)
    by_name = {zone["ZoneName"]: zone for zone in available}
    by_id = {zone["ZoneId"]: zone for zone in available}
    selected = available
    if params.get("ZoneNames") or params.get("ZoneIds"):
        selected = []
        for name in params.get("ZoneNames") or []:
            if name not in by_name:
                raise AwsError("InvalidParameterValue", f"The zone '{name}' does not exist.")
            selected.append(by_name[name])
        for zone_id in params.get("ZoneIds") or []:
            if zone_id not in by_id:
                raise AwsError("InvalidParameterValue", f"The zone id '{zone_id}' does not exist.")
            selected.append(by_id[zone_id])
    selected = filters.select(selected, _zone_filter_view, lambda z: {})
    return {"AvailabilityZones": selected}


def _zone_filter_view(zone: dict[str, Any]) -> dict[str, Any]:
    return {
        "group-name": zone["GroupName"],
        "opt-in-status": zone["OptInStatus"],
        "region-name": zone["RegionName"],
        "state": zone["State"],
        "zone-id": zone["ZoneId"],
        "zone-name": zone["ZoneName"],
        "zone-type": zone["ZoneType"],
        "group-long-name": zone["GroupLongName"],
        "network-border-group": zone["NetworkBorderGroup"],
        "message": [],
    }
