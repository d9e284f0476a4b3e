"""Buckets: create, delete, head, list, location, tagging, versioning configuration."""

from __future__ import annotations

import secrets
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.config import REGIONS
from onebox.services.s3.common import (
    BUCKET,
    bucket_for,
    check_bucket_name,
    find_bucket,
    forget_bucket,
    in_thread,
    owner,
    remember_bucket,
    storage,
    timestamp,
)
from onebox.store import AlreadyExists, Conflict, NameScope, NotFound, Record

api = ServiceApi("s3")

_ALREADY_EXISTS = (
    "The requested bucket name is not available. The bucket namespace is shared by all users of the system."
    " Please select a different name and try again."
)


@api.operation("CreateBucket")
def create_bucket(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["Bucket"]
    check_bucket_name(name)
    if ctx.account_id == "anonymous":
        raise AwsError("AccessDenied", "Anonymous users cannot create buckets", 403)
    configuration = params.get("CreateBucketConfiguration") or {}
    location = configuration.get("LocationConstraint")
    region = _bucket_region(ctx.region, location)
    acl = params.get("ACL") or "private"
    existing = find_bucket(ctx, name)
    if existing is not None:
        _already_exists(ctx, existing)
        return {"Location": f"/{name}"}
    ownership = params.get("ObjectOwnership") or "BucketOwnerEnforced"
    if ownership == "BucketOwnerEnforced" and acl not in ("private", "bucket-owner-full-control"):
        raise AwsError(
            "InvalidBucketAclWithObjectOwnership",
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
            400,
        )
    if acl in ("public-read", "public-read-write", "authenticated-read"):
        # New buckets start with every Block Public Access setting on (AWS's default since April 2023).
        raise AwsError(
            "InvalidBucketAclWithBlockPublicAccessError",
            "Bucket cannot have public ACLs set with BlockPublicAccess enabled",
            400,
        )
    spec = {
        "Id": secrets.token_hex(12),
        "Region": region,
        "ACL": acl,
        "ObjectOwnership": ownership,
        "PublicAccessBlock": {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    }
    try:
        created = ctx.runtime.store.create(
            BUCKET,
            ctx.account_id,
            "",
            name,
            arn=f"arn:aws:s3:::{name}",
            name=name,
            name_scope=NameScope.GLOBAL,
            spec=spec,
        )
        remember_bucket(ctx, created)
    except AlreadyExists as error:
        if error.existing is None:
            raise AwsError(
                "BucketAlreadyExists", _ALREADY_EXISTS, 409, fields={"BucketName": name}
            ) from error
        _already_exists(ctx, error.existing)
    location_header = f"/{name}" if region == "us-east-1" else f"http://{name}.s3.localhost/"
    return {"Location": location_header, "BucketArn": f"arn:aws:s3:::{name}"}


def _already_exists(ctx: RequestContext, existing: Record) -> None:
    name = existing.id
    if existing.account != ctx.account_id:
        raise AwsError("BucketAlreadyExists", _ALREADY_EXISTS, 409, fields={"BucketName": name})
    # us-east-1 keeps its legacy answer: re-creating your own bucket there succeeds.
    if ctx.region != "us-east-1" or existing.spec.get("Region") != "us-east-1":
        raise AwsError(
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
            409,
            fields={"BucketName": name},
        )


def _bucket_region(request_region: str, location: str | None) -> str:
    if location == "us-east-1":
        raise AwsError(
            "InvalidLocationConstraint",
            "The specified location-constraint is not valid",
            400,
            fields={"LocationConstraint": location},
        )
    if location and location not in REGIONS and location != "EU":
        raise AwsError(
            "InvalidLocationConstraint",
            "The specified location-constraint is not valid",
            400,
            fields={"LocationConstraint": location},
        )
    if location == "EU":
        location = "eu-west-1"
    if request_region == "us-east-1":
        # The us-east-1 (global) endpoint creates buckets in any Region.
        return location or "us-east-1"
    if location != request_region:
        described = location or "unspecified"
        raise AwsError(
            "IllegalLocationConstraintException",
            f"The {described} location constraint is incompatible for the region specific endpoint this"
            " request was sent to.",
            400,
        )
    return location


@api.operation("DeleteBucket")
async def delete_bucket(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:DeleteBucket")
    objects = storage(ctx.runtime)
    if await in_thread(objects.has_versions, bucket.spec["Id"]):
        raise AwsError(
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty",
            409,
            fields={"BucketName": bucket.id},
        )
    try:
        ctx.runtime.store.delete(bucket)
        forget_bucket(ctx, bucket.id)
    except NotFound:
        forget_bucket(ctx, bucket.id)
        raise AwsError("NoSuchBucket", "The specified bucket does not exist", 404) from None
    blobs = await in_thread(objects.drop_bucket, bucket.spec["Id"])
    await in_thread(objects.remove_blobs, blobs)
    return {}


@api.operation("HeadBucket")
def head_bucket(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:ListBucket")
    return {"BucketRegion": bucket.spec["Region"], "BucketArn": bucket.arn}


@api.operation("ListBuckets")
def list_buckets(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if ctx.account_id == "anonymous":
        raise AwsError("AccessDenied", "Access Denied", 403)
    records = sorted(ctx.runtime.store.list(BUCKET, ctx.account_id, ""), key=lambda record: record.id)
    prefix = params.get("Prefix") or ""
    region = params.get("BucketRegion")
    records = [r for r in records if r.id.startswith(prefix) and (not region or r.spec["Region"] == region)]
    token = params.get("ContinuationToken")
    if token:
        records = [r for r in records if r.id > token]
    limit = params.get("MaxBuckets") or 10000
    page = records[:limit]
    output: dict[str, Any] = {
        "Buckets": [
            {
                "Name": r.id,
                "CreationDate": timestamp(r.created_at.timestamp()),
                "BucketRegion": r.spec["Region"],
            }
            for r in page
        ],
        "Owner": owner(ctx.account_id),
    }
    if prefix:
        output["Prefix"] = prefix
    if len(records) > limit:
        output["ContinuationToken"] = page[-1].id
    return output


@api.operation("GetBucketLocation")
def get_bucket_location(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:GetBucketLocation")
    region = bucket.spec["Region"]
    return {"LocationConstraint": None if region == "us-east-1" else region}


# -- tagging ---------------------------------------------------------------------------------------


@api.operation("PutBucketTagging")
def put_bucket_tagging(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.s3.tagging import check_tag_set

    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketTagging")
    tags = check_tag_set(params["Tagging"].get("TagSet") or [], limit=50)
    update_bucket(ctx, bucket, tags=tags)
    return {}


@api.operation("GetBucketTagging")
def get_bucket_tagging(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:GetBucketTagging")
    if not bucket.tags:
        raise AwsError("NoSuchTagSet", "The TagSet does not exist", 404, fields={"BucketName": bucket.id})
    return {"TagSet": [{"Key": key, "Value": value} for key, value in bucket.tags.items()]}


@api.operation("DeleteBucketTagging")
def delete_bucket_tagging(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketTagging")
    update_bucket(ctx, bucket, tags={})
    return {}


# -- versioning ------------------------------------------------------------------------------------


@api.operation("PutBucketVersioning")
def put_bucket_versioning(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketVersioning")
    status = (params.get("VersioningConfiguration") or {}).get("Status")
    if status not in ("Enabled", "Suspended"):
        raise AwsError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
            400,
        )
    update_bucket(ctx, bucket, Versioning=status)
    return {}


@api.operation("GetBucketVersioning")
def get_bucket_versioning(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:GetBucketVersioning")
    status = bucket.spec.get("Versioning")
    return {"Status": status} if status else {}


def update_bucket(
    ctx: RequestContext, bucket: Record, *, tags: dict[str, str] | None = None, **changes: Any
) -> Record:
    """Change bucket settings, retrying on a concurrent writer (settings are independent fields)."""
    store = ctx.runtime.store
    current: Record | None = bucket
    for _ in range(10):
        assert current is not None
        spec = dict(current.spec)
        for name, value in changes.items():
            if value is None:
                spec.pop(name, None)
            else:
                spec[name] = value
        try:
            updated = store.update(current, spec=spec, tags=tags)
            remember_bucket(ctx, updated)
            return updated
        except NotFound:
            forget_bucket(ctx, bucket.id)
            raise AwsError("NoSuchBucket", "The specified bucket does not exist", 404) from None
        except Conflict:
            current = store.get(BUCKET, bucket.account, "", bucket.id)
            if current is None:
                raise AwsError("NoSuchBucket", "The specified bucket does not exist", 404) from None
    raise AwsError(
        "OperationAborted",
        "A conflicting conditional operation is currently in progress against this resource. Please try again.",
        409,
    )
