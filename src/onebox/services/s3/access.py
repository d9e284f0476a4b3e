"""Who may do what: bucket policies, Block Public Access, ACLs, then ownership.

Order, as S3 evaluates a request: an explicit Deny in the bucket policy refuses (the owner may
still manage the policy itself, AWS's lock-out escape); the owner's account may do everything
(onebox has no IAM users: an account's credentials are its root); an Allow in the bucket policy
admits others unless the policy is public and RestrictPublicBuckets is on; otherwise ACLs, when
the bucket's ObjectOwnership enables them and IgnorePublicAcls does not void public grants.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from onebox.aws.dispatch import RequestContext
from onebox.services.s3 import policy
from onebox.services.s3.common import ANONYMOUS, access_denied
from onebox.store import Record

POLICY_ACTIONS = frozenset({"s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"})
# What each canned ACL grants, to whom: "all" (anyone), "authenticated" (any signed caller).
_ACL_BUCKET_GRANTS: dict[str, dict[str, frozenset[str]]] = {
    "public-read": {
        "all": frozenset({"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"})
    },
    "public-read-write": {
        "all": frozenset(
            {
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:ListBucketMultipartUploads",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            }
        )
    },
    "authenticated-read": {"authenticated": frozenset({"s3:ListBucket", "s3:ListBucketVersions"})},
}
_OBJECT_READ = frozenset({"s3:GetObject", "s3:GetObjectVersion"})
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})

_policies: OrderedDict[tuple[str, int], dict[str, Any] | None] = OrderedDict()


def bucket_policy(bucket: Record) -> dict[str, Any] | None:
    """The bucket's parsed policy, cached per record version."""
    text = bucket.spec.get("Policy")
    if not text:
        return None
    cache_key = (bucket.spec["Id"], bucket.version)
    if cache_key in _policies:
        return _policies[cache_key]
    document = policy.parse_policy(text, bucket.id)
    _policies[cache_key] = document
    if len(_policies) > 1024:
        _policies.popitem(last=False)
    return document


def resource_arn(bucket: Record, key: str | None) -> str:
    return f"arn:aws:s3:::{bucket.id}" if key is None else f"arn:aws:s3:::{bucket.id}/{key}"


def caller(ctx: RequestContext) -> str | None:
    return None if ctx.account_id == ANONYMOUS else ctx.account_id


def condition_context(ctx: RequestContext) -> dict[str, Any]:
    """Condition keys of this request (lower-case names, as policy keys compare case-insensitively)."""
    request = ctx.request
    params = request.query_params()
    account = caller(ctx)
    context: dict[str, Any] = {
        "aws:sourceip": request.client_ip,
        "aws:securetransport": "true" if request.scheme == "https" else "false",
        "aws:currenttime": ctx.runtime.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:epochtime": str(int(ctx.runtime.clock.time())),
        "s3:authtype": "REST-QUERY-STRING"
        if "X-Amz-Signature" in params or "Signature" in params
        else "REST-HEADER",
    }
    if account is not None:
        context["aws:principalaccount"] = account
        context["aws:principaltype"] = "Account"
        context["s3:signatureversion"] = "AWS4-HMAC-SHA256"
    # Set by onebox's VPC endpoint data path for requests that arrive through one (never from a header).
    vpce = getattr(request, "source_vpce", None)
    if vpce:
        context["aws:sourcevpce"] = vpce
    for header, key in (
        ("user-agent", "aws:useragent"),
        ("referer", "aws:referer"),
        ("x-amz-acl", "s3:x-amz-acl"),
    ):
        value = request.header(header)
        if value is not None:
            context[key] = value
    for name in ("prefix", "delimiter", "max-keys"):
        if name in params:
            context[f"s3:{name}"] = params[name]
    return context


def decide(ctx: RequestContext, bucket: Record, action: str, key: str | None = None) -> bool:
    """Whether the caller may perform `action` on the bucket (or on `key`), before object ACLs."""
    account = caller(ctx)
    document = bucket_policy(bucket)
    verdict = None
    if document is not None:
        request = policy.Request(action, resource_arn(bucket, key), account, condition_context(ctx))
        verdict = policy.evaluate(document, request)
    if account == bucket.account:
        return verdict != policy.DENY or action in POLICY_ACTIONS
    if verdict == policy.DENY:
        return False
    block = bucket.spec.get("PublicAccessBlock") or {}
    if verdict == policy.ALLOW:
        return not (
            block.get("RestrictPublicBuckets") and document is not None and policy.is_public(document)
        )
    return bucket_acl_allows(ctx, bucket, action)


def acls_enabled(bucket: Record) -> bool:
    return bucket.spec.get("ObjectOwnership", "BucketOwnerEnforced") != "BucketOwnerEnforced"


def _acl_grants(
    ctx: RequestContext, bucket: Record, acl: str, grants: dict[str, dict[str, frozenset[str]]]
) -> frozenset[str]:
    if not acls_enabled(bucket):
        return frozenset()
    block = bucket.spec.get("PublicAccessBlock") or {}
    if acl in PUBLIC_ACLS and block.get("IgnorePublicAcls"):
        return frozenset()
    granted = grants.get(acl, {})
    actions = set(granted.get("all", frozenset()))
    if caller(ctx) is not None:
        actions |= granted.get("authenticated", frozenset())
    return frozenset(actions)


def bucket_acl_allows(ctx: RequestContext, bucket: Record, action: str) -> bool:
    return action in _acl_grants(ctx, bucket, bucket.spec.get("ACL", "private"), _ACL_BUCKET_GRANTS)


def object_acl_allows(ctx: RequestContext, bucket: Record, object_acl: str | None, action: str) -> bool:
    """Object ACLs grant reads: public-read to anyone, authenticated-read to signed callers."""
    if object_acl is None or action not in _OBJECT_READ:
        return False
    grants = {
        "public-read": {"all": _OBJECT_READ},
        "public-read-write": {"all": _OBJECT_READ},
        "authenticated-read": {"authenticated": _OBJECT_READ},
    }
    return action in _acl_grants(ctx, bucket, object_acl, grants)


def authorize(ctx: RequestContext, bucket: Record, action: str, key: str | None = None) -> None:
    """Raise AccessDenied unless the caller may perform `action` on the bucket (or `key` in it)."""
    if not decide(ctx, bucket, action, key):
        raise access_denied()
