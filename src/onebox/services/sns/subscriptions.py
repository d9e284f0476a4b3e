"""SNS subscriptions: subscribe (with the confirmation handshake), confirm, unsubscribe, list, attributes."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.runtime import Runtime
from onebox.services.sns import delivery, filter_policy, messages
from onebox.services.sns.model import (
    SUBSCRIPTION,
    SUBSCRIPTION_ATTRIBUTES,
    TOPIC,
    effective_delivery_policy,
    get_subscription,
    get_topic,
    invalid,
    listed_subscription_arn,
    topic_location,
    topic_subscriptions,
)
from onebox.store import Record

api = ServiceApi("sns")

PAGE_SIZE = 100
DELIVERED_PROTOCOLS = ("http", "https", "email", "email-json")
# Protocols AWS accepts that onebox does not deliver to (yet).
OTHER_PROTOCOLS = ("sqs", "lambda", "application", "sms", "firehose")
TOKEN_LIFETIME = 2 * 86_400.0
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@api.operation("Subscribe")
def subscribe(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    protocol = params["Protocol"].lower()
    endpoint = params.get("Endpoint") or ""
    attributes = dict(params.get("Attributes") or {})
    if protocol in OTHER_PROTOCOLS:
        raise AwsError("NotImplemented", f"onebox does not deliver to {protocol} endpoints yet", 501)
    if protocol not in DELIVERED_PROTOCOLS:
        raise invalid(f"Amazon SNS does not support this protocol string: {params['Protocol']}")
    _check_endpoint(protocol, endpoint)
    _check_attributes(protocol, attributes)
    store = ctx.runtime.store
    topic = get_topic(ctx.runtime, params["TopicArn"])
    for existing in topic_subscriptions(ctx.runtime, topic):
        if existing.spec["Protocol"] == protocol and existing.spec["Endpoint"] == endpoint:
            stored = existing.spec.get("Attributes", {})
            if any(
                stored.get(k, "false" if k == "RawMessageDelivery" else None) != v
                for k, v in attributes.items()
            ):
                raise invalid("Attributes Reason: Subscription already exists with different attributes")
            if existing.spec.get("PendingConfirmation"):
                send_confirmation(ctx.runtime, topic, existing)
            return {"SubscriptionArn": _answer_arn(existing, params)}
    sub_id = str(uuid.uuid4())
    with store.transaction():
        record = store.create(
            SUBSCRIPTION,
            topic.account,
            topic.region,
            sub_id,
            arn=f"{topic.arn}:{sub_id}",
            spec={
                "TopicArn": topic.arn,
                "Protocol": protocol,
                "Endpoint": endpoint,
                "Owner": ctx.account_id,
                "Attributes": attributes,
                "Token": secrets.token_hex(128),
                "PendingConfirmation": True,
                "ConfirmationWasAuthenticated": False,
            },
        )
        send_confirmation(ctx.runtime, topic, record)
    return {"SubscriptionArn": _answer_arn(record, params)}


@api.operation("ConfirmSubscription")
def confirm_subscription(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    authenticated = str(params.get("AuthenticateOnUnsubscribe", "")).lower() == "true"
    record = confirm(ctx.runtime, params["TopicArn"], params["Token"], authenticated=authenticated)
    return {"SubscriptionArn": record.arn}


def confirm(runtime: Runtime, topic_arn: str, token: str, *, authenticated: bool) -> Record:
    """Confirm the subscription `token` was sent to (API call or a visit of the SubscribeURL)."""
    store = runtime.store
    with store.transaction():
        topic = get_topic(runtime, topic_arn)
        for record in topic_subscriptions(runtime, topic):
            if secrets.compare_digest(record.spec.get("Token", ""), token):
                if not record.spec.get("PendingConfirmation"):
                    return record
                if token_expired(runtime, record):
                    break
                spec = {
                    **record.spec,
                    "PendingConfirmation": False,
                    "ConfirmationWasAuthenticated": authenticated,
                }
                return store.update(record, spec=spec)
    raise AwsError("InvalidParameter", "Invalid token", 400)


@api.operation("Unsubscribe")
def unsubscribe_operation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    unsubscribe(ctx.runtime, params["SubscriptionArn"])
    return {}


def token_expired(runtime: Runtime, record: Record) -> bool:
    """Confirmation tokens are valid for two days (AWS's Subscribe documentation)."""
    return runtime.clock.time() > record.created_at.timestamp() + TOKEN_LIFETIME


def unsubscribe(runtime: Runtime, subscription_arn: str, *, authenticated: bool = True) -> None:
    store = runtime.store
    with store.transaction():
        record = get_subscription(runtime, subscription_arn)
        if not authenticated and record.spec.get("ConfirmationWasAuthenticated"):
            # Confirmed with AuthenticateOnUnsubscribe: only a signed Unsubscribe call may remove it.
            raise AwsError(
                "AuthorizationError", "Unsubscribe requires AWS authentication for this subscription", 403
            )
        topic = store.get(TOPIC, *topic_location(record.spec["TopicArn"]))
        store.delete_by_id(SUBSCRIPTION, record.account, record.region, record.id)
        if topic is not None:
            deleted = int(topic.status.get("SubscriptionsDeleted", 0)) + 1
            store.update_status(
                TOPIC,
                topic.account,
                topic.region,
                topic.id,
                {**topic.status, "SubscriptionsDeleted": deleted},
            )
            # HTTP/S endpoints are told, with a link to restore the subscription (as AWS does).
            if record.spec["Protocol"] in ("http", "https") and not record.spec.get("PendingConfirmation"):
                document = messages.confirmation(
                    runtime,
                    kind="UnsubscribeConfirmation",
                    message_id=str(uuid.uuid4()),
                    topic_arn=topic.arn,
                    subscription_arn=record.arn,
                    token=record.spec["Token"],
                    signature_version=topic.spec.get("Attributes", {}).get("SignatureVersion", "1"),
                )
                delivery.enqueue(runtime, topic, record, document)


@api.operation("ListSubscriptions")
def list_subscriptions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    records = ctx.runtime.store.list(SUBSCRIPTION, ctx.account_id, ctx.region)
    return _page(ctx, records, params.get("NextToken"), "sns:ListSubscriptions")


@api.operation("ListSubscriptionsByTopic")
def list_subscriptions_by_topic(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic = get_topic(ctx.runtime, params["TopicArn"])
    records = topic_subscriptions(ctx.runtime, topic)
    return _page(ctx, records, params.get("NextToken"), f"sns:ListSubscriptionsByTopic:{topic.arn}")


@api.operation("GetSubscriptionAttributes")
def get_subscription_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = get_subscription(ctx.runtime, params["SubscriptionArn"])
    spec = record.spec
    attributes = {
        "Owner": spec["Owner"],
        "RawMessageDelivery": "false",
        "TopicArn": spec["TopicArn"],
        "Endpoint": spec["Endpoint"],
        "Protocol": spec["Protocol"],
        "PendingConfirmation": "true" if spec.get("PendingConfirmation") else "false",
        "ConfirmationWasAuthenticated": "true" if spec.get("ConfirmationWasAuthenticated") else "false",
        "SubscriptionArn": record.arn,
        "SubscriptionPrincipal": f"arn:aws:iam::{spec['Owner']}:root",
    }
    topic = ctx.runtime.store.get(TOPIC, *topic_location(spec["TopicArn"]))
    if topic is not None and spec["Protocol"] in ("http", "https"):
        policy = effective_delivery_policy(topic, record)
        attributes["EffectiveDeliveryPolicy"] = json.dumps(
            {
                "healthyRetryPolicy": policy["retry"],
                "requestPolicy": {"headerContentType": policy["content_type"]},
            },
            separators=(",", ":"),
        )
    attributes.update(spec.get("Attributes", {}))
    return {"Attributes": attributes}


@api.operation("SetSubscriptionAttributes")
def set_subscription_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name, value = params["AttributeName"], params.get("AttributeValue") or ""
    store = ctx.runtime.store
    with store.transaction():
        record = get_subscription(ctx.runtime, params["SubscriptionArn"])
        _check_attributes(record.spec["Protocol"], {name: value})
        attributes = {**record.spec.get("Attributes", {}), name: value}
        store.update(record, spec={**record.spec, "Attributes": attributes})
    return {}


def send_confirmation(runtime: Runtime, topic: Record, record: Record) -> None:
    """Queue the SubscriptionConfirmation (HTTP/S, email-json) or the confirmation email."""
    token = record.spec["Token"]
    document = messages.confirmation(
        runtime,
        kind="SubscriptionConfirmation",
        message_id=str(uuid.uuid4()),
        topic_arn=topic.arn,
        subscription_arn=record.arn,
        token=token,
        signature_version=topic.spec.get("Attributes", {}).get("SignatureVersion", "1"),
    )
    email = (
        messages.email_confirmation(runtime, topic.arn, token) if record.spec["Protocol"] == "email" else None
    )
    delivery.enqueue(runtime, topic, record, document, email=email)


def _answer_arn(record: Record, params: dict[str, Any]) -> str:
    if record.spec.get("PendingConfirmation") and not params.get("ReturnSubscriptionArn"):
        return "pending confirmation"
    return record.arn


def _check_endpoint(protocol: str, endpoint: str) -> None:
    if protocol in ("http", "https"):
        if not endpoint.lower().startswith(f"{protocol}://") or len(endpoint) <= len(protocol) + 3:
            raise invalid("Endpoint must match the specified protocol")
    elif not EMAIL.match(endpoint):
        raise invalid("Email address")


def _check_attributes(protocol: str, attributes: dict[str, str]) -> None:
    for name, value in attributes.items():
        if name not in SUBSCRIPTION_ATTRIBUTES:
            raise invalid("AttributeName")
        if name == "RawMessageDelivery":
            if value.lower() not in ("true", "false"):
                raise invalid(
                    f"Attributes Reason: RawMessageDelivery: Invalid value [{value}]. Must be true or false."
                )
            if value.lower() == "true" and protocol.startswith("email"):
                raise invalid("Attributes Reason: RawMessageDelivery: Invalid value [true]. Must be false.")
        if name == "FilterPolicy" and value:
            filter_policy.parse(value)
        if name in ("DeliveryPolicy", "RedrivePolicy") and value:
            try:
                json.loads(value)
            except ValueError:
                raise invalid(f"Attributes Reason: {name}: failed to parse JSON") from None


def _page(ctx: RequestContext, records: list[Record], token: str | None, scope: str) -> dict[str, Any]:
    page, next_token = ctx.runtime.store.paginator.paginate(
        records,
        PAGE_SIZE,
        token,
        key=lambda r: r.seq,
        scope=scope,
        code="InvalidParameter",
        message="Invalid parameter: NextToken",
    )
    result: dict[str, Any] = {
        "Subscriptions": [
            {
                "SubscriptionArn": listed_subscription_arn(record),
                "Owner": record.spec["Owner"],
                "Protocol": record.spec["Protocol"],
                "Endpoint": record.spec["Endpoint"],
                "TopicArn": record.spec["TopicArn"],
            }
            for record in page
        ]
    }
    if next_token:
        result["NextToken"] = next_token
    return result
