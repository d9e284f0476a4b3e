"""AddTagsToCertificate, RemoveTagsFromCertificate, ListTagsForCertificate (ACM's tag rules)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.acm.model import get_certificate
from onebox.store.tags import TagRules, apply_tags, is_reserved, remove_tags

api = ServiceApi("acm")

ACM_TAG_RULES = TagRules(code="InvalidTagException", limit_code="TooManyTagsException")


def tags_from_request(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """ACM tags may have no value; stored as "" and listed without Value (as ACM does)."""
    tags: dict[str, str] = {}
    for item in items or ():
        key = str(item["Key"])
        if is_reserved(key):
            raise AwsError(
                "InvalidTagException",
                f'Invalid Tag Key: "{key}". AWS internal tags cannot be changed with this API',
                400,
            )
        tags[key] = str(item.get("Value") or "")
    return tags


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} if v else {"Key": k} for k, v in tags.items()]


@api.operation("AddTagsToCertificate")
def add_tags_to_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_certificate(ctx.runtime, ctx.account_id, ctx.region, params["CertificateArn"])
        new = tags_from_request(params["Tags"])
        store.update(record, tags=apply_tags(record.tags, new, ACM_TAG_RULES))
    return {}


@api.operation("RemoveTagsFromCertificate")
def remove_tags_from_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_certificate(ctx.runtime, ctx.account_id, ctx.region, params["CertificateArn"])
        removals: list[tuple[str, str | None]] = []
        for item in params["Tags"]:
            key = str(item["Key"])
            if is_reserved(key):
                raise AwsError(
                    "InvalidTagException",
                    f'Invalid Tag Key: "{key}". AWS internal tags cannot be changed with this API',
                    400,
                )
            # A tag given with a value is only removed if its value matches.
            removals.append((key, str(item["Value"]) if "Value" in item else None))
        store.update(record, tags=remove_tags(record.tags, removals, ACM_TAG_RULES))
    return {}


@api.operation("ListTagsForCertificate")
def list_tags_for_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = get_certificate(ctx.runtime, ctx.account_id, ctx.region, params["CertificateArn"])
    return {"Tags": tag_list(record.tags)}


__all__ = ["ACM_TAG_RULES", "api", "tag_list", "tags_from_request"]
