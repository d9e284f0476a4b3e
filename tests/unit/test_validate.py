"""Model-driven input validation: every operation accepts valid input; crafted bad input fails AWS-style."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from re import _constants as sre  # the parsed-pattern opcodes, to build strings a pattern matches
from re import _parser as sre_parse
from typing import Any

import pytest
from botocore.model import OperationModel, Shape

from onebox.aws.errors import AwsError
from onebox.aws.specs import SERVED_SERVICES, operation_model, service_model
from onebox.aws.validate import _PLANS, validate_input
from tests.shapegen import generate

# --- making shapegen's values satisfy patterns too ----------------------------------------------
# shapegen honours lengths, ranges, enums and unions but not regular expressions, which the
# Coral services enforce; `conform` rewrites only the strings a pattern rejects.


def _pick_from_class(items: list[tuple[Any, Any]]) -> str:
    negated = any(op is sre.NEGATE for op, _ in items)
    allowed: list[str] = []
    for op, value in items:
        if op is sre.LITERAL:
            allowed.append(chr(value))
        elif op is sre.RANGE:
            low, high = value
            preferred = [c for c in "a0A" if low <= ord(c) <= high]
            allowed.append(preferred[0] if preferred else chr(low))
        elif op is sre.CATEGORY:
            allowed.append({sre.CATEGORY_DIGIT: "0", sre.CATEGORY_SPACE: " "}.get(value, "a"))
    if negated:
        return next(c for c in "aZ0-_x" if c not in allowed)
    letters = [c for c in allowed if c.isalnum()]
    return (letters or allowed or ["a"])[0]


def _emit(parsed: Any, extra: int, branch: int) -> str:
    out: list[str] = []
    for op, value in parsed:
        if op is sre.LITERAL:
            out.append(chr(value))
        elif op is sre.NOT_LITERAL:
            out.append("a" if value != ord("a") else "b")
        elif op is sre.ANY:
            out.append("a")
        elif op is sre.IN:
            out.append(_pick_from_class(value))
        elif op is sre.BRANCH:
            options = value[1]
            out.append(_emit(options[min(branch, len(options) - 1)], extra, branch))
        elif op is sre.SUBPATTERN:
            out.append(_emit(value[3], extra, branch))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            low, high, sub = value
            count = low + extra if high is sre.MAXREPEAT else min(high, low + extra)
            out.append("".join(_emit(sub, extra, branch) for _ in range(max(count, low))))
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            out.append(_emit(value, extra, branch))
        # AT (anchors), ASSERT and ASSERT_NOT emit nothing; the fullmatch below checks the result.
    return "".join(out)


def _matching_string(pattern: str, low: int, high: int) -> str | None:
    compiled = re.compile(pattern)
    parsed = sre_parse.parse(pattern)
    for branch in range(4):
        for extra in range(0, max(high, 1) + 1):
            candidate = _emit(parsed, extra, branch)
            if low <= len(candidate) <= high and compiled.fullmatch(candidate):
                return candidate
            if len(candidate) > high:
                break
    return None


def conform(shape: Shape, value: Any, patterns: bool) -> Any:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {name: conform(shape.members[name], item, patterns) for name, item in value.items()}
    if kind == "list" and isinstance(value, list):
        return [conform(shape.member, item, patterns) for item in value]
    if kind == "map" and isinstance(value, dict):
        result = {
            conform(shape.key, key, patterns): conform(shape.value, item, patterns)
            for key, item in value.items()
        }
        # shapegen's keys can collide once truncated to the key's max length; top the map up.
        index = 0
        while len(result) < shape.metadata.get("min", 0):
            key = conform(shape.key, f"k{index}".ljust(shape.key.metadata.get("min", 1), "k"), patterns)
            result.setdefault(key, next(iter(result.values())) if result else generate(shape.value))
            index += 1
        return result
    pattern = shape.metadata.get("pattern")
    if patterns and kind == "string" and isinstance(value, str) and pattern and not shape.enum:
        compiled = _compile(pattern)
        if compiled is not None and not compiled.fullmatch(value):
            low, high = int(shape.metadata.get("min", 0)), int(shape.metadata.get("max", 64))
            found = _matching_string(pattern, low, high)
            assert found is not None, f"no string for {pattern!r}"
            return found
    return value


def _compile(pattern: str) -> re.Pattern[str] | None:
    if "\\p{" in pattern:
        return None  # validate.py skips these too: Python's re has no \p{...}
    try:
        return re.compile(pattern)
    except re.error:
        return None


def valid_input(service: str, operation: OperationModel, all_members: bool) -> dict[str, Any]:
    shape = operation.input_shape
    # Only the Coral-validated services enforce patterns (see onebox.aws.validate).
    patterns = service not in ("ec2", "rds", "elasticache", "s3")
    return conform(shape, generate(shape, all_members=all_members), patterns)


def all_operations() -> list[tuple[str, str]]:
    return [(service, name) for service in SERVED_SERVICES for name in service_model(service).operation_names]


# --- every operation of every served service accepts valid input ------------------------------------


@pytest.mark.parametrize("service", SERVED_SERVICES)
def test_generated_inputs_pass_for_every_operation(service: str) -> None:
    model = service_model(service)
    checked = 0
    for name in model.operation_names:
        operation = model.operation_model(name)
        if operation.input_shape is None:
            validate_input(service, operation, {})
            continue
        for all_members in (True, False):
            params = valid_input(service, operation, all_members)
            try:
                validate_input(service, operation, params)
            except AwsError as error:  # pragma: no cover - the message is the diagnosis
                pytest.fail(f"{service} {name} (all_members={all_members}): {error.code}: {error.message}")
            checked += 1
    assert checked >= len(model.operation_names)


def test_every_served_operation_is_covered() -> None:
    assert len(all_operations()) > 1800


def test_plans_are_cached() -> None:
    operation = operation_model("sts", "AssumeRole")
    params = {"RoleArn": "arn:aws:iam::000000000000:role/r", "RoleSessionName": "s1"}
    validate_input("sts", operation, params)
    plan = _PLANS[("sts", "AssumeRole")]
    validate_input("sts", operation, params)
    assert _PLANS[("sts", "AssumeRole")] is plan


# --- crafted invalid inputs, per service --------------------------------------------------------


def rejected(service: str, operation: str, params: dict[str, Any]) -> AwsError:
    with pytest.raises(AwsError) as caught:
        validate_input(service, operation_model(service, operation), params)
    return caught.value


ROLE = "arn:aws:iam::000000000000:role/r"


def test_sts_range() -> None:
    error = rejected("sts", "AssumeRole", {"RoleArn": ROLE, "RoleSessionName": "s1", "DurationSeconds": 100})
    assert (error.code, error.status) == ("ValidationError", 400)
    assert error.message == (
        "1 validation error detected: Value '100' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900"
    )


def test_sts_missing_members_are_all_reported() -> None:
    error = rejected("sts", "AssumeRole", {})
    assert error.code == "ValidationError"
    assert error.message == (
        "2 validation errors detected: "
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null; "
        "Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"
    )


def test_sts_length_and_pattern_together() -> None:
    error = rejected("sts", "AssumeRole", {"RoleArn": ROLE, "RoleSessionName": "a b" + "x" * 70})
    assert error.message.startswith("2 validation errors detected: ")
    assert "Member must have length less than or equal to 64" in error.message
    assert "Member must satisfy regular expression pattern: [\\w+=,.@-]*" in error.message


def test_elbv2_enum() -> None:
    error = rejected("elbv2", "CreateLoadBalancer", {"Name": "web", "Scheme": "public"})
    assert error.code == "ValidationError"
    assert error.message == (
        "1 validation error detected: Value 'public' at 'scheme' failed to satisfy constraint: "
        "Member must satisfy enum value set: [internet-facing, internal]"
    )


def test_elbv2_nested_list_member_path() -> None:
    params = {
        "LoadBalancerArn": "arn",
        "DefaultActions": [{"Type": "forward"}, {"Type": "redirect", "Order": 0}],
    }
    error = rejected("elbv2", "CreateListener", params)
    assert error.message == (
        "1 validation error detected: Value '0' at 'defaultActions.2.member.order' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1"
    )


def test_autoscaling_nested_structure_in_list() -> None:
    params = {
        "AutoScalingGroupName": "g",
        "MinSize": 0,
        "MaxSize": 1,
        "Tags": [{"Key": "k" * 129, "Value": "v"}],
    }
    error = rejected("autoscaling", "CreateAutoScalingGroup", params)
    assert error.code == "ValidationError"
    assert "Value '" + "k" * 129 + "' at 'tags.1.member.key' failed to satisfy constraint" in error.message


def test_logs_uses_invalid_parameter_exception() -> None:
    error = rejected("logs", "CreateLogGroup", {"logGroupName": ""})
    assert (error.code, error.status) == ("InvalidParameterException", 400)
    # Coral reports every violated constraint of a member, each as its own error.
    assert error.message == (
        "2 validation errors detected: Value '' at 'logGroupName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1; Value '' at 'logGroupName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
    )


def test_logs_list_of_scalars_folds_into_one_error() -> None:
    error = rejected("logs", "DescribeLogGroups", {"logGroupIdentifiers": ["ok", "x" * 2049]})
    assert error.message.startswith("1 validation error detected: Value '[ok, xxx")
    assert error.message.endswith(
        "' at 'logGroupIdentifiers' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must have length less than or equal to 2048]"
    )


def test_logs_map_values() -> None:
    error = rejected(
        "logs",
        "TagResource",
        {"resourceArn": "arn:aws:logs:us-east-1:0:log-group:g", "tags": {"k": "v" * 257}},
    )
    assert "at 'tags' failed to satisfy constraint: Map value must satisfy constraint: [" in error.message
    assert "Member must have length less than or equal to 256" in error.message


def test_logs_list_length() -> None:
    error = rejected("logs", "DescribeLogGroups", {"logGroupIdentifiers": [f"g{i}" for i in range(51)]})
    assert "Member must have length less than or equal to 50" in error.message


def test_json_type_errors_are_serialization_exceptions() -> None:
    error = rejected("logs", "CreateLogGroup", {"logGroupName": 5})
    assert (error.code, error.status, error.message) == (
        "SerializationException",
        400,
        "NUMBER_VALUE can not be converted to a String",
    )
    error = rejected("logs", "DescribeLogGroups", {"limit": "ten"})
    assert error.message == "STRING_VALUE can not be converted to an Integer"
    error = rejected("logs", "DescribeLogGroups", {"limit": True})
    assert error.message == "BOOLEAN_VALUE can not be converted to an Integer"
    error = rejected("logs", "CreateLogGroup", {"logGroupName": {"a": 1}})
    assert error.message == "Start of structure or map found where not expected."


def test_query_type_errors_use_the_validation_code() -> None:
    error = rejected("autoscaling", "DescribeAutoScalingGroups", {"MaxRecords": "ten"})
    assert error.code == "ValidationError"
    assert "at 'maxRecords' failed to satisfy constraint: Member must be of type Integer" in error.message


def test_acm_sensitive_value_is_not_echoed() -> None:
    error = rejected(
        "acm",
        "ExportCertificate",
        {"CertificateArn": "arn:aws:acm:us-east-1:0:certificate/x" * 1, "Passphrase": b"abc"},
    )
    assert error.code == "ValidationException"
    assert (
        "Value at 'passphrase' failed to satisfy constraint: Member must have length greater than or equal to 4"
        in error.message
    )


def test_acm_blob_is_rendered_like_coral() -> None:
    error = rejected("acm", "ImportCertificate", {"Certificate": b"", "PrivateKey": b"k" * 10})
    assert "Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'certificate'" in error.message


def test_union_needs_exactly_one_member() -> None:
    params = {"Filters": {"Name": "n"}}
    operation = (
        operation_model("acm", "SearchCertificates")
        if "SearchCertificates" in service_model("acm").operation_names
        else None
    )
    if operation is None:  # pragma: no cover - depends on the pinned model
        pytest.skip("no union input in this ACM model")
    union = _first_union(operation.input_shape)
    assert union is not None
    path, union_shape, holder = union
    names = list(union_shape.members)[:2]
    value = {
        names[0]: generate(union_shape.members[names[0]]),
        names[1]: generate(union_shape.members[names[1]]),
    }
    params = _place(generate(operation.input_shape, all_members=False), path, value)
    with pytest.raises(AwsError) as caught:
        validate_input("acm", operation, params)
    assert "Member must have exactly one member set, but 2 were set" in caught.value.message
    del holder


def _first_union(
    shape: Shape, path: tuple[str, ...] = (), depth: int = 0
) -> tuple[tuple[str, ...], Shape, Shape] | None:
    if depth > 4 or shape.type_name != "structure":
        return None
    for name, member in shape.members.items():
        if member.type_name == "structure" and member.metadata.get("union"):
            return (*path, name), member, shape
        if member.type_name == "structure":
            found = _first_union(member, (*path, name), depth + 1)
            if found:
                return found
    return None


def _place(params: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    target = params
    for name in path[:-1]:
        target = target.setdefault(name, {})
    target[path[-1]] = value
    return params


def test_cloudwatch_uses_validation_error() -> None:
    params = {
        "AlarmName": "a" * 256,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    error = rejected("cloudwatch", "PutMetricAlarm", params)
    assert error.code == "ValidationError"
    assert (
        "at 'alarmName' failed to satisfy constraint: Member must have length less than or equal to 255"
        in error.message
    )


def test_route53_invalid_input() -> None:
    error = rejected("route53", "GetHostedZone", {"Id": "Z" * 33})
    assert (error.code, error.status) == ("InvalidInput", 400)
    assert error.message == (
        "1 validation error detected: Value '" + "Z" * 33 + "' at 'id' failed to satisfy constraint: "
        "Member must have length less than or equal to 32"
    )


def test_sns_and_cloudfront_codes() -> None:
    assert rejected("sns", "Subscribe", {"TopicArn": "arn"}).code == "InvalidParameter"
    assert rejected("cloudfront", "GetDistribution", {}).code == "InvalidArgument"


def test_ec2_missing_parameter() -> None:
    error = rejected("ec2", "RunInstances", {"MaxCount": 1})
    assert (error.code, error.status, error.message) == (
        "MissingParameter",
        400,
        "The request must contain the parameter MinCount",
    )


def test_ec2_range() -> None:
    error = rejected("ec2", "DescribeVpcs", {"MaxResults": 1})
    assert (error.code, error.message) == (
        "InvalidParameterValue",
        "Value ( 1 ) for parameter maxResults is invalid. Expecting a value greater than 5.",
    )


def test_ec2_enum_and_wire_names() -> None:
    error = rejected("ec2", "RunInstances", {"MinCount": 1, "MaxCount": 1, "InstanceType": "t9.galactic"})
    assert error.code == "InvalidParameterValue"
    assert error.message.startswith("Value ( t9.galactic ) for parameter instanceType is invalid.")


def test_rds_and_elasticache_missing() -> None:
    error = rejected("rds", "CreateDBInstance", {"DBInstanceClass": "db.t3.micro", "Engine": "postgres"})
    assert (error.code, error.message) == (
        "InvalidParameterValue",
        "The parameter DBInstanceIdentifier must be provided and must not be blank.",
    )
    error = rejected("elasticache", "CreateCacheCluster", {})
    assert (error.code, error.message) == (
        "InvalidParameterValue",
        "The parameter CacheClusterId must be provided and must not be null.",
    )


def test_s3_body_and_header_problems() -> None:
    error = rejected("s3", "PutBucketTagging", {"Bucket": "b"})
    assert (error.code, error.message) == ("MissingRequestBodyError", "Request Body is empty")
    error = rejected("s3", "PutBucketTagging", {"Bucket": "b", "Tagging": {}})
    assert error.code == "MalformedXML"
    error = rejected(
        "s3", "PutBucketVersioning", {"Bucket": "b", "VersioningConfiguration": {"Status": "Maybe"}}
    )
    assert error.code == "MalformedXML"
    error = rejected("s3", "CopyObject", {"Bucket": "b", "Key": "k"})
    assert (error.code, error.message) == (
        "InvalidRequest",
        "Missing required header for this request: x-amz-copy-source",
    )


def test_s3_header_enums_are_left_to_the_handler() -> None:
    operation = operation_model("s3", "PutObject")
    validate_input("s3", operation, {"Bucket": "b", "Key": "k", "StorageClass": "ULTRA"})


def test_valid_values_of_every_type() -> None:
    params = {
        "logGroupName": "g",
        "logStreamName": "s",
        "logEvents": [{"timestamp": 1, "message": "m"}],
    }
    validate_input("logs", operation_model("logs", "PutLogEvents"), params)
    params_ts = {
        "Namespace": "n",
        "MetricName": "m",
        "StartTime": datetime(2026, 1, 1, tzinfo=UTC),
        "EndTime": datetime(2026, 1, 2, tzinfo=UTC),
        "Period": 60,
    }
    validate_input("cloudwatch", operation_model("cloudwatch", "GetMetricStatistics"), params_ts)
