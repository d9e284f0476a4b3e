"""Event notifications: the bucket's NotificationConfiguration and the S3 event messages sent to SNS.

Only SNS topic destinations exist in onebox (no SQS, Lambda or EventBridge); the other destination
kinds are refused when the configuration is put. Messages are published through
`onebox.services.sns.delivery.publish`, scheduled on the event loop after the write is durable so
the S3 request never waits for (or fails because of) a notification.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import threading
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.s3.buckets import update_bucket
from onebox.services.s3.common import bucket_for, canonical_user_id, versioning_state
from onebox.store import Record

if TYPE_CHECKING:
    from onebox.runtime import Runtime

log = logging.getLogger(__name__)

api = ServiceApi("s3")

SUBJECT = "Amazon S3 Notification"
SPEC_KEY = "Notification"  # the bucket spec member holding the stored TopicConfigurations

# Every event type AWS accepts in a notification configuration.
EVENT_TYPES = frozenset(
    {
        "s3:ReducedRedundancyLostObject",
        "s3:ObjectCreated:*",
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload",
        "s3:ObjectRemoved:*",
        "s3:ObjectRemoved:Delete",
        "s3:ObjectRemoved:DeleteMarkerCreated",
        "s3:ObjectRestore:*",
        "s3:ObjectRestore:Post",
        "s3:ObjectRestore:Completed",
        "s3:ObjectRestore:Delete",
        "s3:Replication:*",
        "s3:Replication:OperationFailedReplication",
        "s3:Replication:OperationNotTracked",
        "s3:Replication:OperationMissedThreshold",
        "s3:Replication:OperationReplicatedAfterThreshold",
        "s3:LifecycleTransition",
        "s3:IntelligentTiering",
        "s3:ObjectAcl:Put",
        "s3:LifecycleExpiration:*",
        "s3:LifecycleExpiration:Delete",
        "s3:LifecycleExpiration:DeleteMarkerCreated",
        "s3:ObjectTagging:*",
        "s3:ObjectTagging:Put",
        "s3:ObjectTagging:Delete",
    }
)

_UNABLE = "Unable to validate the following destination configurations"


def _unable(destination: str, reason: str) -> AwsError:
    # AWS names each failed destination and why in ArgumentName1/ArgumentValue1.
    return AwsError(
        "InvalidArgument", _UNABLE, 400, fields={"ArgumentName1": destination, "ArgumentValue1": reason}
    )


def _invalid(message: str, name: str, value: str) -> AwsError:
    return AwsError("InvalidArgument", message, 400, fields={"ArgumentName": name, "ArgumentValue": value})


# -- the configuration -----------------------------------------------------------------------------


@api.operation("PutBucketNotificationConfiguration")
def put_bucket_notification_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketNotification")
    configuration = params.get("NotificationConfiguration") or {}
    _refuse_other_destinations(configuration)
    topics = [normalized_topic_configuration(item) for item in configuration.get("TopicConfigurations") or []]
    check_overlaps(topics)
    skip_validation = bool(params.get("SkipDestinationValidation"))
    if not skip_validation:
        for topic in topics:
            _check_topic(ctx.runtime, bucket, topic["TopicArn"])
    update_bucket(ctx, bucket, **{SPEC_KEY: topics or None})
    if not skip_validation:
        # AWS validates each destination by sending it an s3:TestEvent.
        for topic_arn in dict.fromkeys(topic["TopicArn"] for topic in topics):
            _publish(ctx.runtime, topic_arn, json.dumps(test_event(ctx, bucket.id), separators=(",", ":")))
    return {}


@api.operation("GetBucketNotificationConfiguration")
def get_bucket_notification_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:GetBucketNotification")
    topics = bucket.spec.get(SPEC_KEY) or []
    return {"TopicConfigurations": topics} if topics else {}


def _refuse_other_destinations(configuration: dict[str, Any]) -> None:
    for member, service in (
        ("QueueConfigurations", "SQS"),
        ("LambdaFunctionConfigurations", "Lambda"),
    ):
        for item in configuration.get(member) or []:
            arn = item.get("QueueArn") or item.get("LambdaFunctionArn") or member
            raise _unable(arn, f"onebox has no {service}: only SNS topic destinations are supported")
    if configuration.get("EventBridgeConfiguration") is not None:
        raise _unable("EventBridge", "onebox has no EventBridge: only SNS topic destinations are supported")


def normalized_topic_configuration(item: dict[str, Any]) -> dict[str, Any]:
    """A TopicConfiguration as stored and returned: an Id (generated as AWS does when absent), the
    events checked, and filter rule names as AWS echoes them ("Prefix"/"Suffix")."""
    events = list(item.get("Events") or [])
    for event in events:
        if event not in EVENT_TYPES:
            raise _invalid("The event is not supported for notifications", "Event", event)
    if not events:
        raise AwsError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
            400,
        )
    stored: dict[str, Any] = {
        "Id": item.get("Id") or _generated_id(),
        "TopicArn": item["TopicArn"],
        "Events": events,
    }
    rules = ((item.get("Filter") or {}).get("Key") or {}).get("FilterRules")
    if rules is not None:
        stored["Filter"] = {"Key": {"FilterRules": _filter_rules(rules)}}
    return stored


def _generated_id() -> str:
    # AWS generates an id like "NjQ4YTY1NjQtOTQ4NS00ZjYxLWJlOWQtZjMxZGFiMjYwN2Qz" (base64 of a uuid).
    return base64.b64encode(str(uuid.uuid4()).encode()).decode().rstrip("=")


def _filter_rules(rules: list[dict[str, Any]]) -> list[dict[str, str]]:
    seen: set[str] = set()
    normalized: list[dict[str, str]] = []
    for rule in rules:
        name = str(rule.get("Name") or "").lower()
        if name not in ("prefix", "suffix"):
            raise _invalid(
                "filter rule name must be either prefix or suffix", "FilterRule.Name", rule.get("Name") or ""
            )
        if name in seen:
            raise _invalid(f"Cannot specify more than one {name} rule in a filter.", "FilterRule.Name", name)
        seen.add(name)
        normalized.append({"Name": name.capitalize(), "Value": str(rule.get("Value") or "")})
    return normalized


def key_filter(configuration: dict[str, Any]) -> tuple[str, str]:
    """(prefix, suffix) of a configuration; empty when not filtered."""
    prefix = suffix = ""
    for rule in ((configuration.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []:
        if rule["Name"].lower() == "prefix":
            prefix = rule["Value"]
        else:
            suffix = rule["Value"]
    return prefix, suffix


def _events_overlap(first: str, second: str) -> bool:
    def covers(pattern: str, event: str) -> bool:
        return pattern == event or (pattern.endswith(":*") and event.startswith(pattern[:-1]))

    return covers(first, second) or covers(second, first)


def check_overlaps(configurations: list[dict[str, Any]]) -> None:
    """AWS refuses two configurations sharing an event type whose key filters can match one key."""
    for index, first in enumerate(configurations):
        for second in configurations[index + 1 :]:
            if not any(_events_overlap(a, b) for a in first["Events"] for b in second["Events"]):
                continue
            (prefix_a, suffix_a), (prefix_b, suffix_b) = key_filter(first), key_filter(second)
            prefixes = prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a)
            suffixes = suffix_a.endswith(suffix_b) or suffix_b.endswith(suffix_a)
            if prefixes and suffixes:
                raise _invalid(
                    "Configurations overlap. Configurations on the same bucket cannot share a common"
                    " event type.",
                    "Event",
                    "",
                )


def _check_topic(runtime: Runtime, bucket: Record, topic_arn: str) -> None:
    from onebox.services.sns.model import get_topic  # the SNS service's; imported only when used

    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[2] != "sns":
        raise _unable(topic_arn, "The destination ARN is not a valid SNS topic ARN")
    if parts[3] != bucket.spec.get("Region"):
        raise _unable(topic_arn, "The notification destination service region is not valid for the bucket")
    try:
        get_topic(runtime, topic_arn)
    except AwsError:
        raise _unable(
            topic_arn, "Permissions on the destination topic do not allow S3 to publish notifications"
        ) from None


# -- the messages ----------------------------------------------------------------------------------


def _event_time(runtime: Runtime) -> str:
    moment = datetime.fromtimestamp(runtime.clock.time(), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _host_id() -> str:
    return base64.b64encode(secrets.token_bytes(48)).decode()


def test_event(ctx: RequestContext, bucket_name: str) -> dict[str, Any]:
    return {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": _event_time(ctx.runtime),
        "Bucket": bucket_name,
        "RequestId": ctx.request_id,
        "HostId": _host_id(),
    }


def encoded_key(key: str) -> str:
    """The key as S3 event messages carry it: form-URL-encoded (a space is "+"), "/" kept."""
    return quote_plus(key, safe="/")


_sequence_lock = threading.Lock()
_last_sequence = 0


def _sequencer(runtime: Runtime) -> str:
    """An increasing hex value: later events on a key compare greater, as AWS's sequencer does."""
    global _last_sequence
    with _sequence_lock:
        _last_sequence = max(_last_sequence + 1, int(runtime.clock.time() * 1_000_000_000))
        return f"{_last_sequence:016X}"


