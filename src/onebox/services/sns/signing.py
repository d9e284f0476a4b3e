"""The key SNS signs messages with, and the self-signed certificate onebox serves so subscribers can verify.

Both live in STATE/sns/ and are made once, so a subscriber that cached the certificate keeps verifying
across restarts. Signatures follow AWS: SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA, over
the "Key\\nValue\\n" string built from the message's fields in the documented order.
"""

from __future__ import annotations

import base64
import datetime
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

CERT_NAME = "SimpleNotificationService-onebox.pem"
CERT_PATH = f"/_onebox/sns/{CERT_NAME}"

# The fields each message type signs, in AWS's order (absent optional ones are skipped).
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")

_lock = threading.Lock()
_cache: dict[Path, tuple[rsa.RSAPrivateKey, bytes]] = {}


def string_to_sign(message: dict[str, Any]) -> str:
    """AWS's canonical string: each signed field present as `Name\\nValue\\n`, in the fixed order."""
    fields = NOTIFICATION_FIELDS if message["Type"] == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{name}\n{message[name]}\n" for name in fields if message.get(name) is not None)


def signing_material(state_dir: Path) -> tuple[rsa.RSAPrivateKey, bytes]:
    """The private key and the PEM certificate, made on first use and kept under STATE/sns/."""
    directory = state_dir / "sns"
    with _lock:
        cached = _cache.get(directory)
        if cached is not None:
            return cached
        key_path, cert_path = directory / "signing-key.pem", directory / CERT_NAME
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            cert_pem = cert_path.read_bytes()
        else:
            directory.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            cert_pem = _self_signed(key)
            _write_private(
                key_path,
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
            cert_path.write_bytes(cert_pem)
        _cache[directory] = (key, cert_pem)
        return key, cert_pem


def sign(state_dir: Path, message: dict[str, Any]) -> str:
    """Base64 signature of `message` for its SignatureVersion ("1": SHA1, "2": SHA256)."""
    key, _ = signing_material(state_dir)
    digest = hashes.SHA256() if message.get("SignatureVersion") == "2" else hashes.SHA1()  # noqa: S303
    signature = key.sign(string_to_sign(message).encode("utf-8"), padding.PKCS1v15(), digest)
    return base64.b64encode(signature).decode("ascii")


def verify(cert_pem: bytes, message: dict[str, Any]) -> bool:
    """What a subscriber does: check `Signature` against the certificate's public key."""
    certificate = x509.load_pem_x509_certificate(cert_pem)
    digest = hashes.SHA256() if message.get("SignatureVersion") == "2" else hashes.SHA1()
    try:
        certificate.public_key().verify(  # type: ignore[union-attr,call-arg]
            base64.b64decode(message["Signature"]),
            string_to_sign(message).encode("utf-8"),
            padding.PKCS1v15(),  # type: ignore[arg-type]
            digest,  # type: ignore[arg-type]
        )
    except Exception:
        return False
    return True


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "onebox"),
            x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.touch(mode=0o600)
    temporary.write_bytes(data)
    temporary.replace(path)
