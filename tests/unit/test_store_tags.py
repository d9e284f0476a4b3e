"""Tag helpers and AWS's tag limits."""

from __future__ import annotations

import pytest

from onebox.aws.errors import AwsError
from onebox.store.tags import EC2_TAG_RULES, TagRules, apply_tags, remove_tags, tags_from_list, tags_to_list


def test_apply_adds_and_overwrites_in_order() -> None:
    current = {"b": "1", "a": "2"}
    result = apply_tags(current, {"a": "3", "c": "4"})
    assert list(result.items()) == [("b", "1"), ("a", "3"), ("c", "4")]
    assert current == {"b": "1", "a": "2"}  # input untouched


def test_list_conversions() -> None:
    tags = tags_from_list([{"Key": "Name", "Value": "web"}, {"Key": "Empty"}])
    assert tags == {"Name": "web", "Empty": ""}
    assert tags_to_list(tags) == [{"Key": "Name", "Value": "web"}, {"Key": "Empty", "Value": ""}]
    assert tags_from_list(None) == {}
    assert tags_to_list({"k": "v"}, key_field="TagKey", value_field="TagValue") == [
        {"TagKey": "k", "TagValue": "v"}
    ]


def test_fifty_tags_allowed_fifty_one_rejected_with_limit_code() -> None:
    fifty = {f"k{i}": "v" for i in range(50)}
    assert len(apply_tags({}, fifty)) == 50
    with pytest.raises(AwsError) as caught:
        apply_tags(fifty, {"one-more": "v"}, EC2_TAG_RULES)
    assert caught.value.code == "TagLimitExceeded"
    with pytest.raises(AwsError) as caught:
        apply_tags(fifty, {"one-more": "v"})
    assert caught.value.code == "InvalidParameterValue"
    # Overwriting an existing key does not count as a new tag.
    assert len(apply_tags(fifty, {"k0": "new"})) == 50


def test_key_and_value_lengths() -> None:
    assert apply_tags({}, {"k" * 128: "v" * 256})
    with pytest.raises(AwsError, match="128"):
        apply_tags({}, {"k" * 129: "v"})
    with pytest.raises(AwsError, match="256"):
        apply_tags({}, {"k": "v" * 257})
    with pytest.raises(AwsError):
        apply_tags({}, {"": "v"})
    # Lengths are in characters, not bytes.
    assert apply_tags({}, {"ü" * 128: "é" * 256})


def test_aws_prefix_is_reserved_in_any_case() -> None:
    for key in ["aws:foo", "AWS:foo", "Aws:cloudformation:stack-name"]:
        with pytest.raises(AwsError) as caught:
            apply_tags({}, {key: "v"}, TagRules(code="ValidationError"))
        assert caught.value.code == "ValidationError"
    assert apply_tags({}, {"aws:cloudformation:stack-name": "s"}, system=True) == {
        "aws:cloudformation:stack-name": "s"
    }
    assert apply_tags({}, {"awsfoo": "v", "my:aws:x": "v"})


def test_system_tags_do_not_count_towards_the_limit() -> None:
    current = {"aws:cloudformation:stack-name": "s", **{f"k{i}": "v" for i in range(49)}}
    assert len(apply_tags(current, {"k49": "v"})) == 51


def test_violation_changes_nothing() -> None:
    current = {"a": "1"}
    with pytest.raises(AwsError):
        apply_tags(current, {"b": "2", "k" * 200: "v"})
    assert current == {"a": "1"}


def test_remove_tags_with_ec2_value_semantics() -> None:
    current = {"a": "1", "b": "2", "c": "3"}
    assert remove_tags(current, [("a", None)]) == {"b": "2", "c": "3"}
    assert remove_tags(current, [("b", "wrong")]) == current  # value must match when given
    assert remove_tags(current, [("b", "2"), ("missing", None)]) == {"a": "1", "c": "3"}
    with pytest.raises(AwsError):
        remove_tags({"aws:x": "1"}, [("aws:x", None)])
    assert remove_tags({"aws:x": "1"}, [("aws:x", None)], system=True) == {}
