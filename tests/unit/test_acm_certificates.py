"""onebox.services.acm.certificates: the PEM bundle HAProxy loads, and InUseBy bookkeeping."""

from __future__ import annotations

import asyncio
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onebox.aws.credentials import CredentialStore
from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.clock import ManualClock
from onebox.config import Config
from onebox.runtime import Runtime
from onebox.services.acm import api as acm_api
from onebox.services.acm.certificates import certificate_pem, mark_in_use, require_certificate, unmark_in_use
from onebox.store import Store
from tests.acm_support import make_ca, make_certificate

ACCOUNT, REGION = "000000000000", "us-east-1"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    clock = ManualClock(time.time())
    store = Store.open(tmp_path / "onebox.db", clock, synchronous="NORMAL")
    yield Runtime(config=Config(state_dir=tmp_path), clock=clock, store=store, credentials=CredentialStore())
    store.close()


def call(runtime: Runtime, operation: str, **params: Any) -> dict[str, Any]:
    ctx = RequestContext(runtime, "acm", operation, ACCOUNT, REGION, "r", HttpRequest("POST", "/"))
    return asyncio.run(acm_api.api.call(ctx, params))


def test_certificate_pem_bundle_names_and_mode(runtime: Runtime) -> None:
    ca = make_ca()
    issued = make_certificate("www.example.com", ("example.com", "www.example.com"), ca=ca)
    arn = call(
        runtime,
        "ImportCertificate",
        Certificate=issued.certificate_bytes,
        PrivateKey=issued.private_key_bytes,
        CertificateChain=issued.chain.encode(),
    )["CertificateArn"]

    path, names = certificate_pem(runtime, ACCOUNT, REGION, arn)
    assert names == ("www.example.com", "example.com")
    text = Path(path).read_text()
    assert text.index("BEGIN CERTIFICATE") < text.index("BEGIN PRIVATE KEY")
    assert text.count("BEGIN CERTIFICATE") == 2  # leaf + CA
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    assert Path(path).is_relative_to(runtime.config.state_dir)
    # openssl reads it as HAProxy would: leaf first, key matches.
    leaf = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-in", path], capture_output=True, text=True
    )
    assert "www.example.com" in leaf.stdout

    # Idempotent: same path, file untouched.
    before = Path(path).stat().st_mtime_ns
    assert certificate_pem(runtime, ACCOUNT, REGION, arn) == (path, names)
    assert Path(path).stat().st_mtime_ns == before

    # A re-import keeps the ARN and yields a new file (so a config naming it changes).
    renewed = make_certificate("www.example.com", ("api.example.com",), key_kind="p256")
    call(
        runtime,
        "ImportCertificate",
        CertificateArn=arn,
        Certificate=renewed.certificate_bytes,
        PrivateKey=renewed.private_key_bytes,
    )
    new_path, new_names = certificate_pem(runtime, ACCOUNT, REGION, arn)
    assert new_path != path and new_names == ("www.example.com", "api.example.com")
    assert "BEGIN CERTIFICATE" in Path(new_path).read_text()


def test_unknown_certificates_are_elbv2_certificate_not_found(runtime: Runtime) -> None:
    for arn in (
        f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/0b7e2a31-1111-2222-3333-444455556666",
        f"arn:aws:acm:eu-west-1:{ACCOUNT}:certificate/0b7e2a31-1111-2222-3333-444455556666",
        "arn:aws:iam::000000000000:server-certificate/x",
        "nonsense",
    ):
        for check in (certificate_pem, require_certificate):
            with pytest.raises(AwsError) as error:
                check(runtime, ACCOUNT, REGION, arn)
            assert (error.value.code, error.value.status) == ("CertificateNotFound", 400)
        assert error.value.message == f"Certificate '{arn}' not found"
        with pytest.raises(AwsError):
            mark_in_use(runtime, ACCOUNT, REGION, arn, "arn:aws:elasticloadbalancing:x")
        unmark_in_use(runtime, ACCOUNT, REGION, arn, "arn:aws:elasticloadbalancing:x")  # no error


