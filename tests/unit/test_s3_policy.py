"""Bucket policy validation and evaluation."""

from __future__ import annotations

import json

import pytest

from onebox.aws.errors import AwsError
from onebox.services.s3.policy import ALLOW, DENY, Request, evaluate, is_public, parse_policy


def _policy(*statements: dict) -> dict:
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), "bkt")


def _request(
    action: str = "s3:GetObject", key: str | None = "a/b", account: str | None = None, **context
) -> Request:
    resource = "arn:aws:s3:::bkt" if key is None else f"arn:aws:s3:::bkt/{key}"
    return Request(action, resource, account, {k.lower(): v for k, v in context.items()})


PUBLIC_READ = {
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::bkt/*",
}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", "Policies must be valid JSON and the first byte must be '{'"),
        ("{bad", "Policies must be valid JSON and the first byte must be '{'"),
        ('{"Statement": []}', "Missing required field Statement"),
        (
            json.dumps({"Statement": [{**PUBLIC_READ, "Resource": "arn:aws:s3:::other/*"}]}),
            "Policy has invalid resource",
        ),
        (
            json.dumps({"Statement": [{**PUBLIC_READ, "Action": "ec2:RunInstances"}]}),
            "Policy has invalid action",
        ),
        (
            json.dumps({"Statement": [{k: v for k, v in PUBLIC_READ.items() if k != "Principal"}]}),
            "Missing required field Principal",
        ),
        (
            json.dumps({"Statement": [{**PUBLIC_READ, "Condition": {"Bogus": {"a": "b"}}}]}),
            "Invalid Condition type : Bogus",
        ),
    ],
)
def test_malformed_policies_are_refused(text: str, message: str) -> None:
    with pytest.raises(AwsError) as error:
        parse_policy(text, "bkt")
    assert (error.value.code, error.value.message, error.value.status) == ("MalformedPolicy", message, 400)


def test_wildcards_in_actions_and_resources() -> None:
    policy = _policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:Get*", "Resource": "arn:aws:s3:::bkt/a/?"}
    )
    assert evaluate(policy, _request("s3:GetObject", "a/b")) == ALLOW
    assert evaluate(policy, _request("S3:GETOBJECTVERSION", "a/c")) == ALLOW  # actions ignore case
    assert evaluate(policy, _request("s3:GetObject", "a/bc")) is None
    assert evaluate(policy, _request("s3:PutObject", "a/b")) is None


def test_deny_wins_over_allow() -> None:
    policy = _policy(
        PUBLIC_READ,
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::bkt/secret/*"},
    )
    assert evaluate(policy, _request(key="public")) == ALLOW
    assert evaluate(policy, _request(key="secret/x")) == DENY


def test_principals_accounts_and_arns() -> None:
    policy = _policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["111111111111", "arn:aws:iam::222222222222:root"]},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::bkt/*",
        }
    )
    assert evaluate(policy, _request(account="111111111111")) == ALLOW
    assert evaluate(policy, _request(account="222222222222")) == ALLOW
    assert evaluate(policy, _request(account="333333333333")) is None
    assert evaluate(policy, _request(account=None)) is None


def test_conditions() -> None:
    ip = _policy(
        {**PUBLIC_READ, "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "127.0.0.1/32"]}}}
    )
    assert evaluate(ip, _request(**{"aws:SourceIp": "127.0.0.1"})) == ALLOW
    assert evaluate(ip, _request(**{"aws:SourceIp": "192.0.2.1"})) is None
    tls = _policy({**PUBLIC_READ, "Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    assert evaluate(tls, _request(**{"aws:SecureTransport": "false"})) == DENY
    assert evaluate(tls, _request(**{"aws:SecureTransport": "true"})) is None
    vpce = _policy({**PUBLIC_READ, "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}})
    assert evaluate(vpce, _request()) is None  # no VPC endpoint: the key is absent
    assert evaluate(vpce, _request(**{"aws:SourceVpce": "vpce-1"})) == ALLOW
    not_vpce = _policy(
        {**PUBLIC_READ, "Effect": "Deny", "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}}
    )
    assert evaluate(not_vpce, _request()) == DENY  # negated operators hold for an absent key
    if_exists = _policy(
        {**PUBLIC_READ, "Condition": {"StringLikeIfExists": {"aws:Referer": "https://site/*"}}}
    )
    assert evaluate(if_exists, _request()) == ALLOW
    assert evaluate(if_exists, _request(**{"aws:Referer": "https://evil/"})) is None


def test_public_means_wildcard_principal_without_restricting_condition() -> None:
    assert is_public(_policy(PUBLIC_READ))
    assert not is_public(_policy({**PUBLIC_READ, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}))
    assert not is_public(_policy({**PUBLIC_READ, "Principal": {"AWS": "111111111111"}}))
    assert not is_public(_policy({**PUBLIC_READ, "Effect": "Deny"}))
