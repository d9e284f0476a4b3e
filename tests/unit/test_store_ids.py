"""AWS-format ids, request ids and ARNs."""

from __future__ import annotations

import re
import uuid

import pytest

from onebox.store.ids import Arn, arn, new_id, new_key_pair_id, new_request_id, parse_arn, random_hex


def test_new_id_is_prefix_and_17_lowercase_hex() -> None:
    ids = {new_id("vpc") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"vpc-[0-9a-f]{17}", i) for i in ids)


def test_key_pair_ids_and_custom_lengths() -> None:
    assert re.fullmatch(r"key-[0-9a-f]{17}", new_key_pair_id())
    assert re.fullmatch(r"sg-[0-9a-f]{8}", new_id("sg", 8))
    assert re.fullmatch(r"[0-9a-f]{16}", random_hex(16))
    assert len(random_hex(1)) == 1


def test_request_id_is_uuid4() -> None:
    value = new_request_id()
    assert uuid.UUID(value).version == 4
    assert str(uuid.UUID(value)) == value


def test_arn_builds_and_parses() -> None:
    text = arn("ec2", "us-east-1", "123456789012", "vpc/vpc-0123")
    assert text == "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0123"
    assert arn("s3", "", "", "my-bucket") == "arn:aws:s3:::my-bucket"
    assert arn("iam", "", "1", "role/x", partition="aws-cn") == "arn:aws-cn:iam::1:role/x"
    parsed = parse_arn("arn:aws:logs:us-east-1:123456789012:log-group:/app:*")
    assert parsed == Arn("aws", "logs", "us-east-1", "123456789012", "log-group:/app:*")
    assert str(parsed) == "arn:aws:logs:us-east-1:123456789012:log-group:/app:*"


@pytest.mark.parametrize("bad", ["", "arn:aws:ec2", "nope:aws:ec2:r:a:x", "arn::ec2:r:a:x"])
def test_parse_arn_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_arn(bad)
