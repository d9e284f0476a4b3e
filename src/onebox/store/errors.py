"""Store exceptions. They are not AwsErrors: each service maps them to its own codes, and one that
escapes unmapped becomes a 500, which is the bug it is."""

from __future__ import annotations

from onebox.store.records import Record


class StoreError(Exception):
    pass


class AlreadyExists(StoreError):
    """A record with this id, or this name in its scope, exists. `existing` lets S3 tell
    BucketAlreadyOwnedByYou from BucketAlreadyExists."""

    def __init__(self, kind: str, field: str, value: str, existing: Record | None) -> None:
        super().__init__(f"{kind} with {field} {value!r} already exists")
        self.kind = kind
        self.field = field  # "id" or "name"
        self.value = value
        self.existing = existing


class NotFound(StoreError):
    def __init__(self, kind: str, account: str, region: str, id: str) -> None:
        super().__init__(f"{kind} {id!r} not found in {account}/{region or '-'}")
        self.kind = kind
        self.account = account
        self.region = region
        self.id = id


class Conflict(StoreError):
    """The record changed since it was read (optimistic concurrency); re-read and retry."""

    def __init__(
        self, kind: str, account: str, region: str, id: str, expected_version: int, current_version: int
    ) -> None:
        super().__init__(f"{kind} {id!r} is at version {current_version}, not {expected_version} as read")
        self.kind = kind
        self.account = account
        self.region = region
        self.id = id
        self.expected_version = expected_version
        self.current_version = current_version


class Busy(StoreError):
    """Another writer held the database longer than the busy timeout."""
