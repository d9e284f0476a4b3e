"""ACM handlers on a ManualClock: statuses over time, material checks, re-import rules."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from onebox.aws.credentials import CredentialStore
from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.clock import ManualClock
from onebox.config import Config
from onebox.runtime import Runtime
from onebox.services.acm import api as acm_api
from onebox.services.acm.model import CERTIFICATE
from onebox.store import Store
from tests.acm_support import key_pem, make_ca, make_certificate, private_key

ACCOUNT, REGION = "000000000000", "us-east-1"
DAY = 86_400


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    clock = ManualClock(time.time())
    store = Store.open(tmp_path / "onebox.db", clock, synchronous="NORMAL")
    yield Runtime(config=Config(state_dir=tmp_path), clock=clock, store=store, credentials=CredentialStore())
    store.close()


def call(runtime: Runtime, operation: str, **params: Any) -> dict[str, Any]:
    ctx = RequestContext(runtime, "acm", operation, ACCOUNT, REGION, "r", HttpRequest("POST", "/"))
    return asyncio.run(acm_api.api.call(ctx, params))


def error_of(runtime: Runtime, operation: str, **params: Any) -> AwsError:
    with pytest.raises(AwsError) as error:
        call(runtime, operation, **params)
    return error.value


def imported(runtime: Runtime, issued: Any, **extra: Any) -> str:
    return call(
        runtime,
        "ImportCertificate",
        Certificate=issued.certificate_bytes,
        PrivateKey=issued.private_key_bytes,
        **extra,
    )["CertificateArn"]


def stored(runtime: Runtime) -> int:
    return runtime.store.count(CERTIFICATE, ACCOUNT, REGION)


def test_status_turns_expired_when_not_after_passes(runtime: Runtime) -> None:
    now = dt.datetime.fromtimestamp(runtime.clock.time(), dt.UTC)
    issued = make_certificate("short.example.com", not_after=now + dt.timedelta(days=2))
    arn = imported(runtime, issued)
    assert call(runtime, "DescribeCertificate", CertificateArn=arn)["Certificate"]["Status"] == "ISSUED"
    runtime.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    assert call(runtime, "DescribeCertificate", CertificateArn=arn)["Certificate"]["Status"] == "EXPIRED"
    assert call(runtime, "ListCertificates")["CertificateSummaryList"][0]["Status"] == "EXPIRED"
    assert call(runtime, "ListCertificates", CertificateStatuses=["ISSUED"])["CertificateSummaryList"] == []
    # An expired certificate can no longer be (re-)imported: the current time must be within validity.
    assert (
        error_of(
            runtime,
            "ImportCertificate",
            CertificateArn=arn,
            Certificate=issued.certificate_bytes,
            PrivateKey=issued.private_key_bytes,
        ).message
        == "The certificate has expired, is not valid."
    )


@pytest.mark.parametrize(
    ("kind", "algorithm"),
    [("rsa1024", "RSA_1024"), ("rsa3072", "RSA_3072"), ("p256", "EC_prime256v1"), ("p521", "EC_secp521r1")],
)
def test_key_algorithms(runtime: Runtime, kind: str, algorithm: str) -> None:
    arn = imported(runtime, make_certificate(f"{kind}.example.com", key_kind=kind))
    detail = call(runtime, "DescribeCertificate", CertificateArn=arn)["Certificate"]
    assert detail["KeyAlgorithm"] == algorithm.replace("_", "-", 1)
    listed = call(runtime, "ListCertificates", Includes={"keyTypes": [algorithm]})["CertificateSummaryList"]
    assert [s["KeyAlgorithm"] for s in listed] == [algorithm]


def test_signature_algorithms_and_names(runtime: Runtime) -> None:
    ca = make_ca("Example Issuing CA", key_kind="p384")
    issued = make_certificate("a.example.com", key_kind="p256", ca=ca, hash_algorithm=hashes.SHA384())
    detail = call(
        runtime,
        "DescribeCertificate",
        CertificateArn=imported(runtime, issued, CertificateChain=issued.chain.encode()),
    )["Certificate"]
    assert detail["SignatureAlgorithm"] == "SHA384WITHECDSA"
    assert detail["Issuer"] == "onebox tests"  # the CA's organisation
    assert detail["SubjectAlternativeNames"] == ["a.example.com"]  # no SAN extension: the CN
    rsa512 = make_certificate("sha512.example.com", hash_algorithm=hashes.SHA512())
    detail = call(runtime, "DescribeCertificate", CertificateArn=imported(runtime, rsa512))["Certificate"]
    assert detail["SignatureAlgorithm"] == "SHA512WITHRSA"


def test_material_errors_store_nothing(runtime: Runtime) -> None:
    good = make_certificate("good.example.com")
    odd_size = private_key("rsa1536", fresh=True)
    odd = make_certificate("odd.example.com", key=odd_size)
    encrypted = odd_size.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    der = serialization.load_pem_private_key(good.private_key_bytes, None)
    cases: dict[str, tuple[bytes, bytes, bytes | None, str]] = {
        "rsa 1536": (odd.certificate_bytes, odd.private_key_bytes, None, "not supported"),
        "encrypted key": (odd.certificate_bytes, encrypted, None, "encrypted"),
        "oversized key": (good.certificate_bytes, good.private_key_bytes + b"\n" * 6000, None, "5120"),
        "der key": (
            good.certificate_bytes,
            der.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            None,
            "not PEM-encoded",
        ),
        "der certificate": (
            __import__("cryptography.x509", fromlist=["x"])
            .load_pem_x509_certificate(good.certificate_bytes)
            .public_bytes(serialization.Encoding.DER),
            good.private_key_bytes,
            None,
            "not PEM-encoded",
        ),
        "chain with garbage around": (
            good.certificate_bytes,
            good.private_key_bytes,
            good.certificate_bytes + b"trailing junk",
            "chain",
        ),
    }
    for what, (certificate, key, chain, text) in cases.items():
        params: dict[str, Any] = {"Certificate": certificate, "PrivateKey": key}
        if chain:
            params["CertificateChain"] = chain
        error = error_of(runtime, "ImportCertificate", **params)
        assert (error.code, error.status) == ("ValidationException", 400), what
        assert text in error.message, (what, error.message)
    assert stored(runtime) == 0


def test_reimport_keeps_arn_and_checks_extensions(runtime: Runtime) -> None:
    key = private_key("p256")
    bare = make_certificate("bare.example.com", key=key)
    arn = imported(runtime, bare)
    first = call(runtime, "DescribeCertificate", CertificateArn=arn)["Certificate"]
    runtime.clock.advance(60)  # type: ignore[attr-defined]
    renewed = make_certificate("bare.example.com", ("bare.example.com", "www.bare.example.com"), key=key)
    assert imported(runtime, renewed, CertificateArn=arn) == arn
    second = call(runtime, "DescribeCertificate", CertificateArn=arn)["Certificate"]
    assert second["ImportedAt"] == first["ImportedAt"] + 60
    assert second["Serial"] != first["Serial"] and stored(runtime) == 1
    # A bad re-import changes nothing.
    assert (
        error_of(
            runtime,
            "ImportCertificate",
            CertificateArn=arn,
            Certificate=b"junk",
            PrivateKey=renewed.private_key_bytes,
        ).code
        == "ValidationException"
    )
    assert call(runtime, "DescribeCertificate", CertificateArn=arn)["Certificate"] == second


def test_key_material_never_leaves_the_api(runtime: Runtime) -> None:
    issued = make_certificate("secret.example.com", key_kind="p384")
    arn = imported(runtime, issued, Tags=[{"Key": "a", "Value": "b"}])
    secret = key_pem(serialization.load_pem_private_key(issued.private_key_bytes, None)).split("\n")[1]
    answers = [
        call(runtime, "DescribeCertificate", CertificateArn=arn),
        call(runtime, "GetCertificate", CertificateArn=arn),
        call(runtime, "ListCertificates", Includes={"keyTypes": ["EC_secp384r1"]}),
        call(runtime, "ListTagsForCertificate", CertificateArn=arn),
    ]
    assert secret not in repr(answers) and "PRIVATE KEY" not in repr(answers)
    assert (
        error_of(runtime, "ExportCertificate", CertificateArn=arn, Passphrase=b"x" * 8).code
        == "ValidationException"
    )


def test_list_sorting_and_page_token_scope(runtime: Runtime) -> None:
    arns = [imported(runtime, make_certificate(f"n{i}.example.com")) for i in range(3)]
    ascending = call(runtime, "ListCertificates", SortBy="CREATED_AT", SortOrder="ASCENDING")
    assert [s["CertificateArn"] for s in ascending["CertificateSummaryList"]] == arns
    descending = call(runtime, "ListCertificates", SortBy="CREATED_AT", SortOrder="DESCENDING", MaxItems=2)
    assert [s["CertificateArn"] for s in descending["CertificateSummaryList"]] == arns[::-1][:2]
    rest = call(
        runtime,
        "ListCertificates",
        SortBy="CREATED_AT",
        SortOrder="DESCENDING",
        NextToken=descending["NextToken"],
    )
    assert [s["CertificateArn"] for s in rest["CertificateSummaryList"]] == [arns[0]]
    assert (
        error_of(runtime, "ListCertificates", NextToken=descending["NextToken"]).code
        == "InvalidArgsException"
    )