def matching_configurations(bucket: Record, event_name: str, key: str) -> list[dict[str, Any]]:
    """The stored configurations an event (e.g. "ObjectCreated:Put") on `key` matches."""
    found = []
    full = "s3:" + event_name
    for configuration in bucket.spec.get(SPEC_KEY) or []:
        if not any(
            pattern == full or (pattern.endswith(":*") and full.startswith(pattern[:-1]))
            for pattern in configuration["Events"]
        ):
            continue
        prefix, suffix = key_filter(configuration)
        if key.startswith(prefix) and key.endswith(suffix):
            found.append(configuration)
    return found


def event_record(
    runtime: Runtime,
    bucket: Record,
    configuration_id: str,
    event_name: str,
    obj: dict[str, Any],
    origin: tuple[str, str, str],
) -> dict[str, Any]:
    principal, source_ip, request_id = origin
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": bucket.spec.get("Region") or "us-east-1",
        "eventTime": _event_time(runtime),
        "eventName": event_name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": _host_id()},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": bucket.id,
                "ownerIdentity": {"principalId": canonical_user_id(bucket.account)[:14].upper()},
                "arn": f"arn:aws:s3:::{bucket.id}",
            },
            "object": obj,
        },
    }


def notify(
    ctx: RequestContext,
    bucket: Record,
    event_name: str,
    key: str,
    *,
    size: int | None = None,
    etag: str | None = None,
    version_id: str | None = None,
) -> None:
    """Schedule the event messages for `event_name` on `key` (call once the change is durable)."""
    if not bucket.spec.get(SPEC_KEY):
        return
    origin = (f"AWS:{ctx.account_id}", ctx.request.client_ip, ctx.request_id)
    notify_from(ctx.runtime, bucket, event_name, key, origin, size=size, etag=etag, version_id=version_id)