def test_in_use_blocks_delete_until_unmarked(runtime: Runtime) -> None:
    issued = make_certificate("shop.example.com")
    arn = call(
        runtime,
        "ImportCertificate",
        Certificate=issued.certificate_bytes,
        PrivateKey=issued.private_key_bytes,
    )["CertificateArn"]
    path, _ = certificate_pem(runtime, ACCOUNT, REGION, arn)
    lb = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/web/0123456789abcdef"
    mark_in_use(runtime, ACCOUNT, REGION, arn, lb)
    mark_in_use(runtime, ACCOUNT, REGION, arn, lb)  # idempotent
    assert call(runtime, "DescribeCertificate", CertificateArn=arn)["Certificate"]["InUseBy"] == [lb]
    with pytest.raises(AwsError) as error:
        call(runtime, "DeleteCertificate", CertificateArn=arn)
    assert error.value.code == "ResourceInUseException"
    unmark_in_use(runtime, ACCOUNT, REGION, arn, lb)
    assert call(runtime, "DescribeCertificate", CertificateArn=arn)["Certificate"]["InUseBy"] == []
    call(runtime, "DeleteCertificate", CertificateArn=arn)
    assert not Path(path).exists()
    with pytest.raises(AwsError) as error:
        certificate_pem(runtime, ACCOUNT, REGION, arn)
    assert error.value.code == "CertificateNotFound"


def test_key_survives_reopening_the_store(tmp_path: Path) -> None:
    clock = ManualClock(time.time())
    store = Store.open(tmp_path / "onebox.db", clock, synchronous="NORMAL")
    runtime = Runtime(
        config=Config(state_dir=tmp_path), clock=clock, store=store, credentials=CredentialStore()
    )
    issued = make_certificate("kept.example.com", key_kind="p384")
    arn = call(
        runtime,
        "ImportCertificate",
        Certificate=issued.certificate_bytes,
        PrivateKey=issued.private_key_bytes,
    )["CertificateArn"]
    store.close()

    store = Store.open(tmp_path / "onebox.db", clock, synchronous="NORMAL")
    try:
        runtime = Runtime(
            config=Config(state_dir=tmp_path), clock=clock, store=store, credentials=CredentialStore()
        )
        path, names = certificate_pem(runtime, ACCOUNT, REGION, arn)
    finally:
        store.close()
    assert names == ("kept.example.com",)
    assert issued.private_key.strip() in Path(path).read_text()


def test_haproxy_serves_the_bundles_over_tls(runtime: Runtime, tmp_path: Path) -> None:
    """HAProxy loads each bundle as a `crt` (RSA with a chain, EC self-signed) and serves it by SNI;
    curl verifies each against its issuer with --cacert."""
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    ca = make_ca()
    rsa_leaf = make_certificate("rsa.example.com", ("rsa.example.com",), ca=ca)
    ec_leaf = make_certificate("ec.example.com", key_kind="p256")
    bundles = []
    for issued in (rsa_leaf, ec_leaf):
        params: dict[str, Any] = {
            "Certificate": issued.certificate_bytes,
            "PrivateKey": issued.private_key_bytes,
        }
        if issued.chain:
            params["CertificateChain"] = issued.chain.encode()
        arn = call(runtime, "ImportCertificate", **params)["CertificateArn"]
        bundles.append(certificate_pem(runtime, ACCOUNT, REGION, arn)[0])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\n"
        f"frontend https\n  bind 127.0.0.1:{port} ssl " + " ".join(f"crt {b}" for b in bundles) + "\n"
        "  http-request return status 200 content-type text/plain string ok\n"
    )
    checked = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp_path / "ca.pem").write_text(rsa_leaf.chain or "")
    (tmp_path / "ec.pem").write_text(ec_leaf.certificate)
    server = subprocess.Popen(
        [haproxy, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for name, cacert in (("rsa.example.com", "ca.pem"), ("ec.example.com", "ec.pem")):
            deadline = time.monotonic() + 10
            while True:
                result = subprocess.run(
                    ["curl", "-sS", "--max-time", "5", "--cacert", str(tmp_path / cacert),
                     "--resolve", f"{name}:{port}:127.0.0.1", f"https://{name}:{port}/"],
                    capture_output=True, text=True, timeout=15,
                )  # fmt: skip
                if result.returncode == 0 or time.monotonic() > deadline or server.poll() is not None:
                    break
                time.sleep(0.1)
            assert (result.returncode, result.stdout) == (0, "ok"), (name, result.stderr)
    finally:
        server.terminate()
        server.wait(timeout=10)
