"""EC2-style filters."""

from __future__ import annotations

from typing import Any

import pytest

from onebox.aws.errors import AwsError
from onebox.store.filters import Filters, FilterValue

ALLOWED = {"vpc-id", "state", "cidr-block", "is-default", "owner-id", "group-id"}

VPC_VIEW: dict[str, FilterValue] = {
    "vpc-id": "vpc-0123",
    "state": "available",
    "cidr-block": "10.0.0.0/16",
    "is-default": False,
    "owner-id": 123456789012,
    "group-id": ["sg-1", "sg-2"],
}
TAGS = {"Env": "prod-eu", "Name": "web*1", "Team": ""}


def matches(
    filters: list[dict[str, Any]], view: dict[str, FilterValue] = VPC_VIEW, tags: dict[str, str] = TAGS
) -> bool:
    return Filters.parse(filters, ALLOWED).matches(view, tags)


def test_no_filters_match_everything() -> None:
    assert matches([])
    assert Filters.parse(None, ALLOWED).matches({}, {})
    assert not Filters.parse(None, ALLOWED)


def test_exact_and_or_across_values_and_across_filters() -> None:
    assert matches([{"Name": "state", "Values": ["available"]}])
    assert matches([{"Name": "state", "Values": ["pending", "available"]}])
    assert not matches([{"Name": "state", "Values": ["pending"]}])
    assert matches([{"Name": "state", "Values": ["available"]}, {"Name": "vpc-id", "Values": ["vpc-0123"]}])
    assert not matches([{"Name": "state", "Values": ["available"]}, {"Name": "vpc-id", "Values": ["vpc-9"]}])


def test_wildcards_are_case_sensitive() -> None:
    assert matches([{"Name": "vpc-id", "Values": ["vpc-*"]}])
    assert matches([{"Name": "vpc-id", "Values": ["vpc-012?"]}])
    assert not matches([{"Name": "vpc-id", "Values": ["vpc-01?"]}])
    assert matches([{"Name": "cidr-block", "Values": ["10.0.*"]}])  # '.' is literal, not regex
    assert not matches([{"Name": "cidr-block", "Values": ["10x0.*"]}])
    assert not matches([{"Name": "state", "Values": ["AVAILABLE"]}])
    assert not matches([{"Name": "state", "Values": ["Avail*"]}])
    assert matches([{"Name": "state", "Values": ["*"]}])


def test_backslash_escapes_wildcards() -> None:
    assert matches([{"Name": "tag:Name", "Values": ["web\\*1"]}])
    assert not matches([{"Name": "tag:Name", "Values": ["web\\*2"]}])
    assert not matches([{"Name": "tag:Name", "Values": ["we\\?*"]}])


def test_booleans_numbers_and_lists() -> None:
    assert matches([{"Name": "is-default", "Values": ["false"]}])
    assert not matches([{"Name": "is-default", "Values": ["true"]}])
    assert matches([{"Name": "owner-id", "Values": ["123456789012"]}])
    assert matches([{"Name": "group-id", "Values": ["sg-2"]}])
    assert not matches([{"Name": "group-id", "Values": ["sg-3"]}])


def test_tag_filters() -> None:
    assert matches([{"Name": "tag:Env", "Values": ["prod*"]}])
    assert not matches([{"Name": "tag:Env", "Values": ["dev*"]}])
    assert not matches([{"Name": "tag:env", "Values": ["prod*"]}])  # keys are case-sensitive
    assert not matches([{"Name": "tag:Missing", "Values": ["*"]}])
    assert matches([{"Name": "tag:Team", "Values": [""]}])
    assert matches([{"Name": "tag-key", "Values": ["Te*"]}])
    assert not matches([{"Name": "tag-key", "Values": ["Owner"]}])
    assert matches([{"Name": "tag-value", "Values": ["prod-eu"]}])
    assert not matches([{"Name": "tag-value", "Values": ["prod"]}])
    assert not matches([{"Name": "tag:Env", "Values": ["prod*"]}], tags={})


def test_filter_without_values_means_has_a_value() -> None:
    assert matches([{"Name": "vpc-id"}])
    assert matches([{"Name": "tag:Env", "Values": []}])
    assert not matches([{"Name": "tag:Missing"}])
    assert not matches([{"Name": "state"}], view={"vpc-id": "x", "state": None})


def test_unknown_filter_is_invalid_parameter_value() -> None:
    with pytest.raises(AwsError) as caught:
        Filters.parse([{"Name": "x", "Values": ["1"]}], ALLOWED)
    assert caught.value.code == "InvalidParameterValue"
    assert caught.value.message == "The filter 'x' is invalid"
    with pytest.raises(AwsError, match="The filter 'null' is invalid"):
        Filters.parse([{"Values": ["1"]}], ALLOWED)
    with pytest.raises(AwsError) as caught:
        Filters.parse([{"Name": "tag:Env", "Values": ["1"]}], ALLOWED, allow_tags=False, code="InvalidFilter")
    assert caught.value.code == "InvalidFilter"
    with pytest.raises(AwsError):
        Filters.parse([{"Name": "tag:", "Values": ["1"]}], ALLOWED)


def test_select_keeps_order() -> None:
    items = [("vpc-1", "prod"), ("vpc-2", "dev"), ("vpc-3", "prod")]
    filters = Filters.parse([{"Name": "tag:Env", "Values": ["prod"]}], ALLOWED)
    picked = filters.select(items, view=lambda item: {"vpc-id": item[0]}, tags=lambda item: {"Env": item[1]})
    assert [item[0] for item in picked] == ["vpc-1", "vpc-3"]
