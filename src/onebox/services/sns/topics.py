"""SNS topics: create (idempotent), delete, list, attributes and tags."""

from __future__ import annotations

import json
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.sns.model import (
    DEFAULT_EFFECTIVE_DELIVERY_POLICY,
    DELIVERY,
    FIFO_TOPIC_NAME,
    SUBSCRIPTION,
    TOPIC,
    TOPIC_ATTRIBUTES,
    TOPIC_NAME,
    default_policy,
    get_topic,
    invalid,
    topic_location,
    topic_subscriptions,
)
from onebox.store import AlreadyExists, Record
from onebox.store.ids import arn
from onebox.store.tags import TagRules, apply_tags, remove_tags, tags_from_list, tags_to_list

api = ServiceApi("sns")

SNS_TAG_RULES = TagRules(code="InvalidParameter", limit_code="TagLimitExceeded")
PAGE_SIZE = 100


@api.operation("CreateTopic")
def create_topic(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    attributes = dict(params.get("Attributes") or {})
    if params.get("DataProtectionPolicy"):
        attributes["DataProtectionPolicy"] = params["DataProtectionPolicy"]
    fifo = attributes.get("FifoTopic", "false").lower() == "true"
    if not (FIFO_TOPIC_NAME if fifo else TOPIC_NAME).match(name):
        raise invalid("Topic Name")
    _check_attributes(attributes, creating=True)
    tags = tags_from_list(params.get("Tags"))
    topic_arn = arn("sns", ctx.region, ctx.account_id, name)
    existing = ctx.runtime.store.get(TOPIC, ctx.account_id, ctx.region, name)
    if existing is None:
        try:
            ctx.runtime.store.create(
                TOPIC,
                ctx.account_id,
                ctx.region,
                name,
                arn=topic_arn,
                name=name,
                spec={"Attributes": attributes},
                tags=apply_tags({}, tags, SNS_TAG_RULES),
            )
            return {"TopicArn": topic_arn}
        except AlreadyExists as race:
            existing = race.existing
    # CreateTopic is idempotent: same name and attributes returns the same ARN.
    assert existing is not None
    stored = existing.spec.get("Attributes", {})
    if any(stored.get(key, _default_attribute(key)) != value for key, value in attributes.items()):
        raise invalid("Attributes Reason: Topic already exists with different attributes")
    if tags and any(existing.tags.get(key) != value for key, value in tags.items()):
        raise invalid("Tags Reason: Topic already exists with different tags")
    return {"TopicArn": existing.arn}


@api.operation("DeleteTopic")
def delete_topic(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    account, region, name = topic_location(params["TopicArn"])
    store = ctx.runtime.store
    topic = store.get(TOPIC, account, region, name)
    if topic is None:
        return {}  # idempotent, as AWS documents
    with store.transaction():
        for subscription in topic_subscriptions(ctx.runtime, topic):
            store.delete_by_id(SUBSCRIPTION, account, region, subscription.id)
        for delivery in store.list(DELIVERY, account, region):
            if delivery.spec["TopicArn"] == topic.arn:
                store.delete_by_id(DELIVERY, account, region, delivery.id)
        store.delete_by_id(TOPIC, account, region, name)
    return {}


@api.operation("ListTopics")
def list_topics(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    records = ctx.runtime.store.list(TOPIC, ctx.account_id, ctx.region)
    page, token = ctx.runtime.store.paginator.paginate(
        records,
        PAGE_SIZE,
        params.get("NextToken"),
        key=lambda r: r.arn,
        scope="sns:ListTopics",
        code="InvalidParameter",
        message="Invalid parameter: NextToken",
    )
    result: dict[str, Any] = {"Topics": [{"TopicArn": record.arn} for record in page]}
    if token:
        result["NextToken"] = token
    return result


@api.operation("GetTopicAttributes")
def get_topic_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic = get_topic(ctx.runtime, params["TopicArn"])
    subscriptions = topic_subscriptions(ctx.runtime, topic)
    pending = sum(1 for s in subscriptions if s.spec.get("PendingConfirmation"))
    stored = topic.spec.get("Attributes", {})
    attributes = {
        "Policy": default_policy(topic.arn, topic.account),
        "Owner": topic.account,
        "SubscriptionsPending": str(pending),
        "TopicArn": topic.arn,
        "EffectiveDeliveryPolicy": json.dumps(DEFAULT_EFFECTIVE_DELIVERY_POLICY, separators=(",", ":")),
        "SubscriptionsConfirmed": str(len(subscriptions) - pending),
        "DisplayName": "",
        "SubscriptionsDeleted": str(topic.status.get("SubscriptionsDeleted", 0)),
    }
    if topic.name and topic.name.endswith(".fifo"):
        attributes["FifoTopic"] = "true"
        attributes["ContentBasedDeduplication"] = "false"
    attributes.update(stored)
    if "DeliveryPolicy" in stored:
        attributes["EffectiveDeliveryPolicy"] = stored["DeliveryPolicy"]
    return {"Attributes": attributes}


@api.operation("SetTopicAttributes")
def set_topic_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name, value = params["AttributeName"], params.get("AttributeValue") or ""
    if name in ("FifoTopic",) or name not in TOPIC_ATTRIBUTES:
        raise invalid("AttributeName")
    _check_attributes({name: value}, creating=False)
    store = ctx.runtime.store
    with store.transaction():
        topic = get_topic(ctx.runtime, params["TopicArn"])
        attributes = dict(topic.spec.get("Attributes", {}))
        attributes[name] = value
        store.update(topic, spec={**topic.spec, "Attributes": attributes})
    return {}


@api.operation("TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        topic = _tagged_topic(ctx, params["ResourceArn"])
        store.update(topic, tags=apply_tags(topic.tags, tags_from_list(params["Tags"]), SNS_TAG_RULES))
    return {}


@api.operation("UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        topic = _tagged_topic(ctx, params["ResourceArn"])
        removals = [(key, None) for key in params["TagKeys"]]
        store.update(topic, tags=remove_tags(topic.tags, removals, SNS_TAG_RULES))
    return {}


@api.operation("ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": tags_to_list(_tagged_topic(ctx, params["ResourceArn"]).tags)}


def _tagged_topic(ctx: RequestContext, resource_arn: str) -> Record:
    try:
        return get_topic(ctx.runtime, resource_arn)
    except AwsError as error:
        if error.code == "NotFound":
            raise AwsError("ResourceNotFound", "Resource does not exist", 404) from None
        raise


def _default_attribute(name: str) -> str | None:
    return {"FifoTopic": "false", "DisplayName": "", "SignatureVersion": "1"}.get(name)


def _check_attributes(attributes: dict[str, str], *, creating: bool) -> None:
    for name, value in attributes.items():
        if name not in TOPIC_ATTRIBUTES:
            raise invalid("AttributeName")
        if name == "SignatureVersion" and value not in ("1", "2"):
            raise invalid("SignatureVersion")
        if name == "DisplayName" and len(value) > 100:
            raise invalid("DisplayName")
        if name in ("DeliveryPolicy", "Policy", "DataProtectionPolicy", "ArchivePolicy") and value:
            try:
                json.loads(value)
            except ValueError:
                raise invalid(f"{name}: failed to parse JSON") from None
