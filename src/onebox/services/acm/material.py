"""Certificate material: parse and check what ImportCertificate receives, with ACM's errors.

Everything is done with `cryptography`; nothing here touches the store. `parse_material` either
returns the facts DescribeCertificate shows, or raises the ValidationException ACM answers with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from onebox.aws.errors import AwsError

PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----", re.DOTALL
)
MAX_PRIVATE_KEY_BYTES = 5120  # "no larger than 5 KB (5,120 bytes)"
RSA_SIZES = (1024, 2048, 3072, 4096)
EC_CURVES = {"secp256r1": "prime256v1", "secp384r1": "secp384r1", "secp521r1": "secp521r1"}

# DescribeCertificate's names for the extended key usages it knows; others show only their OID.
EXTENDED_KEY_USAGES: dict[x509.ObjectIdentifier, str] = {
    ExtendedKeyUsageOID.SERVER_AUTH: "TLS_WEB_SERVER_AUTHENTICATION",
    ExtendedKeyUsageOID.CLIENT_AUTH: "TLS_WEB_CLIENT_AUTHENTICATION",
    ExtendedKeyUsageOID.CODE_SIGNING: "CODE_SIGNING",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "EMAIL_PROTECTION",
    ExtendedKeyUsageOID.TIME_STAMPING: "TIME_STAMPING",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSP_SIGNING",
    x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"): "IPSEC_END_SYSTEM",
    x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"): "IPSEC_TUNNEL",
    x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"): "IPSEC_USER",
}
KEY_USAGE_FLAGS = (
    ("digital_signature", "DIGITAL_SIGNATURE"),
    ("content_commitment", "NON_REPUDIATION"),
    ("key_encipherment", "KEY_ENCIPHERMENT"),
    ("data_encipherment", "DATA_ENCIPHERMENT"),
    ("key_agreement", "KEY_AGREEMENT"),
    ("key_cert_sign", "CERTIFICATE_SIGNING"),
    ("crl_sign", "CRL_SIGNING"),
)


def invalid(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


@dataclass(frozen=True)
class Material:
    """Normalised PEM text and the facts shown by DescribeCertificate (JSON-ready)."""

    certificate: str  # the leaf, PEM
    chain: str | None  # the intermediates, PEM, in the order given
    private_key: str  # PKCS#8 PEM, unencrypted
    details: dict[str, Any]


def parse_material(
    certificate: bytes | str, private_key: bytes | str, chain: bytes | str | None, now: float
) -> Material:
    cert = _load_certificate(_bytes(certificate))
    key = _load_private_key(_bytes(private_key))
    key_algorithm = _key_algorithm(key)
    if key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise invalid("The private key is not supported or does not match the public key in the certificate.")
    chain_pem = _load_chain(_bytes(chain)) if chain else None
    not_before = cert.not_valid_before_utc.timestamp()
    not_after = cert.not_valid_after_utc.timestamp()
    if now > not_after:
        raise invalid("The certificate has expired, is not valid.")
    if now < not_before:
        raise invalid("The certificate is not in effect yet, is not valid.")
    if not cert.issuer.rdns:
        raise invalid("The certificate's Issuer field is empty, is not valid.")
    details = _details(cert, key_algorithm, not_before, not_after)
    if not details["DomainName"]:
        raise invalid("The certificate does not contain a domain name or an IP address, is not valid.")
    return Material(
        certificate=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        chain=chain_pem,
        private_key=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        details=details,
    )


def _bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8", "replace") if isinstance(value, str) else value


def _load_certificate(data: bytes) -> x509.Certificate:
    blocks = PEM_CERTIFICATE.findall(data)
    if len(blocks) > 1:
        raise invalid(
            "The certificate field contains more than one certificate. "
            "You can specify only one certificate in this field."
        )
    try:
        cert = x509.load_pem_x509_certificate(blocks[0] if blocks else data)
        cert.public_key()
        cert.not_valid_after_utc  # noqa: B018 - a malformed date only fails when read
    except (ValueError, TypeError, IndexError):
        raise invalid("The certificate is not PEM-encoded or is not valid.") from None
    except Exception:  # cryptography raises its own types for unsupported public keys
        raise invalid("The certificate is not PEM-encoded or is not valid.") from None
    if cert.version != x509.Version.v3:
        raise invalid("The certificate is not an X.509 version 3 certificate, is not valid.")
    return cert


def _load_private_key(data: bytes) -> Any:
    if len(data) > MAX_PRIVATE_KEY_BYTES:
        raise invalid("The private key length is not supported. The maximum length is 5120 bytes.")
    if b"ENCRYPTED" in data:
        raise invalid("The private key is encrypted. Provide an unencrypted private key.")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:  # encrypted without the marker we looked for
        raise invalid("The private key is encrypted. Provide an unencrypted private key.") from None
    except Exception:
        raise invalid("The private key is not PEM-encoded or is not valid.") from None


def _key_algorithm(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size not in RSA_SIZES:
            raise invalid(f"The private key length {key.key_size} is not supported for key algorithm RSA.")
        return f"RSA_{key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curve = EC_CURVES.get(key.curve.name)
        if curve is None:
            raise invalid(f"The curve {key.curve.name} is not supported for key algorithm EC.")
        return f"EC_{curve}"
    raise invalid("The private key algorithm is not supported. Use an RSA or EC private key.")


def _load_chain(data: bytes) -> str:
    blocks = PEM_CERTIFICATE.findall(data)
    if not blocks or re.sub(rb"\s", b"", PEM_CERTIFICATE.sub(b"", data)):
        raise invalid("The certificate chain is not PEM-encoded or is not valid.")
    pems: list[str] = []
    for block in blocks:
        try:
            cert = x509.load_pem_x509_certificate(block)
        except Exception:
            raise invalid("The certificate chain is not PEM-encoded or is not valid.") from None
        pems.append(cert.public_bytes(serialization.Encoding.PEM).decode("ascii"))
    return "".join(pems)


def _details(
    cert: x509.Certificate, key_algorithm: str, not_before: float, not_after: float
) -> dict[str, Any]:
    common_names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    sans: list[str] = []
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [*extension.get_values_for_type(x509.DNSName)]
        sans += [str(ip) for ip in extension.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    domain = common_names[0] if common_names else (sans[0] if sans else "")
    names = list(dict.fromkeys([domain, *sans])) if domain else []
    return {
        "DomainName": domain,
        "SubjectAlternativeNames": sans or ([domain] if domain else []),
        "Names": names,
        "Subject": cert.subject.rfc4514_string(),
        "Issuer": _issuer(cert.issuer),
        "Serial": ":".join(f"{b:02x}" for b in _serial_bytes(cert.serial_number)),
        "NotBefore": not_before,
        "NotAfter": not_after,
        "KeyAlgorithm": key_algorithm,
        "SignatureAlgorithm": _signature_algorithm(cert),
        "KeyUsages": _key_usages(cert),
        "ExtendedKeyUsages": _extended_key_usages(cert),
    }


def _issuer(name: x509.Name) -> str:
    """ACM shows the issuing CA's organisation (e.g. "Amazon", "Let's Encrypt"), else its CN."""
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        values = name.get_attributes_for_oid(oid)
        if values:
            return str(values[0].value)
    return name.rfc4514_string()


