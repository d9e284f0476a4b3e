"""Bucket policies: validation on Put, and evaluation of a request against them.

The IAM evaluation subset S3 bucket policies need: Allow/Deny, Principal/NotPrincipal ("*",
account ids, account and user ARNs, canonical users), Action/NotAction and Resource/NotResource
with `*`/`?` wildcards, and conditions (String*, Arn*, IpAddress, Bool, Numeric*, Null, the
...IfExists and ForAnyValue:/ForAllValues: forms) over the request's context keys
(aws:SourceIp, aws:SourceVpce, aws:SecureTransport, aws:PrincipalAccount, s3:prefix, ...).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from onebox.aws.errors import AwsError

ALLOW = "Allow"
DENY = "Deny"

# Condition keys that restrict a wildcard principal enough that AWS does not call the policy public.
_RESTRICTING_KEYS = frozenset(
    {
        "aws:sourceip",
        "aws:sourcevpce",
        "aws:sourcevpc",
        "aws:sourcearn",
        "aws:sourceaccount",
        "aws:sourceowner",
        "aws:principalaccount",
        "aws:principalorgid",
        "aws:principalarn",
        "aws:userid",
        "s3:dataaccesspointaccount",
    }
)


@dataclass
class Request:
    """What a policy is evaluated against."""

    action: str  # "s3:GetObject"
    resource: str  # "arn:aws:s3:::bucket/key" or "arn:aws:s3:::bucket"
    account: str | None  # the caller's account; None when anonymous
    context: dict[str, Any] = field(default_factory=dict)  # lower-cased condition keys


def malformed(message: str) -> AwsError:
    return AwsError("MalformedPolicy", message, 400)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def parse_policy(text: str, bucket: str) -> dict[str, Any]:
    """The policy document, or MalformedPolicy with S3's messages for what it refuses."""
    if not text.lstrip().startswith("{"):
        raise malformed("Policies must be valid JSON and the first byte must be '{'")
    try:
        document = json.loads(text)
    except ValueError:
        raise malformed("Policies must be valid JSON and the first byte must be '{'") from None
    if not isinstance(document, dict):
        raise malformed("Policies must be valid JSON and the first byte must be '{'")
    version = document.get("Version")
    if version is not None and version not in ("2012-10-17", "2008-10-17"):
        raise malformed("Policy has an invalid version")
    statements = document.get("Statement")
    if not statements:
        raise malformed("Missing required field Statement")
    for statement in _as_list(statements):
        if not isinstance(statement, dict):
            raise malformed("Statement is not well-formed")
        if statement.get("Effect") not in (ALLOW, DENY):
            raise malformed("Invalid effect: " + str(statement.get("Effect")))
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise malformed("Missing required field Principal")
        if "Action" not in statement and "NotAction" not in statement:
            raise malformed("Missing required field Action")
        for action in _as_list(statement.get("Action", statement.get("NotAction"))):
            if not isinstance(action, str) or not (action == "*" or action.lower().startswith("s3:")):
                raise malformed("Policy has invalid action")
        resources = statement.get("Resource", statement.get("NotResource"))
        if resources is None:
            raise malformed("Missing required field Resource")
        for resource in _as_list(resources):
            if not isinstance(resource, str) or not _resource_in_bucket(resource, bucket):
                raise malformed("Policy has invalid resource")
        _check_principal(statement.get("Principal", statement.get("NotPrincipal")))
        condition = statement.get("Condition", {})
        if not isinstance(condition, dict) or any(not isinstance(v, dict) for v in condition.values()):
            raise malformed("Conditions must be a map of operators to maps of keys and values")
        for operator in condition:
            if _operator(operator) is None:
                raise malformed(f"Invalid Condition type : {operator}")
    return document


def _resource_in_bucket(resource: str, bucket: str) -> bool:
    if resource == "*":
        return True
    if not resource.startswith("arn:aws:s3:::"):
        return False
    name = resource[len("arn:aws:s3:::") :].split("/", 1)[0]
    return fnmatch.fnmatchcase(bucket, name.replace("[", "[[]"))


def _check_principal(principal: Any) -> None:
    if principal == "*":
        return
    if not isinstance(principal, dict) or not principal:
        raise malformed("Invalid principal in policy")
    for kind, values in principal.items():
        if kind not in ("AWS", "CanonicalUser", "Service", "Federated"):
            raise malformed("Invalid principal in policy")
        for value in _as_list(values):
            if kind == "AWS" and not (
                value == "*" or re.fullmatch(r"\d{12}", str(value)) or str(value).startswith("arn:aws:")
            ):
                raise malformed("Invalid principal in policy")


def is_public(document: dict[str, Any]) -> bool:
    """AWS's test: some Allow statement grants a wildcard principal without a restricting condition."""
    for statement in _as_list(document.get("Statement", [])):
        if statement.get("Effect") != ALLOW:
            continue
        principal = statement.get("Principal")
        wildcard = principal == "*" or (
            isinstance(principal, dict) and "*" in _as_list(principal.get("AWS", []))
        )
        if "NotPrincipal" in statement:
            wildcard = True
        if not wildcard:
            continue
        keys = {key.lower() for values in statement.get("Condition", {}).values() for key in values}
        if not keys & _RESTRICTING_KEYS:
            return True
    return False


