"""How SNS resources are stored, found by ARN, and described; the errors SNS answers with."""

from __future__ import annotations

import json
import re
from typing import Any

from onebox.aws.errors import AwsError
from onebox.runtime import Runtime
from onebox.store import Record
from onebox.store.ids import parse_arn

TOPIC = "sns:topic"
SUBSCRIPTION = "sns:subscription"
DELIVERY = "sns:delivery"

TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
FIFO_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,251}\.fifo$")

# Attributes a caller may set on a topic (CreateTopic / SetTopicAttributes).
TOPIC_ATTRIBUTES = frozenset(
    {
        "DeliveryPolicy",
        "DisplayName",
        "Policy",
        "TracingConfig",
        "KmsMasterKeyId",
        "SignatureVersion",
        "FifoTopic",
        "ContentBasedDeduplication",
        "ArchivePolicy",
        "DataProtectionPolicy",
        "FifoThroughputScope",
        *(
            f"{protocol}{kind}"
            for protocol in ("HTTP", "Application", "Lambda", "SQS", "Firehose")
            for kind in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn")
        ),
    }
)
SUBSCRIPTION_ATTRIBUTES = frozenset(
    {
        "DeliveryPolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
        "SubscriptionRoleArn",
        "ReplayPolicy",
    }
)

# AWS's default HTTP/S retry policy: 3 retries, 20 s apart (EffectiveDeliveryPolicy shows it).
DEFAULT_HTTP_RETRY = {
    "minDelayTarget": 20,
    "maxDelayTarget": 20,
    "numRetries": 3,
    "numMaxDelayRetries": 0,
    "numNoDelayRetries": 0,
    "numMinDelayRetries": 0,
    "backoffFunction": "linear",
}
# SMTP's fixed policy (not user-changeable): 50 attempts over about 6 hours.
EMAIL_RETRY = {
    "minDelayTarget": 10,
    "maxDelayTarget": 600,
    "numRetries": 49,
    "numMaxDelayRetries": 38,
    "numNoDelayRetries": 0,
    "numMinDelayRetries": 2,
    "backoffFunction": "exponential",
}
DEFAULT_EFFECTIVE_DELIVERY_POLICY = {
    "http": {
        "defaultHealthyRetryPolicy": DEFAULT_HTTP_RETRY,
        "disableSubscriptionOverrides": False,
        "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"},
    }
}


def not_found(what: str = "Topic") -> AwsError:
    return AwsError("NotFound", f"{what} does not exist", 404)


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameter", f"Invalid parameter: {message}", 400)


def topic_location(topic_arn: str) -> tuple[str, str, str]:
    """(account, region, name) of a topic ARN; InvalidParameter if it is not one."""
    try:
        parsed = parse_arn(topic_arn)
    except ValueError:
        raise invalid("TopicArn") from None
    if parsed.service != "sns" or not parsed.region or not parsed.account or ":" in parsed.resource:
        raise invalid("TopicArn")
    return parsed.account, parsed.region, parsed.resource


def get_topic(runtime: Runtime, topic_arn: str) -> Record:
    account, region, name = topic_location(topic_arn)
    record = runtime.store.get(TOPIC, account, region, name)
    if record is None:
        raise not_found("Topic")
    return record


def subscription_location(subscription_arn: str) -> tuple[str, str, str]:
    """(account, region, subscription id) of a subscription ARN."""
    try:
        parsed = parse_arn(subscription_arn)
    except ValueError:
        raise invalid("SubscriptionArn") from None
    parts = parsed.resource.split(":")
    if parsed.service != "sns" or len(parts) != 2 or not parts[1]:
        raise invalid("SubscriptionArn")
    return parsed.account, parsed.region, parts[1]


def get_subscription(runtime: Runtime, subscription_arn: str) -> Record:
    account, region, sub_id = subscription_location(subscription_arn)
    record = runtime.store.get(SUBSCRIPTION, account, region, sub_id)
    if record is None:
        raise not_found("Subscription")
    return record


def topic_subscriptions(runtime: Runtime, topic: Record) -> list[Record]:
    return [
        record
        for record in runtime.store.list(SUBSCRIPTION, topic.account, topic.region)
        if record.spec["TopicArn"] == topic.arn
    ]


def listed_subscription_arn(record: Record) -> str:
    """What List* and Subscribe show: the ARN once confirmed, else AWS's literal placeholder."""
    return "PendingConfirmation" if record.spec.get("PendingConfirmation") else record.arn


def effective_delivery_policy(topic: Record, subscription: Record | None = None) -> dict[str, Any]:
    """The HTTP/S retry policy in force: subscription's DeliveryPolicy, else the topic's, else AWS's."""
    retry = dict(DEFAULT_HTTP_RETRY)
    topic_policy = _json_attribute(topic.spec.get("Attributes", {}), "DeliveryPolicy")
    http = topic_policy.get("http", {}) if isinstance(topic_policy, dict) else {}
    retry.update(http.get("defaultHealthyRetryPolicy") or {})
    content_type = (http.get("defaultRequestPolicy") or {}).get("headerContentType")
    if subscription is not None and not http.get("disableSubscriptionOverrides"):
        own = _json_attribute(subscription.spec.get("Attributes", {}), "DeliveryPolicy")
        if isinstance(own, dict):
            retry.update(own.get("healthyRetryPolicy") or {})
            content_type = (own.get("requestPolicy") or {}).get("headerContentType") or content_type
    return {"retry": retry, "content_type": content_type or "text/plain; charset=UTF-8"}


def _json_attribute(attributes: dict[str, str], name: str) -> Any:
    text = attributes.get(name)
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {}


def default_policy(topic_arn: str, account: str) -> str:
    """The access policy AWS gives every new topic."""
    return json.dumps(
        {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": [
                        "SNS:GetTopicAttributes",
                        "SNS:SetTopicAttributes",
                        "SNS:AddPermission",
                        "SNS:RemovePermission",
                        "SNS:DeleteTopic",
                        "SNS:Subscribe",
                        "SNS:ListSubscriptionsByTopic",
                        "SNS:Publish",
                    ],
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
                }
            ],
        },
        separators=(",", ":"),
    )
