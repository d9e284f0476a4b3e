"""What other services (the load balancer) use of ACM: a certificate as a PEM file, and InUseBy.

    path, names = certificate_pem(runtime, account, region, arn)
        One file `<state>/acm/<account>/<region>/<id>-<digest>.pem` (mode 0600) holding the leaf
        certificate, its chain and the private key, the layout HAProxy's `crt` wants; `names` are the
        certificate's CN and subject alternative names (for SNI). The digest changes when the
        certificate is re-imported, so a configuration that names the file changes too (and a
        reload picks up the new material); the old file stays until the certificate is deleted.
        Writing is idempotent and atomic (temp file + rename).
    require_certificate(runtime, account, region, arn)
        Only the check: CertificateNotFound (below) unless the certificate exists.
    mark_in_use(runtime, account, region, arn, user_arn) / unmark_in_use(...)
        Record or forget that `user_arn` (e.g. a load balancer's ARN) uses the certificate; it
        shows in DescribeCertificate's InUseBy, and DeleteCertificate refuses while it is non-empty.

Unknown certificates (or ARNs that name none) raise AwsError("CertificateNotFound", ...), the error
ELBv2 answers with: "Certificate '<arn>' not found", HTTP 400.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from onebox.aws.errors import AwsError
from onebox.runtime import Runtime
from onebox.services.acm.model import CERTIFICATE, find_certificate
from onebox.store import NotFound, Record


def certificate_not_found(arn: str) -> AwsError:
    return AwsError("CertificateNotFound", f"Certificate '{arn}' not found", 400)


def require_certificate(runtime: Runtime, account: str, region: str, arn: str) -> None:
    """CertificateNotFound unless `arn` names a certificate of this account and region (never ACM's
    own InvalidArnException, so a listener call answers with ELBv2's error)."""
    _lookup(runtime, account, region, arn)


def certificate_pem(runtime: Runtime, account: str, region: str, arn: str) -> tuple[str, tuple[str, ...]]:
    record = _lookup(runtime, account, region, arn)
    spec = record.spec
    bundle = spec["Certificate"] + (spec.get("CertificateChain") or "") + spec["PrivateKey"]
    data = bundle.encode("ascii")
    digest = hashlib.sha256(data).hexdigest()[:16]
    directory = certificates_dir(runtime, account, region)
    path = directory / f"{record.id}-{digest}.pem"
    if not _same_file(path, data):
        _write_private(path, data)
    return str(path), tuple(spec["Details"].get("Names") or ())


def mark_in_use(runtime: Runtime, account: str, region: str, arn: str, user_arn: str) -> None:
    _change_users(runtime, account, region, arn, user_arn, add=True)


def unmark_in_use(runtime: Runtime, account: str, region: str, arn: str, user_arn: str) -> None:
    """Forget one user; a certificate that is gone already is no error (nothing left to forget)."""
    try:
        _change_users(runtime, account, region, arn, user_arn, add=False)
    except AwsError as error:
        if error.code != "CertificateNotFound":
            raise


def certificates_dir(runtime: Runtime, account: str, region: str) -> Path:
    return Path(runtime.config.state_dir) / "acm" / account / region


def remove_files(runtime: Runtime, account: str, region: str, certificate_id: str) -> None:
    """Delete every PEM file written for one certificate (on DeleteCertificate)."""
    directory = certificates_dir(runtime, account, region)
    for path in directory.glob(f"{certificate_id}-*.pem"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _lookup(runtime: Runtime, account: str, region: str, arn: str) -> Record:
    try:
        record = find_certificate(runtime, account, region, arn)
    except AwsError:  # not a certificate ARN at all
        record = None
    if record is None:
        raise certificate_not_found(arn)
    return record


def _change_users(runtime: Runtime, account: str, region: str, arn: str, user_arn: str, *, add: bool) -> None:
    store = runtime.store
    with store.transaction():
        record = _lookup(runtime, account, region, arn)
        users = list(record.status.get("InUseBy") or [])
        if add and user_arn not in users:
            users.append(user_arn)
        elif not add and user_arn in users:
            users.remove(user_arn)
        else:
            return
        try:
            store.update_status(
                CERTIFICATE, account, region, record.id, {**record.status, "InUseBy": sorted(users)}
            )
        except NotFound:
            raise certificate_not_found(arn) from None


def _same_file(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data and (path.stat().st_mode & 0o777) == 0o600
    except OSError:
        return False


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(path.parent.parent.parent, 0o700)  # <state>/acm: nobody else lists the files
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


__all__ = [
    "certificate_not_found",
    "certificate_pem",
    "mark_in_use",
    "remove_files",
    "require_certificate",
    "unmark_in_use",
]
