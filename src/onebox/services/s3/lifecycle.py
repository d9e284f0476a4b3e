"""Lifecycle rules: the configuration operations, and the sweeper that applies expiration actions.

What is applied (AWS's rules, from the S3 user guide "Lifecycle configuration elements"):
- Expiration Days: an object expires at the first midnight UTC at least N days after it was
  created; Expiration Date: on that day. Expiring a current object deletes it as a plain DELETE
  would (a delete marker in versioned buckets, the null marker when suspended).
- ExpiredObjectDeleteMarker: a delete marker with no other version left is removed.
- NoncurrentVersionExpiration: a noncurrent version goes N days (rounded up to midnight UTC) after
  it became noncurrent, keeping the NewerNoncurrentVersions newest noncurrent ones.
- AbortIncompleteMultipartUpload: uploads started more than N days ago (rounded likewise) go.
- Each expiration is published as an S3 event (`s3:LifecycleExpiration:*`) once committed.
- Transitions are stored and returned; the storage class changes nothing here, so none is applied.
Filters: Prefix, Tag, ObjectSizeGreaterThan/LessThan, And; Disabled rules do nothing.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.controllers import Controller
from onebox.services.s3 import notifications
from onebox.services.s3.buckets import update_bucket
from onebox.services.s3.common import BUCKET, bucket_for, storage, versioning_state
from onebox.services.s3.storage import NULL_VERSION, Version
from onebox.store import Record

if TYPE_CHECKING:
    from onebox.runtime import Runtime

api = ServiceApi("s3")

DAY = 86400.0
MAX_RULES = 1000


@dataclass(frozen=True)
class Expired:
    """One expiration the sweeper applied, for its S3 event notification."""

    name: str  # "LifecycleExpiration:Delete" or "LifecycleExpiration:DeleteMarkerCreated"
    key: str
    version_id: str | None


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidArgument", message, 400)


def _malformed() -> AwsError:
    return AwsError(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
        400,
    )


def _check_rule(rule: dict[str, Any]) -> None:
    if len(rule.get("ID") or "") > 255:
        raise _invalid("ID length should not exceed allowed limit of 255")
    if "Filter" in rule and "Prefix" in rule:
        raise _malformed()
    expiration = rule.get("Expiration") or {}
    if "Days" in expiration and expiration["Days"] <= 0:
        raise _invalid("'Days' for Expiration action must be a positive integer")
    if "Date" in expiration:
        date = expiration["Date"]
        if (date.hour, date.minute, date.second, date.microsecond) != (0, 0, 0, 0):
            raise _invalid("'Date' must be at midnight GMT")
    if len({"Days", "Date", "ExpiredObjectDeleteMarker"} & set(expiration)) > 1:
        raise _malformed()
    noncurrent = rule.get("NoncurrentVersionExpiration") or {}
    if "NoncurrentDays" in noncurrent and noncurrent["NoncurrentDays"] <= 0:
        raise _invalid("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer")
    abort = rule.get("AbortIncompleteMultipartUpload") or {}
    if "DaysAfterInitiation" in abort and abort["DaysAfterInitiation"] <= 0:
        raise _invalid(
            "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"
        )
    actions = ("Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload", "Transitions")
    if not any(rule.get(name) for name in (*actions, "NoncurrentVersionTransitions")):
        raise _invalid("At least one action needs to be specified in a rule")


@api.operation("PutBucketLifecycleConfiguration")
def put_bucket_lifecycle_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutLifecycleConfiguration")
    rules = (params.get("LifecycleConfiguration") or {}).get("Rules") or []
    if not rules or len(rules) > MAX_RULES:
        raise _malformed()
    ids = [rule.get("ID") for rule in rules if rule.get("ID")]
    if len(ids) != len(set(ids)):
        raise _invalid("Rule ID must be unique. Found same ID for more than one rule")
    for rule in rules:
        _check_rule(rule)
    stored = []
    for rule in rules:
        copy = dict(rule)
        expiration = dict(copy.get("Expiration") or {})
        if "Date" in expiration:
            expiration["Date"] = expiration["Date"].timestamp()
        if expiration:
            copy["Expiration"] = expiration
        stored.append(copy)
    update_bucket(ctx, bucket, Lifecycle=_jsonable(stored))
    return {
        "TransitionDefaultMinimumObjectSize": params.get("TransitionDefaultMinimumObjectSize")
        or "all_storage_classes_128K"
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


@api.operation("GetBucketLifecycleConfiguration")
def get_bucket_lifecycle_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:GetLifecycleConfiguration")
    rules = bucket.spec.get("Lifecycle")
    if not rules:
        raise AwsError(
            "NoSuchLifecycleConfiguration",
            "The lifecycle configuration does not exist",
            404,
            fields={"BucketName": bucket.id},
        )
    output = []
    for rule in rules:
        copy = dict(rule)
        expiration = dict(copy.get("Expiration") or {})
        if "Date" in expiration:
            expiration["Date"] = datetime.fromtimestamp(expiration["Date"], UTC)
            copy["Expiration"] = expiration
        for name in ("Transitions",):
            if copy.get(name):
                copy[name] = [
                    {**t, "Date": datetime.fromtimestamp(t["Date"], UTC)} if "Date" in t else t
                    for t in copy[name]
                ]
        output.append(copy)
    return {"Rules": output, "TransitionDefaultMinimumObjectSize": "all_storage_classes_128K"}


@api.operation("DeleteBucketLifecycle")
def delete_bucket_lifecycle(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutLifecycleConfiguration")
    update_bucket(ctx, bucket, Lifecycle=None)
    return {}


# -- rule evaluation -----------------------------------------------------------------------------


def _matches(rule: dict[str, Any], version: Version) -> bool:
    if rule.get("Status") != "Enabled":
        return False
    if "Prefix" in rule and "Filter" not in rule:
        return version.key.startswith(rule["Prefix"] or "")
    conditions = rule.get("Filter") or {}
    conditions = {**conditions, **(conditions.get("And") or {})}
    if not version.key.startswith(conditions.get("Prefix") or ""):
        return False
    tags = [conditions["Tag"]] if conditions.get("Tag") else []
    tags += conditions.get("Tags") or []
    for tag in tags:
        if version.tags.get(tag["Key"]) != tag["Value"]:
            return False
    if (
        conditions.get("ObjectSizeGreaterThan") is not None
        and not version.size > conditions["ObjectSizeGreaterThan"]
    ):
        return False
    if (
        conditions.get("ObjectSizeLessThan") is not None
        and not version.size < conditions["ObjectSizeLessThan"]
    ):
        return False
    return True


def due(start: float, days: int) -> float:
    """AWS rounds lifecycle ages up to the next midnight UTC: `start` + `days` days, then midnight."""
    return math.ceil((start + days * DAY) / DAY) * DAY


def _current_expired(rule: dict[str, Any], version: Version, now: float) -> bool:
    expiration = rule.get("Expiration") or {}
    if "Days" in expiration:
        return now >= due(version.last_modified, expiration["Days"])
    if "Date" in expiration:
        return now >= expiration["Date"]
    return False


def sweep_bucket(runtime: Runtime, bucket: Record, events: list[Expired] | None = None) -> int:
    """Apply the bucket's lifecycle rules now (blocking; run in a thread). Returns versions removed
    or expired plus uploads aborted; each expiration is appended to `events` when given."""
    if events is None:
        events = []
    rules = [rule for rule in bucket.spec.get("Lifecycle") or [] if rule.get("Status") == "Enabled"]
    if not rules:
        return 0
    objects = storage(runtime)
    bucket_id = bucket.spec["Id"]
    state = versioning_state(bucket)
    now = runtime.clock.time()
    changed = 0
    by_key: dict[str, list[Version]] = {}
    for version in _all_versions(objects, bucket_id):
        by_key.setdefault(version.key, []).append(version)
    for key, versions in by_key.items():
        versions.sort(key=lambda v: v.seq, reverse=True)  # newest first
        current = versions[0] if versions[0].is_latest else None
        if current is not None and not current.is_marker:
            if any(_matches(rule, current) and _current_expired(rule, current, now) for rule in rules):
                changed += _expire_current(runtime, objects, bucket_id, key, state, now, events)
                versions = sorted(
                    [v for v in _all_versions(objects, bucket_id, key) if v.key == key], key=lambda v: -v.seq
                )
        # Noncurrent versions: each became noncurrent when its successor was written.
        noncurrent_rank = 0
        for index, version in enumerate(versions):
            if version.is_latest:
                continue
            successor = versions[index - 1] if index > 0 else None
            became_noncurrent = successor.last_modified if successor is not None else version.last_modified
            rank = noncurrent_rank
            noncurrent_rank += 1
            for rule in rules:
                expiration = rule.get("NoncurrentVersionExpiration") or {}
                if "NoncurrentDays" not in expiration or not _matches(rule, version):
                    continue
                if rank < (expiration.get("NewerNoncurrentVersions") or 0):
                    continue
                if now >= due(became_noncurrent, expiration["NoncurrentDays"]):
                    _, freed = objects.delete_version(bucket_id, key, version.version_id)
                    objects.remove_blobs(freed)
                    events.append(Expired("LifecycleExpiration:Delete", key, version.version_id))
                    changed += 1
                    break
        remaining = [v for v in _all_versions(objects, bucket_id, key) if v.key == key]
        if len(remaining) == 1 and remaining[0].is_marker:
            for rule in rules:
                if (rule.get("Expiration") or {}).get("ExpiredObjectDeleteMarker") and _matches(
                    rule, remaining[0]
                ):
                    objects.delete_version(bucket_id, key, remaining[0].version_id)
                    events.append(Expired("LifecycleExpiration:Delete", key, remaining[0].version_id))
                    changed += 1
                    break
    for upload in objects.list_uploads(bucket_id):
        probe = Version(bucket_id, upload.key, "", False, False, None, 0, "", upload.initiated)
        for rule in rules:
            abort = rule.get("AbortIncompleteMultipartUpload") or {}
            if "DaysAfterInitiation" in abort and _matches(rule, probe):
                if now >= due(upload.initiated, abort["DaysAfterInitiation"]):
                    try:
                        objects.remove_blobs(objects.finish_upload(upload.upload_id, None, ""))
                    except KeyError:
                        pass
                    changed += 1
                    break
    return changed


def _all_versions(objects: Any, bucket_id: str, prefix: str = "") -> Iterable[Version]:
    after, seq = "", None
    while True:
        batch = objects.list_versions(bucket_id, after, seq, prefix, 1000)
        if not batch:
            return
        yield from batch
        after, seq = batch[-1].key, batch[-1].seq
        if len(batch) < 1000:
            return


def _expire_current(
    runtime: Runtime, objects: Any, bucket_id: str, key: str, state: str, now: float, events: list[Expired]
) -> int:
    if not state:
        _, freed = objects.delete_version(bucket_id, key, NULL_VERSION)
        objects.remove_blobs(freed)
        events.append(Expired("LifecycleExpiration:Delete", key, None))
        return 1
    from onebox.services.s3.objects import new_version_id

    marker = Version(
        bucket=bucket_id,
        key=key,
        version_id=new_version_id() if state == "Enabled" else NULL_VERSION,
        is_latest=True,
        is_marker=True,
        blob=None,
        size=0,
        etag="",
        last_modified=now,
        info={"Owner": "lifecycle"},
    )
    objects.remove_blobs(objects.put(marker, state))
    events.append(Expired("LifecycleExpiration:DeleteMarkerCreated", key, marker.version_id))
    return 1


class LifecycleSweeper(Controller[str]):
    """Applies every bucket's lifecycle rules on each resync, and at once when a bucket changes."""

    name = "s3-lifecycle"
    resync_interval = 600.0
    concurrency = 1

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime

    async def list_keys(self) -> Iterable[str]:
        return [record.id for record in self.runtime.store.list_all(BUCKET) if record.spec.get("Lifecycle")]

    async def reconcile(self, key: str) -> None:
        import asyncio

        record = next((r for r in self.runtime.store.list_all(BUCKET) if r.id == key), None)
        if record is not None and record.spec.get("Lifecycle"):
            events: list[Expired] = []
            await asyncio.to_thread(sweep_bucket, self.runtime, record, events)
            for event in events:  # on the loop, now that the expirations are committed
                notifications.notify_from(
                    self.runtime,
                    record,
                    event.name,
                    event.key,
                    notifications.S3_ORIGIN,
                    version_id=event.version_id,
                )


async def bucket_changes(runtime: Runtime) -> AsyncIterator[str]:
    async for change in runtime.store.changes.subscribe([BUCKET]):
        if not change.deleted:
            yield change.id
