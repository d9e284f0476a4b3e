"""The resource record, and how unique names are scoped."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class NameScope(enum.Enum):
    """Where a resource's name must be unique (beyond its kind).

    REGION: per account and region (EC2 key pairs, security group names in a VPC's region).
    ACCOUNT: per account, across regions (IAM-style names, CloudFront-like global resources).
    GLOBAL: across all accounts and regions of the partition (S3 bucket names).
    """

    REGION = "region"
    ACCOUNT = "account"
    GLOBAL = "global"

    def key(self, account: str, region: str) -> str:
        """The value stored beside the name; the unique index is on (kind, scope key, name)."""
        if self is NameScope.REGION:
            return f"r/{account}/{region}"
        if self is NameScope.ACCOUNT:
            return f"a/{account}"
        return "g"


@dataclass(frozen=True, slots=True)
class Record:
    """One resource as stored. Each read returns fresh `spec`/`status`/`tags` dicts, so changing them
    changes nothing stored: pass new values to `Store.update`.
    """

    kind: str  # "<service>:<resource>", e.g. "ec2:key-pair"
    account: str
    region: str  # "" for global resources
    id: str
    arn: str
    name: str | None
    spec: dict[str, Any]  # desired state as the API recorded it
    status: dict[str, Any]  # observed state as controllers recorded it
    tags: dict[str, str]  # insertion-ordered, as the API returns them
    version: int  # bumped on every write; the optimistic-concurrency token
    created_at: datetime
    updated_at: datetime
    seq: int = field(default=0, compare=False)  # creation order; a stable pagination key

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.account, self.region, self.id)