# What S3 itself (the lifecycle sweeper) reports as the origin of its own events.
S3_ORIGIN = ("s3.amazonaws.com", "s3.amazonaws.com", "C3D13FE58DE4C810")


def notify_from(
    runtime: Runtime,
    bucket: Record,
    event_name: str,
    key: str,
    origin: tuple[str, str, str],
    *,
    size: int | None = None,
    etag: str | None = None,
    version_id: str | None = None,
) -> None:
    """`notify` for a given origin (principal id, source IP, request id); call on the event loop."""
    configurations = matching_configurations(bucket, event_name, key)
    if not configurations:
        return
    obj: dict[str, Any] = {"key": encoded_key(key)}
    if size is not None:
        obj["size"] = size
    if etag is not None:
        obj["eTag"] = etag.strip('"')
    if version_id is not None and versioning_state(bucket):
        obj["versionId"] = version_id
    obj["sequencer"] = _sequencer(runtime)
    for configuration in configurations:
        record = event_record(runtime, bucket, configuration["Id"], event_name, obj, origin)
        message = json.dumps({"Records": [record]}, separators=(",", ":"))
        _schedule(runtime, configuration["TopicArn"], message)


def _schedule(runtime: Runtime, topic_arn: str, message: str) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _publish_logged(runtime, topic_arn, message)
        return
    loop.call_soon(_publish_logged, runtime, topic_arn, message)


def _publish(runtime: Runtime, topic_arn: str, message: str) -> str:
    from onebox.services.sns import delivery  # the SNS service's; imported only when used

    return delivery.publish(runtime, topic_arn, message, SUBJECT)


def _publish_logged(runtime: Runtime, topic_arn: str, message: str) -> None:
    try:
        _publish(runtime, topic_arn, message)
    except Exception as error:  # a lost notification is logged; the S3 request already succeeded
        log.warning("s3 notification to %s failed: %s", topic_arn, error)
