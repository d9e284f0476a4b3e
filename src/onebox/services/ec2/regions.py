"""EC2's regions and availability zones as onebox presents them."""

from __future__ import annotations

from onebox.config import REGIONS

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
