"""The documents SNS delivers: the signed JSON messages of HTTP/S and email-json, and plain emails."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from onebox.runtime import Runtime
from onebox.services.sns import signing

ENDPOINT_PATH = "/_onebox/sns/"
NO_REPLY = "no-reply@sns.amazonaws.com"


def timestamp(runtime: Runtime) -> str:
    """AWS's message timestamp: ISO 8601 UTC with milliseconds and a Z."""
    moment = datetime.fromtimestamp(runtime.clock.time(), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def subscribe_url(runtime: Runtime, topic_arn: str, token: str) -> str:
    return (
        f"{runtime.config.endpoint}{ENDPOINT_PATH}?Action=ConfirmSubscription"
        f"&TopicArn={quote(topic_arn, safe=':')}&Token={token}"
    )


def unsubscribe_url(runtime: Runtime, subscription_arn: str) -> str:
    return (
        f"{runtime.config.endpoint}{ENDPOINT_PATH}?Action=Unsubscribe"
        f"&SubscriptionArn={quote(subscription_arn, safe=':')}"
    )


def cert_url(runtime: Runtime) -> str:
    return f"{runtime.config.endpoint}{signing.CERT_PATH}"


def notification(
    runtime: Runtime,
    *,
    message_id: str,
    topic_arn: str,
    subscription_arn: str,
    message: str,
    subject: str | None,
    sent_at: str,
    signature_version: str,
    attributes: dict[str, Any] | None,
) -> dict[str, Any]:
    """A signed Notification, fields in the order AWS sends them."""
    document: dict[str, Any] = {"Type": "Notification", "MessageId": message_id, "TopicArn": topic_arn}
    if subject is not None:
        document["Subject"] = subject
    document.update(
        {
            "Message": message,
            "Timestamp": sent_at,
            "SignatureVersion": signature_version,
        }
    )
    document["Signature"] = signing.sign(runtime.config.state_dir, document)
    document["SigningCertURL"] = cert_url(runtime)
    document["UnsubscribeURL"] = unsubscribe_url(runtime, subscription_arn)
    if attributes:
        document["MessageAttributes"] = json_attributes(attributes)
    return document


def confirmation(
    runtime: Runtime,
    *,
    kind: str,
    message_id: str,
    topic_arn: str,
    subscription_arn: str,
    token: str,
    signature_version: str,
) -> dict[str, Any]:
    """A signed SubscriptionConfirmation or UnsubscribeConfirmation."""
    if kind == "SubscriptionConfirmation":
        text = (
            f"You have chosen to subscribe to the topic {topic_arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message."
        )
    else:
        text = (
            f"You have chosen to deactivate subscription {subscription_arn}.\n"
            "To cancel this operation and restore the subscription, visit the SubscribeURL included in "
            "this message."
        )
    document: dict[str, Any] = {
        "Type": kind,
        "MessageId": message_id,
        "Token": token,
        "TopicArn": topic_arn,
        "Message": text,
        "SubscribeURL": subscribe_url(runtime, topic_arn, token),
        "Timestamp": timestamp(runtime),
        "SignatureVersion": signature_version,
    }
    document["Signature"] = signing.sign(runtime.config.state_dir, document)
    document["SigningCertURL"] = cert_url(runtime)
    return document


def json_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """MessageAttributes as the HTTP/JSON message shows them: {"Type": ..., "Value": ...}."""
    shown: dict[str, Any] = {}
    for name, value in attributes.items():
        data_type = value["DataType"]
        if data_type.startswith("Binary"):
            raw = value["BinaryValue"]
            text = base64.b64encode(raw if isinstance(raw, bytes) else str(raw).encode()).decode("ascii")
        else:
            text = value["StringValue"]
        shown[name] = {"Type": data_type, "Value": text}
    return shown


def render_json(document: dict[str, Any]) -> str:
    """AWS's layout: two-space indent and `"Key" : "Value"`."""
    return json.dumps(document, indent=2, separators=(",", " : "), ensure_ascii=False)


def email_sender(display_name: str | None) -> str:
    return f"{display_name or 'AWS Notifications'} <{NO_REPLY}>"


def email_notification(runtime: Runtime, subject: str | None, message: str, subscription_arn: str) -> dict:
    body = (
        f"{message}\n\n--\nIf you wish to stop receiving notifications from this topic, please click or "
        f"visit the link below to unsubscribe:\n{unsubscribe_url(runtime, subscription_arn)}\n\n"
        "Please do not reply directly to this email. If you have any questions or comments regarding "
        "this email, please contact us at https://aws.amazon.com/support"
    )
    return {"Subject": subject or "AWS Notification Message", "Body": body}


def email_confirmation(runtime: Runtime, topic_arn: str, token: str) -> dict:
    body = (
        f"You have chosen to subscribe to the topic: \n{topic_arn}\n\n"
        "To confirm this subscription, click or visit the link below (If this was in error no action "
        f"is necessary): \nConfirm subscription:\n{subscribe_url(runtime, topic_arn, token)}\n\n"
        "Please do not reply directly to this email. If you wish to remove yourself from receiving all "
        "future SNS subscription confirmation requests please send an email to sns-opt-out"
    )
    return {"Subject": "AWS Notification - Subscription Confirmation", "Body": body}
