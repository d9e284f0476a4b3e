"""Imported certificates, their tags and their private keys survive a daemon restart."""

from __future__ import annotations

from tests.acm_support import make_certificate


def test_certificates_survive_restart(fresh_onebox) -> None:
    box = fresh_onebox
    acm = box.client("acm")
    issued = make_certificate("kept.example.com", ("kept.example.com", "www.kept.example.com"))
    arn = acm.import_certificate(
        Certificate=issued.certificate_bytes,
        PrivateKey=issued.private_key_bytes,
        Tags=[{"Key": "k", "Value": "v"}],
    )["CertificateArn"]
    before = acm.describe_certificate(CertificateArn=arn)["Certificate"]

    box.cli("down")
    box.cli("up", "--detach")

    acm = box.client("acm")
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"] == before
    assert acm.get_certificate(CertificateArn=arn)["Certificate"].strip() == issued.certificate.strip()
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    assert [s["CertificateArn"] for s in acm.list_certificates()["CertificateSummaryList"]] == [arn]