def _serial_bytes(serial: int) -> bytes:
    return serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big")


def _signature_algorithm(cert: x509.Certificate) -> str:
    """ACM's spelling: SHA256WITHRSA, SHA384WITHECDSA, SHA256WITHRSASSA-PSS..."""
    digest = (
        cert.signature_hash_algorithm.name.upper().replace("-", "") if cert.signature_hash_algorithm else ""
    )
    oid_name = cert.signature_algorithm_oid._name.lower()  # noqa: SLF001 - no public accessor
    if "ecdsa" in oid_name:
        return f"{digest}WITHECDSA"
    if "pss" in oid_name:
        return f"{digest}WITHRSASSA-PSS"
    if "ed25519" in oid_name or "ed448" in oid_name:
        return oid_name.upper()
    return f"{digest}WITHRSA"


def _key_usages(cert: x509.Certificate) -> list[dict[str, str]]:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return []
    names = [name for attribute, name in KEY_USAGE_FLAGS if getattr(usage, attribute)]
    if usage.key_agreement:
        if usage.encipher_only:
            names.append("ENCIPHER_ONLY")
        if usage.decipher_only:
            names.append("DECIPHER_ONLY")
    return [{"Name": name} for name in names]


def _extended_key_usages(cert: x509.Certificate) -> list[dict[str, str]]:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    result: list[dict[str, str]] = []
    for oid in usages:
        name = EXTENDED_KEY_USAGES.get(oid)
        result.append(
            {"Name": name, "OID": oid.dotted_string} if name else {"Name": "CUSTOM", "OID": oid.dotted_string}
        )
    return result


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
