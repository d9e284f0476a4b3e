"""AWS-format identifiers: resource ids, request ids and ARNs."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

# EC2 moved from 8 to 17 hex characters in 2016; every new resource gets the long form.
EC2_ID_HEX_LENGTH = 17


def random_hex(length: int) -> str:
    """`length` lowercase hex characters from the OS CSPRNG (ids must not collide across restarts)."""
    return secrets.token_hex((length + 1) // 2)[:length]


def new_id(prefix: str, length: int = EC2_ID_HEX_LENGTH) -> str:
    """An EC2-style id: `new_id("vpc")` -> `vpc-0a1b2c3d4e5f60718`."""
    return f"{prefix}-{random_hex(length)}"


def new_key_pair_id() -> str:
    return new_id("key")


def new_request_id() -> str:
    """A request id the way most AWS services print it: a UUID4 string."""
    return str(uuid.uuid4())


def arn(service: str, region: str, account: str, resource: str, *, partition: str = "aws") -> str:
    """`arn:partition:service:region:account:resource`; global services pass region "" (IAM, S3)."""
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return arn(self.service, self.region, self.account, self.resource, partition=self.partition)


def parse_arn(text: str) -> Arn:
    """Split an ARN into its parts; the resource part may itself contain ':' (and '/')."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
        raise ValueError(f"not an ARN: {text!r}")
    return Arn(partition=parts[1], service=parts[2], region=parts[3], account=parts[4], resource=parts[5])
