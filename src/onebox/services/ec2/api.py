"""EC2's handler table, composed from one module per resource family."""

from __future__ import annotations

from onebox.aws.dispatch import ServiceApi
from onebox.services.ec2 import key_pairs, regions

api = ServiceApi("ec2").include(regions.api, key_pairs.api)
