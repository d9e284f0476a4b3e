"""EC2's TagSpecifications: the tags a create call asks for its own resource."""

from __future__ import annotations

from typing import Any

from onebox.aws.errors import AwsError
from onebox.store.tags import EC2_TAG_RULES, apply_tags, tags_from_list


def tags_from_specifications(
    specifications: list[dict[str, Any]] | None, resource_type: str
) -> dict[str, str]:
    """Tags for `resource_type` with EC2's limits; a specification for another type is refused as EC2 does."""
    tags: dict[str, str] = {}
    for specification in specifications or []:
        kind = specification.get("ResourceType")
        if kind != resource_type:
            raise AwsError(
                "InvalidParameterValue",
                f"'{kind}' is not a valid taggable resource type for this operation.",
            )
        tags = apply_tags(tags, tags_from_list(specification.get("Tags")), EC2_TAG_RULES)
    return tags
