"""Publishing: turn one message into durable per-subscription deliveries the delivery worker sends.

`publish` is the one path for the Publish API and for other services (CloudWatch alarm actions).
A delivery is a store record written in the same transaction as nothing else needs: once Publish
answers, every delivery is on disk, so a daemon restart resumes them (the worker's resync finds them).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from onebox.aws.errors import AwsError
from onebox.runtime import Runtime
from onebox.services.sns import filter_policy, messages, metrics
from onebox.services.sns.model import (
    DELIVERY,
    EMAIL_RETRY,
    effective_delivery_policy,
    get_topic,
    invalid,
    topic_subscriptions,
)
from onebox.store import Record

MAX_MESSAGE_BYTES = 262_144
MAX_SUBJECT = 100


def publish(
    runtime: Runtime,
    topic_arn: str,
    message: str,
    subject: str | None = None,
    message_attributes: dict | None = None,
    *,
    message_structure: str | None = None,
) -> str:
    """Publish to a topic and return the MessageId; AwsError NotFound if the topic does not exist.

    `message_attributes` is shaped as Publish's MessageAttributes ({name: {DataType, StringValue |
    BinaryValue}}); `message_structure` "json" makes `message` a per-protocol JSON object.
    """
    topic = get_topic(runtime, topic_arn)
    check_message(message, subject, message_attributes)
    per_protocol = _per_protocol(message) if message_structure == "json" else None
    if message_structure not in (None, "", "json"):
        raise invalid("MessageStructure")
    message_id = str(uuid.uuid4())
    sent_at = messages.timestamp(runtime)
    signature_version = topic.spec.get("Attributes", {}).get("SignatureVersion", "1")
    store = runtime.store
    with store.transaction():
        for subscription in topic_subscriptions(runtime, topic):
            if subscription.spec.get("PendingConfirmation"):
                continue
            policy = subscription.spec.get("Attributes", {}).get("FilterPolicy")
            if policy and not filter_policy.matches(policy, message_attributes):
                continue
            protocol = subscription.spec["Protocol"]
            text = per_protocol.get(protocol, per_protocol["default"]) if per_protocol else message
            if not isinstance(text, str):
                text = json.dumps(text)
            document = messages.notification(
                runtime,
                message_id=message_id,
                topic_arn=topic.arn,
                subscription_arn=subscription.arn,
                message=text,
                subject=subject,
                sent_at=sent_at,
                signature_version=signature_version,
                attributes=message_attributes,
            )
            email = None
            if protocol == "email":
                email = messages.email_notification(runtime, subject, text, subscription.arn)
            raw = subscription.spec.get("Attributes", {}).get("RawMessageDelivery") == "true"
            enqueue(runtime, topic, subscription, document, email=email, raw_message=text if raw else None)
    size = float(len(message.encode("utf-8")))
    metrics.emit(
        runtime, topic.arn, {"NumberOfMessagesPublished": (1.0, "Count"), "PublishSize": (size, "Bytes")}
    )
    return message_id


def enqueue(
    runtime: Runtime,
    topic: Record,
    subscription: Record,
    document: dict[str, Any],
    *,
    email: dict[str, str] | None = None,
    raw_message: str | None = None,
) -> Record:
    """Record one delivery of `document` to `subscription`; the worker sends it."""
    policy = effective_delivery_policy(topic, subscription)
    protocol = subscription.spec["Protocol"]
    delivery_id = uuid.uuid4().hex
    spec = {
        "TopicArn": topic.arn,
        "SubscriptionArn": subscription.arn,
        "SubscriptionId": subscription.id,
        "Protocol": protocol,
        "Endpoint": subscription.spec["Endpoint"],
        "Document": document,
        "Email": email,
        "RawMessage": raw_message,
        "From": messages.email_sender(topic.spec.get("Attributes", {}).get("DisplayName")),
        "ContentType": policy["content_type"],
        "Retry": EMAIL_RETRY if protocol.startswith("email") else policy["retry"],
    }
    return runtime.store.create(
        DELIVERY,
        topic.account,
        topic.region,
        delivery_id,
        arn=f"{subscription.arn}/delivery/{delivery_id}",
        spec=spec,
        status={"Attempts": 0, "NextAttemptAt": 0},
    )


def check_message(message: str, subject: str | None, attributes: dict | None) -> None:
    if not message:
        raise invalid("Empty message")
    if len(message.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise invalid("Message too long")
    if subject is not None and (
        not subject
        or len(subject) >= MAX_SUBJECT
        or not subject.isascii()
        or any(ch in subject for ch in "\r\n")
        or not subject.strip()
    ):
        raise invalid("Subject")
    for name, value in (attributes or {}).items():
        data_type = value.get("DataType", "")
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise AwsError(
                "ParameterValueInvalid",
                f"The message attribute '{name}' has an invalid message attribute type, the set of "
                "supported type prefixes is Binary, Number, and String.",
            )
        field = "BinaryValue" if base == "Binary" else "StringValue"
        if value.get(field) in (None, "", b""):
            raise AwsError(
                "ParameterValueInvalid",
                f"The message attribute '{name}' must contain non-empty message attribute value for "
                f"message attribute type '{base}'.",
            )
        if base == "Number":
            try:
                float(value[field])
            except ValueError:
                raise AwsError(
                    "ParameterValueInvalid",
                    f"Could not cast message attribute '{name}' value to number.",
                ) from None


def _per_protocol(message: str) -> dict[str, Any]:
    try:
        parsed = json.loads(message)
    except ValueError:
        raise invalid("Message Structure - JSON message body failed to parse") from None
    if not isinstance(parsed, dict):
        raise invalid("Message Structure - JSON message body failed to parse")
    if "default" not in parsed:
        raise invalid("Message Structure - No default entry in JSON message body")
    return parsed
