"""Publish and PublishBatch (one path with `delivery.publish`, which other services call)."""

from __future__ import annotations

import re
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.sns import delivery
from onebox.services.sns.model import get_topic, invalid

api = ServiceApi("sns")


@api.operation("Publish")
def publish(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic_arn = params.get("TopicArn") or params.get("TargetArn")
    if params.get("PhoneNumber"):
        raise invalid("onebox does not deliver SMS; publish to a topic")
    if not topic_arn:
        raise invalid("TopicArn or TargetArn Reason: no value for required parameter")
    message_id = delivery.publish(
        ctx.runtime,
        topic_arn,
        params["Message"],
        params.get("Subject"),
        params.get("MessageAttributes"),
        message_structure=params.get("MessageStructure"),
    )
    return {"MessageId": message_id}


BATCH_MAX_ENTRIES = 10
BATCH_MAX_BYTES = 262_144  # the whole batch, like a single Publish
BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@api.operation("PublishBatch")
def publish_batch(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    entries = params.get("PublishBatchRequestEntries") or []
    if not entries:
        raise AwsError("EmptyBatchRequest", "The batch request doesn't contain any entries.")
    if len(entries) > BATCH_MAX_ENTRIES:
        raise AwsError(
            "TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible."
        )
    ids = [entry["Id"] for entry in entries]
    if len(set(ids)) != len(ids):
        raise AwsError(
            "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id."
        )
    if not all(BATCH_ID.match(entry_id) for entry_id in ids):
        raise AwsError(
            "InvalidBatchEntryId",
            "The Id of a batch entry in a batch request doesn't abide by the specification.",
        )
    if sum(len(entry["Message"].encode("utf-8")) for entry in entries) > BATCH_MAX_BYTES:
        raise AwsError(
            "BatchRequestTooLong", "The length of all the messages put together is more than the limit."
        )
    get_topic(ctx.runtime, params["TopicArn"])  # a missing topic fails the whole call (NotFound)
    successful: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry in entries:
        try:
            message_id = delivery.publish(
                ctx.runtime,
                params["TopicArn"],
                entry["Message"],
                entry.get("Subject"),
                entry.get("MessageAttributes"),
                message_structure=entry.get("MessageStructure"),
            )
        except AwsError as error:
            failed.append(
                {
                    "Id": entry["Id"],
                    "Code": error.code,
                    "Message": error.message,
                    "SenderFault": error.sender_fault,
                }
            )
        else:
            successful.append({"Id": entry["Id"], "MessageId": message_id})
    return {"Successful": successful, "Failed": failed}
