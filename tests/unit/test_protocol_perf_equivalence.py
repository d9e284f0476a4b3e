"""The fast paths of the JSON/CBOR decoders and of validation give the results the plain paths give.

Decoders skip the call for values that pass as they are (strings, booleans, doubles), decode awsJson
into the parsed containers themselves, and validation tests passing scalars inline and adds missing
members only when a required one is absent. Each test here takes an input onto the fallback path
(special doubles, nulls, unknown members, bad items, values just past a bound) and checks the exact
result or message the plain paths produced before these shortcuts existed.
"""

from __future__ import annotations

import json
import math
from typing import Any

import cbor2
import pytest

from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.aws.protocols import get_protocol
from onebox.aws.specs import service_model
from onebox.aws.validate import validate_input

WIRES = ("json", "smithy-rpc-v2-cbor")


def parse(wire: str, service: str, operation: str, value: dict[str, Any]) -> dict[str, Any]:
    op = service_model(service).operation_model(operation)
    body = json.dumps(value).encode() if wire == "json" else cbor2.dumps(value)
    return get_protocol(wire).parse(op, HttpRequest("POST", "/", body=body))


def parse_error(wire: str, service: str, operation: str, value: dict[str, Any]) -> AwsError:
    with pytest.raises(AwsError) as raised:
        parse(wire, service, operation, value)
    return raised.value


def rejected(service: str, operation: str, params: dict[str, Any]) -> AwsError:
    with pytest.raises(AwsError) as raised:
        validate_input(service, service_model(service).operation_model(operation), params)
    return raised.value


def metric(**members: Any) -> dict[str, Any]:
    return {"Namespace": "n", "MetricData": [{"MetricName": "m", **members}]}


# --- decoding ------------------------------------------------------------------------------------


def test_json_special_doubles_in_a_list_of_doubles() -> None:
    values = parse(
        "json", "cloudwatch", "PutMetricData", metric(Values=["NaN", "Infinity", "-Infinity", 1, 2.5])
    )
    decoded = values["MetricData"][0]["Values"]
    assert math.isnan(decoded[0]) and decoded[1:] == [math.inf, -math.inf, 1.0, 2.5]
    assert all(type(item) is float for item in decoded)


@pytest.mark.parametrize("wire", WIRES)
def test_bad_item_in_a_list_of_doubles_names_its_index(wire: str) -> None:
    error = parse_error(wire, "cloudwatch", "PutMetricData", metric(Values=[1.0, 2.0, "x"]))
    assert (error.code, error.message) == (
        "SerializationException",
        "expected a number, got a string at MetricData[0].Values[2]",
    )


@pytest.mark.parametrize("wire", WIRES)
def test_nulls_and_unknown_members_are_dropped(wire: str) -> None:
    value = {
        "Namespace": "n",
        "MetricData": [
            None,
            {"MetricName": "m", "Values": [1.0, None, 3.0], "Counts": [1, None], "Unit": None},
            {"MetricName": "k", "Dimensions": [None, {"Name": "a", "Value": "b", "Extra": 1}], "Extra": [1]},
        ],
    }
    assert parse(wire, "cloudwatch", "PutMetricData", value) == {
        "Namespace": "n",
        "MetricData": [
            {"MetricName": "m", "Values": [1.0, 3.0], "Counts": [1.0]},
            {"MetricName": "k", "Dimensions": [{"Name": "a", "Value": "b"}]},
        ],
    }


@pytest.mark.parametrize("wire", WIRES)
def test_member_order_is_kept(wire: str) -> None:
    datum = {"Value": 1.0, "Unit": "Count", "MetricName": "m", "Timestamp": 0}
    parsed = parse(wire, "cloudwatch", "PutMetricData", {"MetricData": [datum], "Namespace": "n"})
    assert list(parsed) == ["MetricData", "Namespace"]
    assert list(parsed["MetricData"][0]) == ["Value", "Unit", "MetricName", "Timestamp"]


@pytest.mark.parametrize("wire", WIRES)
def test_string_maps(wire: str) -> None:
    tags = parse(wire, "logs", "TagLogGroup", {"logGroupName": "g", "tags": {"a": "1", "b": None}})["tags"]
    assert tags == {"a": "1"}
    error = parse_error(wire, "logs", "TagLogGroup", {"logGroupName": "g", "tags": {"a": "1", "b": 2}})
    assert error.message == "expected a string, got a number at tags['b']"


