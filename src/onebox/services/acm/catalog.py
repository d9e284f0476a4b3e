"""DescribeCertificate, ListCertificates, GetCertificate, DeleteCertificate, ExportCertificate."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.acm.certificates import remove_files
from onebox.services.acm.model import CERTIFICATE, certificate_status, get_certificate, in_use_by
from onebox.store import Record

api = ServiceApi("acm")

# ListCertificates without Includes.keyTypes returns only these (ACM's documented default).
DEFAULT_KEY_TYPES = ("RSA_1024", "RSA_2048")
MAX_SUMMARY_NAMES = 100  # SubjectAlternativeNameSummaries holds at most 100 names


@api.operation("DescribeCertificate")
def describe_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = get_certificate(ctx.runtime, ctx.account_id, ctx.region, params["CertificateArn"])
    details = record.spec["Details"]
    return {
        "Certificate": {
            "CertificateArn": record.arn,
            "DomainName": details["DomainName"],
            "SubjectAlternativeNames": details["SubjectAlternativeNames"],
            "Serial": details["Serial"],
            "Subject": details["Subject"],
            "Issuer": details["Issuer"],
            "ImportedAt": record.spec["ImportedAt"],
            "Status": certificate_status(record, ctx.runtime.clock.time()),
            "NotBefore": details["NotBefore"],
            "NotAfter": details["NotAfter"],
            # DescribeCertificate spells the algorithm with a hyphen (RSA-2048, EC-prime256v1);
            # ListCertificates and the Includes filter use the enum (RSA_2048).
            "KeyAlgorithm": details["KeyAlgorithm"].replace("_", "-", 1),
            "SignatureAlgorithm": details["SignatureAlgorithm"],
            "InUseBy": in_use_by(record),
            "Type": "IMPORTED",
            "KeyUsages": details["KeyUsages"],
            "ExtendedKeyUsages": details["ExtendedKeyUsages"],
            "RenewalEligibility": "INELIGIBLE",
            "Options": {"CertificateTransparencyLoggingPreference": "ENABLED"},
        }
    }


@api.operation("ListCertificates")
def list_certificates(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.runtime.clock.time()
    statuses = set(params.get("CertificateStatuses") or ())
    includes = params.get("Includes") or {}
    key_types = set(includes.get("keyTypes") or DEFAULT_KEY_TYPES)
    records = [
        record
        for record in ctx.runtime.store.list(CERTIFICATE, ctx.account_id, ctx.region)
        if (not statuses or certificate_status(record, now) in statuses)
        and record.spec["Details"]["KeyAlgorithm"] in key_types
        and _matches_usages(record, includes)
        and includes.get("managedBy") is None
        and includes.get("exportOption") in (None, "DISABLED")
        and _matches_origin(params)
    ]
    descending = params.get("SortOrder") == "DESCENDING"
    page, token = ctx.runtime.store.paginator.paginate(
        records,
        params.get("MaxItems"),
        params.get("NextToken"),
        key=lambda r: -r.seq if descending else r.seq,
        scope=f"acm:ListCertificates:{sorted(statuses)}:{sorted(key_types)}:{descending}",
        code="InvalidArgsException",
        message="The NextToken is not valid.",
    )
    result: dict[str, Any] = {"CertificateSummaryList": [_summary(record, now) for record in page]}
    if token:
        result["NextToken"] = token
    return result


@api.operation("GetCertificate")
def get_certificate_pem(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = get_certificate(ctx.runtime, ctx.account_id, ctx.region, params["CertificateArn"])
    result = {"Certificate": record.spec["Certificate"]}
    if record.spec.get("CertificateChain"):
        result["CertificateChain"] = record.spec["CertificateChain"]
    return result


@api.operation("DeleteCertificate")
def delete_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    arn = params["CertificateArn"]
    with store.transaction():
        record = get_certificate(ctx.runtime, ctx.account_id, ctx.region, arn)
        if in_use_by(record):
            raise AwsError(
                "ResourceInUseException", f"Certificate {arn} in account {ctx.account_id} is in use.", 400
            )
        store.delete(record)
    remove_files(ctx.runtime, ctx.account_id, ctx.region, record.id)
    return {}


@api.operation("ExportCertificate")
def export_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Only private (ACM PCA) certificates can be exported; imported ones never are."""
    arn = params["CertificateArn"]
    get_certificate(ctx.runtime, ctx.account_id, ctx.region, arn)
    raise AwsError("ValidationException", f"Certificate ARN: {arn} is not a private certificate", 400)


def _matches_usages(record: Record, includes: dict[str, Any]) -> bool:
    details = record.spec["Details"]
    wanted_key = set(includes.get("keyUsage") or ())
    if wanted_key and "ANY" not in wanted_key:
        if not wanted_key & {usage["Name"] for usage in details["KeyUsages"]}:
            return False
    wanted_extended = set(includes.get("extendedKeyUsage") or ())
    if wanted_extended and "ANY" not in wanted_extended:
        have = {usage["Name"] for usage in details["ExtendedKeyUsages"]} or {"NONE"}
        if not wanted_extended & have:
            return False
    return True


def _matches_origin(params: dict[str, Any]) -> bool:
    origins = params.get("CertificateKeyPairOrigins")
    return not origins or "CUSTOMER_PROVIDED" in origins


def _summary(record: Record, now: float) -> dict[str, Any]:
    details = record.spec["Details"]
    names = details["SubjectAlternativeNames"]
    return {
        "CertificateArn": record.arn,
        "DomainName": details["DomainName"],
        "SubjectAlternativeNameSummaries": names[:MAX_SUMMARY_NAMES],
        "HasAdditionalSubjectAlternativeNames": len(names) > MAX_SUMMARY_NAMES,
        "Status": certificate_status(record, now),
        "Type": "IMPORTED",
        "KeyAlgorithm": details["KeyAlgorithm"],
        "KeyUsages": [usage["Name"] for usage in details["KeyUsages"]],
        "ExtendedKeyUsages": [usage["Name"] for usage in details["ExtendedKeyUsages"]],
        "InUse": bool(in_use_by(record)),
        "Exported": False,
        "RenewalEligibility": "INELIGIBLE",
        "NotBefore": details["NotBefore"],
        "NotAfter": details["NotAfter"],
        "ImportedAt": record.spec["ImportedAt"],
    }
