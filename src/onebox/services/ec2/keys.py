"""Key material for EC2 key pairs: generation, import parsing and fingerprints as AWS computes them.

AWS's fingerprint rules (EC2 User Guide, "Verify your key pair's fingerprint"):
- RSA key pair created by EC2: SHA-1 of the DER-encoded PKCS#8 private key, hex, colon-separated.
- RSA public key imported: MD5 of the DER-encoded public key (SubjectPublicKeyInfo), hex, colons.
- ED25519 (created or imported): base64 SHA-256 of the OpenSSH-format public key blob.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from onebox.aws.errors import AwsError

RSA_SIZES_ALLOWED = (1024, 2048, 3072, 4096)


@dataclass(frozen=True)
class KeyMaterial:
    key_type: str  # "rsa" or "ed25519"
    fingerprint: str
    public_openssh: str
    private_pem: str | None = None  # only when EC2 created the key


def create_key(key_type: str, key_format: str) -> KeyMaterial:
    """A new key pair: the private key is handed to the caller once and never stored."""
    if key_format != "pem":
        raise AwsError("InvalidParameterValue", "onebox creates key material in pem format only", 400)
    if key_type == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
        private_pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
        public = private.public_key()
        return KeyMaterial("ed25519", _ed25519_fingerprint(public), _openssh(public), private_pem)
    private_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs8_der = private_rsa.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # EC2 hands out RSA keys as traditional "BEGIN RSA PRIVATE KEY" PEM.
    private_pem = private_rsa.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return KeyMaterial(
        "rsa", _colons(hashlib.sha1(pkcs8_der).hexdigest()), _openssh(private_rsa.public_key()), private_pem
    )


def import_key(material: bytes) -> KeyMaterial:
    """Parse an imported public key (OpenSSH, SSH2/RFC 4716 or base64 DER) or refuse as EC2 does."""
    public = _load_public_key(material)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return KeyMaterial("ed25519", _ed25519_fingerprint(public), _openssh(public))
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size not in RSA_SIZES_ALLOWED:
            raise _invalid_format(f"Length of the RSA key must be one of {RSA_SIZES_ALLOWED} bits")
        spki = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return KeyMaterial("rsa", _colons(hashlib.md5(spki).hexdigest()), _openssh(public))
    raise _invalid_format("Key type not supported: use RSA or ED25519")


def _load_public_key(material: bytes) -> rsa.RSAPublicKey | ed25519.Ed25519PublicKey:
    text = material.strip()
    try:
        if text.startswith(b"---- BEGIN SSH2 PUBLIC KEY"):
            body = b"".join(
                line for line in text.splitlines()[1:-1] if b":" not in line and not line.startswith(b" ")
            )
            key_type = _ssh_blob_type(base64.b64decode(body))
            text = key_type + b" " + body
        if text.startswith((b"ssh-rsa ", b"ssh-ed25519 ")):
            key = serialization.load_ssh_public_key(text)
        elif text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=False))
    except (ValueError, TypeError, binascii.Error, IndexError) as error:
        raise _invalid_format("Key is not in valid OpenSSH public key format") from error
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise _invalid_format("Key type not supported: use RSA or ED25519")
    return key


def _ssh_blob_type(blob: bytes) -> bytes:
    length = int.from_bytes(blob[:4], "big")
    return blob[4 : 4 + length]


def _openssh(public: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _ed25519_fingerprint(public: ed25519.Ed25519PublicKey) -> str:
    blob = base64.b64decode(_openssh(public).split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode()


def _colons(hex_digest: str) -> str:
    return ":".join(hex_digest[i : i + 2] for i in range(0, len(hex_digest), 2))


def _invalid_format(message: str) -> AwsError:
    return AwsError("InvalidKey.Format", message, 400)