def evaluate(document: dict[str, Any] | None, request: Request) -> str | None:
    """ "Deny" if a Deny statement matches, else "Allow" if an Allow does, else None (no opinion)."""
    if document is None:
        return None
    allowed = False
    for statement in _as_list(document.get("Statement", [])):
        if not _matches(statement, request):
            continue
        if statement["Effect"] == DENY:
            return DENY
        allowed = True
    return ALLOW if allowed else None


def _matches(statement: dict[str, Any], request: Request) -> bool:
    if "Principal" in statement:
        if not _principal_matches(statement["Principal"], request):
            return False
    elif _principal_matches(statement["NotPrincipal"], request):
        return False
    if "Action" in statement:
        if not any(
            _wild(pattern.lower(), request.action.lower()) for pattern in _as_list(statement["Action"])
        ):
            return False
    elif any(_wild(pattern.lower(), request.action.lower()) for pattern in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement:
        if not any(_wild(pattern, request.resource) for pattern in _as_list(statement["Resource"])):
            return False
    elif any(_wild(pattern, request.resource) for pattern in _as_list(statement["NotResource"])):
        return False
    return _conditions_hold(statement.get("Condition", {}), request.context)


def _principal_matches(principal: Any, request: Request) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _as_list(principal.get("AWS", [])):
        value = str(value)
        if value == "*":
            return True
        if request.account is None:
            continue
        if value == request.account:
            return True
        match = re.match(r"^arn:aws:(?:iam|sts)::(\d{12}):", value)
        if match and match.group(1) == request.account:
            return True
    if request.account is not None:
        from onebox.services.s3.common import canonical_user_id

        canonical = canonical_user_id(request.account)
        if canonical in [str(v) for v in _as_list(principal.get("CanonicalUser", []))]:
            return True
    return False


@lru_cache(maxsize=4096)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL
    )


def _wild(pattern: str, value: str) -> bool:
    return _pattern(pattern).fullmatch(value) is not None


def _operator(name: str) -> tuple[str, bool, str | None] | None:
    """(base operator, if-exists, set qualifier) for a condition operator name; None if unknown."""
    qualifier = None
    for prefix in ("ForAnyValue:", "ForAllValues:"):
        if name.startswith(prefix):
            qualifier, name = prefix[:-1], name[len(prefix) :]
    if_exists = name.endswith("IfExists")
    base = name[: -len("IfExists")] if if_exists else name
    if base not in _OPERATORS:
        return None
    return base, if_exists, qualifier


def _conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, Any]) -> bool:
    for operator_name, tests in conditions.items():
        parsed = _operator(operator_name)
        if parsed is None:
            return False
        base, if_exists, qualifier = parsed
        for key, expected in tests.items():
            actual = context.get(key.lower())
            expected_values = [str(v) for v in _as_list(expected)]
            if base == "Null":
                wants_null = expected_values[0].lower() == "true"
                if (actual is None) != wants_null:
                    return False
                continue
            if actual is None:
                if (
                    if_exists
                    or base.startswith(("StringNot", "ArnNot", "NotIp"))
                    or qualifier == "ForAllValues"
                ):
                    continue
                return False
            actual_values = [str(v) for v in _as_list(actual)]
            test = _OPERATORS[base]
            if qualifier == "ForAllValues":
                ok = all(test(a, expected_values) for a in actual_values)
            elif base.startswith(("StringNot", "ArnNot", "NotIp", "NumericNot")):
                ok = all(test(a, expected_values) for a in actual_values)
            else:
                ok = any(test(a, expected_values) for a in actual_values)
            if not ok:
                return False
    return True


def _ip_in(actual: str, networks: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(actual)
    except ValueError:
        return False
    for network in networks:
        try:
            if address in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(compare: Any) -> Any:
    def test(actual: str, expected: list[str]) -> bool:
        a = _number(actual)
        return a is not None and any((e := _number(x)) is not None and compare(a, e) for x in expected)

    return test


_OPERATORS: dict[str, Any] = {
    "StringEquals": lambda a, e: a in e,
    "StringNotEquals": lambda a, e: a not in e,
    "StringEqualsIgnoreCase": lambda a, e: a.lower() in [x.lower() for x in e],
    "StringNotEqualsIgnoreCase": lambda a, e: a.lower() not in [x.lower() for x in e],
    "StringLike": lambda a, e: any(_wild(x, a) for x in e),
    "StringNotLike": lambda a, e: not any(_wild(x, a) for x in e),
    "ArnEquals": lambda a, e: a in e,
    "ArnNotEquals": lambda a, e: a not in e,
    "ArnLike": lambda a, e: any(_wild(x, a) for x in e),
    "ArnNotLike": lambda a, e: not any(_wild(x, a) for x in e),
    "IpAddress": _ip_in,
    "NotIpAddress": lambda a, e: not _ip_in(a, e),
    "Bool": lambda a, e: a.lower() in [x.lower() for x in e],
    "NumericEquals": _numeric(lambda a, b: a == b),
    "NumericNotEquals": lambda a, e: not _numeric(lambda x, y: x == y)(a, e),
    "NumericLessThan": _numeric(lambda a, b: a < b),
    "NumericLessThanEquals": _numeric(lambda a, b: a <= b),
    "NumericGreaterThan": _numeric(lambda a, b: a > b),
    "NumericGreaterThanEquals": _numeric(lambda a, b: a >= b),
    "Null": lambda a, e: True,
}
