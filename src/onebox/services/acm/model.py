"""How certificates are stored and found: the record kind, ARNs, statuses and ACM's lookup errors.

One record per certificate, kind `acm:certificate`, id = the UUID at the end of its ARN.
spec: Certificate / CertificateChain / PrivateKey (PEM; the key is never returned by any API),
      Details (the parsed facts, see material.py), ImportedAt (epoch seconds).
status: InUseBy (ARNs of the resources using it: see certificates.mark_in_use).
"""

from __future__ import annotations

import re
import uuid

from onebox.aws.errors import AwsError
from onebox.runtime import Runtime
from onebox.store import Record
from onebox.store.ids import arn

CERTIFICATE = "acm:certificate"
ARN_RESOURCE = re.compile(r"^certificate/([0-9A-Za-z][0-9A-Za-z-]{0,127})$")


def new_certificate_id() -> str:
    return str(uuid.uuid4())


def certificate_arn(region: str, account: str, certificate_id: str) -> str:
    return arn("acm", region, account, f"certificate/{certificate_id}")


def invalid_arn(value: str) -> AwsError:
    return AwsError("InvalidArnException", f"String '{value}' is not a valid ARN.", 400)


def not_found(value: str, account: str | None = None) -> AwsError:
    suffix = f" in account {account}" if account else ""
    return AwsError("ResourceNotFoundException", f"Could not find certificate {value}{suffix}.", 400)


def certificate_id(value: str) -> tuple[str, str, str]:
    """(account, region, id) named by a certificate ARN; InvalidArnException if it names none."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "acm" or not parts[1]:
        raise invalid_arn(value)
    match = ARN_RESOURCE.match(parts[5])
    if match is None or not parts[3] or not parts[4].isdigit():
        raise invalid_arn(value)
    return parts[4], parts[3], match.group(1)


def find_certificate(runtime: Runtime, account: str, region: str, value: str) -> Record | None:
    """The certificate `value` names in this account and region, or None (InvalidArnException when
    `value` is not a certificate ARN at all)."""
    arn_account, arn_region, cert_id = certificate_id(value)
    if (arn_account, arn_region) != (account, region):
        return None
    return runtime.store.get(CERTIFICATE, account, region, cert_id)


def get_certificate(runtime: Runtime, account: str, region: str, value: str) -> Record:
    record = find_certificate(runtime, account, region, value)
    if record is None:
        raise not_found(value, account)
    return record


def certificate_status(record: Record, now: float) -> str:
    """Imported certificates are ISSUED until NotAfter passes, then EXPIRED (checked on read)."""
    return "EXPIRED" if now > float(record.spec["Details"]["NotAfter"]) else "ISSUED"


def in_use_by(record: Record) -> list[str]:
    return list(record.status.get("InUseBy") or [])
