"""Certificates for ACM tests (and for anyone testing HTTPS): a CA, leaves signed by it, self-signed."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_KEYS: dict[str, object] = {}  # RSA key generation is slow: one key per kind per test run


@dataclass(frozen=True)
class Issued:
    certificate: str  # PEM
    private_key: str  # PEM (PKCS#8, unencrypted)
    chain: str | None = None  # PEM of the issuing CA, when not self-signed

    @property
    def certificate_bytes(self) -> bytes:
        return self.certificate.encode()

    @property
    def private_key_bytes(self) -> bytes:
        return self.private_key.encode()


def private_key(kind: str = "rsa2048", *, fresh: bool = False):  # type: ignore[no-untyped-def]
    if fresh or kind not in _KEYS:
        if kind.startswith("rsa"):
            key: object = rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
        else:
            curve = {
                "p256": ec.SECP256R1(),
                "p384": ec.SECP384R1(),
                "p521": ec.SECP521R1(),
                "k256": ec.SECP256K1(),
            }
            key = ec.generate_private_key(curve[kind])
        if fresh:
            return key
        _KEYS[kind] = key
    return _KEYS[kind]


def key_pem(key) -> str:  # type: ignore[no-untyped-def]
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def make_ca(
    common_name: str = "onebox test CA", *, key_kind: str = "rsa2048"
) -> tuple[x509.Certificate, object]:
    key = private_key(f"{key_kind}")
    now = dt.datetime.now(dt.UTC)
    name = _name(common_name, "onebox tests")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return cert, key


def make_certificate(
    common_name: str = "www.example.com",
    sans: tuple[str, ...] = (),
    *,
    key_kind: str = "rsa2048",
    ca: tuple[x509.Certificate, object] | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    hash_algorithm: hashes.HashAlgorithm | None = None,
    key: object | None = None,
) -> Issued:
    """A leaf for `common_name` (+ `sans`, DNS names or IP addresses): self-signed, or signed by `ca`."""
    leaf_key = key or private_key(key_kind)
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = []
    for san in sans:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            alt_names.append(x509.DNSName(san))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca[0].subject if ca else _name(common_name))
        .public_key(leaf_key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(hours=1))
        .not_valid_after(not_after or now + dt.timedelta(days=90))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    signer = ca[1] if ca else leaf_key
    cert = builder.sign(signer, hash_algorithm or hashes.SHA256())  # type: ignore[arg-type]
    chain = ca[0].public_bytes(serialization.Encoding.PEM).decode() if ca else None
    return Issued(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem(leaf_key), chain)
