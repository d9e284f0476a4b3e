"""ACM over the wire (boto3 and the AWS CLI) against the shared daemon: every operation and error."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest
from botocore.exceptions import ClientError

from tests.acm_support import make_ca, make_certificate, private_key

REGION = "us-east-1"
ACCOUNT = "000000000000"
MISSING = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/12345678-1234-1234-1234-123456789012"


def _error(call, **params) -> ClientError:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as error:
        call(**params)
    return error.value


def _code(error: ClientError) -> tuple[str, int, str]:
    return (
        error.response["Error"]["Code"],
        error.response["ResponseMetadata"]["HTTPStatusCode"],
        error.response["Error"]["Message"],
    )


def test_import_describe_get_list_delete(onebox) -> None:
    acm = onebox.client("acm")
    ca = make_ca("onebox ACM test CA")
    issued = make_certificate("www.example.com", ("www.example.com", "example.com", "127.0.0.1"), ca=ca)
    arn = acm.import_certificate(
        Certificate=issued.certificate_bytes,
        PrivateKey=issued.private_key_bytes,
        CertificateChain=issued.chain.encode(),
        Tags=[{"Key": "team", "Value": "web"}, {"Key": "flag"}],
    )["CertificateArn"]
    assert arn.startswith(f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/")

    detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["DomainName"] == "www.example.com"
    assert detail["SubjectAlternativeNames"] == ["www.example.com", "example.com", "127.0.0.1"]
    assert detail["Subject"] == "CN=www.example.com"
    assert detail["Issuer"] == "onebox tests"
    assert detail["Type"] == "IMPORTED" and detail["Status"] == "ISSUED"
    assert detail["KeyAlgorithm"] == "RSA-2048" and detail["SignatureAlgorithm"] == "SHA256WITHRSA"
    assert detail["InUseBy"] == [] and detail["RenewalEligibility"] == "INELIGIBLE"
    assert {"Name": "DIGITAL_SIGNATURE"} in detail["KeyUsages"]
    assert detail["ExtendedKeyUsages"] == [
        {"Name": "TLS_WEB_SERVER_AUTHENTICATION", "OID": "1.3.6.1.5.5.7.3.1"}
    ]
    assert detail["NotBefore"] < detail["ImportedAt"] < detail["NotAfter"]
    assert len(detail["Serial"].split(":")) >= 8
    assert "PrivateKey" not in json.dumps(detail, default=str)

    got = acm.get_certificate(CertificateArn=arn)
    assert got["Certificate"].strip() == issued.certificate.strip()
    assert got["CertificateChain"].strip() == issued.chain.strip()
    assert "PRIVATE KEY" not in json.dumps(got, default=str)

    summaries = acm.list_certificates()["CertificateSummaryList"]
    mine = [s for s in summaries if s["CertificateArn"] == arn]
    assert mine and mine[0]["DomainName"] == "www.example.com" and mine[0]["KeyAlgorithm"] == "RSA_2048"
    assert mine[0]["SubjectAlternativeNameSummaries"] == ["www.example.com", "example.com", "127.0.0.1"]
    assert mine[0]["InUse"] is False and mine[0]["Type"] == "IMPORTED" and mine[0]["Status"] == "ISSUED"

    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [
        {"Key": "team", "Value": "web"},
        {"Key": "flag"},
    ]
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    acm.remove_tags_from_certificate(
        CertificateArn=arn, Tags=[{"Key": "team", "Value": "other"}, {"Key": "flag"}]
    )
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [
        {"Key": "team", "Value": "web"},
        {"Key": "env", "Value": "prod"},
    ]

    # Re-import over the ARN: same ARN, new material, tags kept.
    renewed = make_certificate("www.example.com", ("api.example.com",), key_kind="p256")
    assert (
        acm.import_certificate(
            CertificateArn=arn, Certificate=renewed.certificate_bytes, PrivateKey=renewed.private_key_bytes
        )["CertificateArn"]
        == arn
    )
    detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["KeyAlgorithm"] == "EC-prime256v1" and detail["SignatureAlgorithm"] == "SHA256WITHECDSA"
    assert detail["SubjectAlternativeNames"] == ["api.example.com"] and detail["Issuer"] == "www.example.com"
    assert "CertificateChain" not in acm.get_certificate(CertificateArn=arn)
    assert len(acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]) == 2

    acm.delete_certificate(CertificateArn=arn)
    assert _code(_error(acm.describe_certificate, CertificateArn=arn))[:2] == (
        "ResourceNotFoundException",
        400,
    )


def test_list_filters_and_pagination(onebox) -> None:
    acm = onebox.client("acm", region_name="eu-west-3")  # a region of its own: nothing else in it
    arns = {}
    for kind in ("rsa2048", "rsa3072", "p256", "p384"):
        issued = make_certificate(f"{kind}.example.org", key_kind=kind)
        arns[kind] = acm.import_certificate(
            Certificate=issued.certificate_bytes, PrivateKey=issued.private_key_bytes
        )["CertificateArn"]
    listed = [s["CertificateArn"] for s in acm.list_certificates()["CertificateSummaryList"]]
    assert listed == [arns["rsa2048"]]  # by default only RSA_1024 and RSA_2048
    every = ["RSA_2048", "RSA_3072", "EC_prime256v1", "EC_secp384r1"]
    pages = list(
        acm.get_paginator("list_certificates").paginate(
            Includes={"keyTypes": every}, PaginationConfig={"PageSize": 3}
        )
    )
    assert [len(p["CertificateSummaryList"]) for p in pages] == [3, 1]
    assert "NextToken" in pages[0] and "NextToken" not in pages[1]
    assert sorted(s["KeyAlgorithm"] for p in pages for s in p["CertificateSummaryList"]) == sorted(every)
    ec = acm.list_certificates(Includes={"keyTypes": ["EC_secp384r1"]})["CertificateSummaryList"]
    assert [s["CertificateArn"] for s in ec] == [arns["p384"]]
    assert (
        acm.list_certificates(CertificateStatuses=["EXPIRED"], Includes={"keyTypes": every})[
            "CertificateSummaryList"
        ]
        == []
    )
    assert (
        len(
            acm.list_certificates(
                CertificateStatuses=["ISSUED"],
                Includes={"keyTypes": every, "extendedKeyUsage": ["TLS_WEB_SERVER_AUTHENTICATION"]},
            )["CertificateSummaryList"]
        )
        == 4
    )
    assert (
        acm.list_certificates(Includes={"keyTypes": every, "keyUsage": ["CRL_SIGNING"]})[
            "CertificateSummaryList"
        ]
        == []
    )
    bad = _error(acm.list_certificates, NextToken="garbage")
    assert _code(bad)[:2] == ("InvalidArgsException", 400)
    bad = _error(acm.list_certificates, Includes={"keyTypes": ["RSA_512"]})
    assert _code(bad)[:2] == ("ValidationException", 400)
    for arn in arns.values():
        acm.delete_certificate(CertificateArn=arn)


def test_bad_material_is_rejected_and_nothing_stored(onebox) -> None:
    acm = onebox.client("acm", region_name="ap-south-2")
    good = make_certificate("good.example.com")
    other_key = make_certificate(
        "other.example.com", key=private_key("rsa2048", fresh=True)
    ).private_key_bytes
    now = dt.datetime.now(dt.UTC)
    expired = make_certificate(
        "old.example.com", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )
    future = make_certificate("soon.example.com", not_before=now + dt.timedelta(days=2))
    k256 = make_certificate("k.example.com", key_kind="k256")
    cases = {
        "certificate that does not parse": dict(
            Certificate=b"not a certificate", PrivateKey=good.private_key_bytes
        ),
        "key that does not parse": dict(Certificate=good.certificate_bytes, PrivateKey=b"not a key"),
        "key of another certificate": dict(Certificate=good.certificate_bytes, PrivateKey=other_key),
        "two certificates in one field": dict(
            Certificate=good.certificate_bytes + expired.certificate_bytes, PrivateKey=good.private_key_bytes
        ),
        "chain that does not parse": dict(
            Certificate=good.certificate_bytes, PrivateKey=good.private_key_bytes, CertificateChain=b"junk"
        ),
        "expired certificate": dict(
            Certificate=expired.certificate_bytes, PrivateKey=expired.private_key_bytes
        ),
        "certificate not yet valid": dict(
            Certificate=future.certificate_bytes, PrivateKey=future.private_key_bytes
        ),
        "unsupported curve": dict(Certificate=k256.certificate_bytes, PrivateKey=k256.private_key_bytes),
    }
    for what, params in cases.items():
        code, status, message = _code(_error(acm.import_certificate, **params))
        assert (code, status) == ("ValidationException", 400), what
        assert message, what
    assert "does not match" in _code(_error(acm.import_certificate, **cases["key of another certificate"]))[2]
    assert "expired" in _code(_error(acm.import_certificate, **cases["expired certificate"]))[2]
    assert (
        acm.list_certificates(Includes={"keyTypes": ["RSA_2048", "EC_secp256k1"][:1]})[
            "CertificateSummaryList"
        ]
        == []
    )

    # Re-import over an unknown ARN, or with tags.
    code, status, message = _code(
        _error(
            acm.import_certificate,
            CertificateArn=MISSING,
            Certificate=good.certificate_bytes,
            PrivateKey=good.private_key_bytes,
        )
    )
    assert (code, status) == ("ResourceNotFoundException", 400) and MISSING in message
    assert acm.list_certificates()["CertificateSummaryList"] == []


def test_arn_and_lookup_errors(onebox) -> None:
    acm = onebox.client("acm")
    code, status, message = _code(_error(acm.describe_certificate, CertificateArn=MISSING))
    assert (code, status) == ("ResourceNotFoundException", 400)
    assert message == f"Could not find certificate {MISSING} in account {ACCOUNT}."
    for call in (acm.get_certificate, acm.delete_certificate, acm.list_tags_for_certificate):
        assert _code(_error(call, CertificateArn=MISSING))[0] == "ResourceNotFoundException"
    wrong_kind = f"arn:aws:acm:{REGION}:{ACCOUNT}:loadbalancer/x"
    assert _code(_error(acm.describe_certificate, CertificateArn=wrong_kind))[:2] == (
        "InvalidArnException",
        400,
    )
    assert _code(_error(acm.describe_certificate, CertificateArn="not-an-arn-at-all-xxxxx"))[:2] == (
        "ValidationException",
        400,
    )
    other_region = MISSING.replace(REGION, "eu-west-1")
    assert (
        _code(_error(acm.describe_certificate, CertificateArn=other_region))[0] == "ResourceNotFoundException"
    )
    assert _code(_error(acm.add_tags_to_certificate, CertificateArn=MISSING, Tags=[{"Key": "a"}]))[0] == (
        "ResourceNotFoundException"
    )


def test_in_use_tags_and_export_errors(onebox) -> None:
    from onebox.services.acm import certificates  # noqa: F401 - the module elbv2 calls exists

    acm = onebox.client("acm")
    issued = make_certificate("tags.example.com")
    arn = acm.import_certificate(Certificate=issued.certificate_bytes, PrivateKey=issued.private_key_bytes)[
        "CertificateArn"
    ]
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    # 51 in one call breaks the model's list limit; 50 + 1 breaks the per-certificate limit.
    assert _code(_error(acm.add_tags_to_certificate, CertificateArn=arn, Tags=too_many))[:2] == (
        "ValidationException",
        400,
    )
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=too_many[:50])
    code, status, _ = _code(_error(acm.add_tags_to_certificate, CertificateArn=arn, Tags=[{"Key": "x"}]))
    assert (code, status) == ("TooManyTagsException", 400)
    acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": t["Key"]} for t in too_many[:50]])
    assert (
        _code(_error(acm.add_tags_to_certificate, CertificateArn=arn, Tags=[{"Key": "aws:x", "Value": "v"}]))[
            0
        ]
        == "InvalidTagException"
    )
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == []
    assert _code(
        _error(
            acm.import_certificate,
            CertificateArn=arn,
            Certificate=issued.certificate_bytes,
            PrivateKey=issued.private_key_bytes,
            Tags=[{"Key": "a", "Value": "b"}],
        )
    )[:2] == ("InvalidParameterException", 400)
    code, _, message = _code(_error(acm.export_certificate, CertificateArn=arn, Passphrase=b"passphrase1234"))
    assert code == "ValidationException" and "not a private certificate" in message
    assert _code(_error(acm.request_certificate, DomainName="x.example.com"))[1] == 501
    acm.delete_certificate(CertificateArn=arn)


def test_aws_cli_import_with_fileb(onebox, tmp_path) -> None:
    """The user's way: `openssl req -x509` then `aws acm import-certificate --certificate fileb://...`."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem"),
         "-subj", "/CN=cli.example.com", "-addext", "subjectAltName=DNS:cli.example.com,DNS:www.cli.example.com"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    result = onebox.aws(
        "acm",
        "import-certificate",
        "--certificate",
        f"fileb://{tmp_path / 'cert.pem'}",
        "--private-key",
        f"fileb://{tmp_path / 'key.pem'}",
        "--tags",
        "Key=via,Value=cli",
    )
    arn = json.loads(result.stdout)["CertificateArn"]
    acm = onebox.client("acm")
    described = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert described["DomainName"] == "cli.example.com"
    assert described["SubjectAlternativeNames"] == ["cli.example.com", "www.cli.example.com"]
    assert described["Issuer"] == "cli.example.com"  # self-signed, no organisation
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "via", "Value": "cli"}]
    acm.delete_certificate(CertificateArn=arn)