@pytest.mark.parametrize("wire", WIRES)
def test_string_lists(wire: str) -> None:
    value = {"logGroupName": "g", "logStreamNames": ["a", "b", None, "c"]}
    assert parse(wire, "logs", "FilterLogEvents", value)["logStreamNames"] == ["a", "b", "c"]
    error = parse_error(wire, "logs", "FilterLogEvents", {"logGroupName": "g", "logStreamNames": ["a", 5]})
    assert error.message == "expected a string, got a number at logStreamNames[1]"


@pytest.mark.parametrize("wire", WIRES)
def test_integer_out_of_range_in_a_list_of_structures(wire: str) -> None:
    events = [None, {"timestamp": 1, "message": "m"}, {"timestamp": 2**70, "message": "m"}]
    error = parse_error(
        wire, "logs", "PutLogEvents", {"logGroupName": "g", "logStreamName": "s", "logEvents": events}
    )
    assert (error.code, error.message) == (
        "InvalidParameterException",
        f"{2**70} is outside the range of a 64-bit integer at logEvents[2].timestamp",
    )


# --- validation ----------------------------------------------------------------------------------


def test_missing_members_come_before_other_problems_whatever_the_member_order() -> None:
    params = {"logEvents": [{"message": ""}], "logGroupName": None, "logStreamName": "s"}
    assert rejected("logs", "PutLogEvents", params).message == (
        "3 validation errors detected: "
        "Value null at 'logGroupName' failed to satisfy constraint: Member must not be null; "
        "Value null at 'logEvents.1.member.timestamp' failed to satisfy constraint: Member must not be null; "
        "Value '' at 'logEvents.1.member.message' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_values_at_their_bounds_pass_and_one_past_fails() -> None:
    operation = service_model("logs").operation_model("DescribeLogGroups")
    validate_input("logs", operation, {"limit": 50, "logGroupNamePrefix": "a" * 512})
    validate_input("logs", operation, {"limit": 1, "logGroupNamePrefix": "a"})
    assert rejected("logs", "DescribeLogGroups", {"limit": 51, "logGroupNamePrefix": "a" * 513}).message == (
        "2 validation errors detected: "
        "Value '51' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50; "
        f"Value '{'a' * 513}' at 'logGroupNamePrefix' failed to satisfy constraint: "
        "Member must have length less than or equal to 512"
    )


def test_cloudwatch_problems_nested_in_lists() -> None:
    params = {
        "MetricData": [
            {"MetricName": "m" * 255, "Dimensions": [{"Value": "v" * 1024, "Name": None}], "Value": True}
        ],
        "Namespace": "n",
    }
    assert rejected("cloudwatch", "PutMetricData", params).message == (
        "2 validation errors detected: "
        "Value null at 'metricData.1.member.dimensions.1.member.name' failed to satisfy constraint: "
        "Member must not be null; "
        "Value 'true' at 'metricData.1.member.value' failed to satisfy constraint: Member must be of type Double"
    )
    params = metric(
        MetricName="m" * 256,
        Dimensions=[{"Name": "d", "Value": "v" * 1025}],
        StorageResolution=0,
        Values=[1, float("nan"), "x"],
    )
    assert rejected("cloudwatch", "PutMetricData", params).message == (
        "4 validation errors detected: "
        f"Value '{'m' * 256}' at 'metricData.1.member.metricName' failed to satisfy constraint: "
        "Member must have length less than or equal to 255; "
        f"Value '{'v' * 1025}' at 'metricData.1.member.dimensions.1.member.value' failed to satisfy constraint: "
        "Member must have length less than or equal to 1024; "
        "Value '0' at 'metricData.1.member.storageResolution' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1; "
        "Value 'x' at 'metricData.1.member.values.3.member' failed to satisfy constraint: "
        "Member must be of type Double"
    )


def test_folded_list_items() -> None:
    params = {"logGroupName": "g", "logStreamNames": ["a", "", "b" * 513]}
    assert rejected("logs", "FilterLogEvents", params).message == (
        "1 validation error detected: "
        f"Value '[a, , {'b' * 513}]' at 'logStreamNames' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must have length greater than or equal to 1, "
        "Member must have length less than or equal to 512]"
    )


def test_boolean_is_no_integer() -> None:
    params = {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s", "DurationSeconds": True}
    assert rejected("sts", "AssumeRole", params).message == (
        "2 validation errors detected: "
        "Value 's' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2; "
        "Value 'true' at 'durationSeconds' failed to satisfy constraint: Member must be of type Integer"
    )
