"""ImportCertificate: new certificates, and re-import over an existing ARN (which keeps the ARN)."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.acm.material import invalid, parse_material
from onebox.services.acm.model import (
    CERTIFICATE,
    certificate_arn,
    find_certificate,
    new_certificate_id,
    not_found,
)
from onebox.services.acm.tagging import ACM_TAG_RULES, tags_from_request
from onebox.store.tags import apply_tags

api = ServiceApi("acm")


@api.operation("ImportCertificate")
def import_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    now = ctx.runtime.clock.time()
    material = parse_material(
        params["Certificate"], params["PrivateKey"], params.get("CertificateChain"), now
    )
    spec = {
        "Certificate": material.certificate,
        "CertificateChain": material.chain,
        "PrivateKey": material.private_key,
        "Details": material.details,
        "ImportedAt": now,
    }
    store = ctx.runtime.store
    existing_arn = params.get("CertificateArn")
    if existing_arn:
        if params.get("Tags"):
            # ACM: "Tags can only be specified when importing a new certificate" (re-import keeps them).
            raise AwsError(
                "InvalidParameterException", "You cannot specify tags when reimporting a certificate.", 400
            )
        with store.transaction():
            record = find_certificate(ctx.runtime, ctx.account_id, ctx.region, existing_arn)
            if record is None:
                raise not_found(existing_arn)
            _check_reimport(record.spec["Details"], material.details)
            store.update(record, spec=spec)
        return {"CertificateArn": record.arn}
    tags = apply_tags({}, tags_from_request(params.get("Tags")), ACM_TAG_RULES)
    cert_id = new_certificate_id()
    arn = certificate_arn(ctx.region, ctx.account_id, cert_id)
    store.create(
        CERTIFICATE,
        ctx.account_id,
        ctx.region,
        cert_id,
        arn=arn,
        spec=spec,
        status={"InUseBy": []},
        tags=tags,
    )
    return {"CertificateArn": arn}


def _check_reimport(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A re-import may not add KeyUsage / ExtendedKeyUsage extensions the first import lacked
    (losing client authentication is allowed, as ACM documents)."""
    if new["KeyUsages"] and not old["KeyUsages"]:
        raise invalid(
            "The certificate cannot be reimported: it adds a KeyUsage extension the previous one lacked."
        )
    if new["ExtendedKeyUsages"] and not old["ExtendedKeyUsages"]:
        raise invalid(
            "The certificate cannot be reimported: it adds an ExtendedKeyUsage extension the previous one lacked."
        )
