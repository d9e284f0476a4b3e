"""Bucket policy, Block Public Access, object ownership and ACL operations."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.s3 import access, policy
from onebox.services.s3.buckets import update_bucket
from onebox.services.s3.common import bucket_for, canonical_user_id, in_thread, owner, storage
from onebox.store import Record

api = ServiceApi("s3")

BPA_FIELDS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


@api.operation("PutBucketPolicy")
def put_bucket_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketPolicy")
    text = params["Policy"]
    document = policy.parse_policy(text, bucket.id)
    block = bucket.spec.get("PublicAccessBlock") or {}
    if block.get("BlockPublicPolicy") and policy.is_public(document):
        raise AwsError(
            "AccessDenied",
            f"User: arn:aws:iam::{ctx.account_id}:root is not authorized to perform: s3:PutBucketPolicy on"
            f' resource: "arn:aws:s3:::{bucket.id}" because public policies are blocked by the'
            " BlockPublicPolicy block public access setting.",
            403,
        )
    update_bucket(ctx, bucket, Policy=text)
    return {}


@api.operation("GetBucketPolicy")
def get_bucket_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:GetBucketPolicy")
    if not bucket.spec.get("Policy"):
        raise AwsError(
            "NoSuchBucketPolicy", "The bucket policy does not exist", 404, fields={"BucketName": bucket.id}
        )
    return {"Policy": bucket.spec["Policy"]}


@api.operation("DeleteBucketPolicy")
def delete_bucket_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:DeleteBucketPolicy")
    update_bucket(ctx, bucket, Policy=None)
    return {}


@api.operation("GetBucketPolicyStatus")
def get_bucket_policy_status(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:GetBucketPolicyStatus")
    document = access.bucket_policy(bucket)
    if document is None:
        raise AwsError(
            "NoSuchBucketPolicy", "The bucket policy does not exist", 404, fields={"BucketName": bucket.id}
        )
    return {"PolicyStatus": {"IsPublic": policy.is_public(document)}}


@api.operation("PutPublicAccessBlock")
def put_public_access_block(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketPublicAccessBlock")
    configuration = params.get("PublicAccessBlockConfiguration") or {}
    update_bucket(ctx, bucket, PublicAccessBlock={name: bool(configuration.get(name)) for name in BPA_FIELDS})
    return {}


@api.operation("GetPublicAccessBlock")
def get_public_access_block(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:GetBucketPublicAccessBlock")
    block = bucket.spec.get("PublicAccessBlock")
    if block is None:
        raise AwsError(
            "NoSuchPublicAccessBlockConfiguration",
            "The public access block configuration was not found",
            404,
            fields={"BucketName": bucket.id},
        )
    return {"PublicAccessBlockConfiguration": block}


@api.operation("DeletePublicAccessBlock")
def delete_public_access_block(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketPublicAccessBlock")
    update_bucket(ctx, bucket, PublicAccessBlock=None)
    return {}


@api.operation("PutBucketOwnershipControls")
def put_bucket_ownership_controls(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketOwnershipControls")
    rules = (params.get("OwnershipControls") or {}).get("Rules") or []
    if len(rules) != 1:
        raise AwsError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
            400,
        )
    ownership = rules[0]["ObjectOwnership"]
    if ownership == "BucketOwnerEnforced" and bucket.spec.get("ACL", "private") not in (
        "private",
        "bucket-owner-full-control",
    ):
        raise AwsError(
            "InvalidBucketAclWithObjectOwnership",
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
            400,
        )
    update_bucket(ctx, bucket, ObjectOwnership=ownership)
    return {}


@api.operation("GetBucketOwnershipControls")
def get_bucket_ownership_controls(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:GetBucketOwnershipControls")
    ownership = bucket.spec.get("ObjectOwnership")
    if ownership is None:
        raise AwsError(
            "OwnershipControlsNotFoundError",
            "The bucket ownership controls were not found",
            404,
            fields={"BucketName": bucket.id},
        )
    return {"OwnershipControls": {"Rules": [{"ObjectOwnership": ownership}]}}


@api.operation("DeleteBucketOwnershipControls")
def delete_bucket_ownership_controls(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketOwnershipControls")
    # Without ownership controls, a bucket behaves as ObjectWriter (ACLs enabled).
    update_bucket(ctx, bucket, ObjectOwnership="ObjectWriter")
    return {}


def acl_grants(account: str, acl: str) -> dict[str, Any]:
    """A canned ACL as the AccessControlPolicy S3 returns for it."""
    full = {
        "Grantee": {
            "Type": "CanonicalUser",
            "ID": canonical_user_id(account),
            "DisplayName": f"onebox-{account}",
        },
        "Permission": "FULL_CONTROL",
    }
    grants = [full]
    if acl in ("public-read", "public-read-write"):
        grants.append({"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"})
    if acl == "public-read-write":
        grants.append({"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "WRITE"})
    if acl == "authenticated-read":
        grants.append({"Grantee": {"Type": "Group", "URI": AUTHENTICATED_USERS}, "Permission": "READ"})
    return {"Owner": owner(account), "Grants": grants}


def canned_from_policy(document: dict[str, Any]) -> str:
    """The canned ACL an AccessControlPolicy document amounts to (onebox stores canned ACLs only)."""
    permissions = {
        (grant.get("Grantee", {}).get("URI"), grant.get("Permission"))
        for grant in document.get("Grants") or []
    }
    if (ALL_USERS, "WRITE") in permissions:
        return "public-read-write"
    if (ALL_USERS, "READ") in permissions:
        return "public-read"
    if (AUTHENTICATED_USERS, "READ") in permissions:
        return "authenticated-read"
    return "private"


def _requested_acl(params: dict[str, Any]) -> str:
    if params.get("ACL"):
        return str(params["ACL"])
    if params.get("AccessControlPolicy"):
        return canned_from_policy(params["AccessControlPolicy"])
    if params.get("GrantRead") and "AllUsers" in params["GrantRead"]:
        return "public-read"
    return "private"


def _check_acl_write(bucket: Record, acl: str) -> None:
    if not access.acls_enabled(bucket) and acl not in ("private", "bucket-owner-full-control"):
        raise AwsError("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)
    if acl in access.PUBLIC_ACLS and (bucket.spec.get("PublicAccessBlock") or {}).get("BlockPublicAcls"):
        raise AwsError("AccessDenied", "Access Denied", 403)


@api.operation("GetBucketAcl")
def get_bucket_acl(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:GetBucketAcl")
    return acl_grants(bucket.account, bucket.spec.get("ACL", "private"))


@api.operation("PutBucketAcl")
def put_bucket_acl(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = bucket_for(ctx, params["Bucket"], "s3:PutBucketAcl")
    acl = _requested_acl(params)
    _check_acl_write(bucket, acl)
    update_bucket(ctx, bucket, ACL=acl)
    return {}


@api.operation("GetObjectAcl")
def get_object_acl(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.s3.objects import find_version

    bucket = bucket_for(ctx, params["Bucket"], "s3:GetObjectAcl", params["Key"])
    version = find_version(ctx, bucket, params["Key"], params.get("VersionId"))
    return acl_grants(version.info.get("Owner", bucket.account), version.info.get("ACL", "private"))


@api.operation("PutObjectAcl")
async def put_object_acl(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.s3.objects import find_version

    bucket = bucket_for(ctx, params["Bucket"], "s3:PutObjectAcl", params["Key"])
    version = find_version(ctx, bucket, params["Key"], params.get("VersionId"))
    acl = _requested_acl(params)
    _check_acl_write(bucket, acl)
    info = {**version.info, "ACL": acl}
    await in_thread(storage(ctx.runtime).set_info, version.bucket, version.key, version.version_id, info)
    return {}
