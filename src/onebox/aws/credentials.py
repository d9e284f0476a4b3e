"""Access keys onebox accepts, and the account each one acts as."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "000000000000"


@dataclass(frozen=True, slots=True)
class Credential:
    """One access key pair; requests signed with it act as `account_id`."""

    access_key: str
    secret_key: str
    account_id: str = DEFAULT_ACCOUNT_ID

    def __post_init__(self) -> None:
        if not self.access_key or not self.secret_key:
            raise ValueError("a credential needs a non-empty access key and secret key")
        if len(self.account_id) != 12 or not self.account_id.isdigit():
            raise ValueError(f"account id must be 12 digits, got {self.account_id!r}")

    def __repr__(self) -> str:
        # Keep the secret out of logs and tracebacks.
        return f"Credential(access_key={self.access_key!r}, account_id={self.account_id!r})"


# What the AWS CLI, Terraform and the SDKs are usually pointed at for local clouds.
DEFAULT_CREDENTIALS: tuple[Credential, ...] = (Credential("test", "test", DEFAULT_ACCOUNT_ID),)


class CredentialStore:
    """Looks up the secret and account of an access key. Built once from configuration."""

    def __init__(self, credentials: Iterable[Credential] = DEFAULT_CREDENTIALS) -> None:
        self._by_access_key: dict[str, Credential] = {}
        for credential in credentials:
            if credential.access_key in self._by_access_key:
                raise ValueError(f"access key {credential.access_key!r} is configured twice")
            self._by_access_key[credential.access_key] = credential

    @classmethod
    def from_config(cls, entries: Iterable[Mapping[str, Any]]) -> CredentialStore:
        """From config entries like `{"access_key": ..., "secret_key": ..., "account_id": ...}`."""
        return cls(
            Credential(
                str(entry["access_key"]),
                str(entry["secret_key"]),
                str(entry.get("account_id", DEFAULT_ACCOUNT_ID)),
            )
            for entry in entries
        )

    def lookup(self, access_key: str) -> Credential | None:
        return self._by_access_key.get(access_key)

    def __len__(self) -> int:
        return len(self._by_access_key)

    def __contains__(self, access_key: object) -> bool:
        return access_key in self._by_access_key
