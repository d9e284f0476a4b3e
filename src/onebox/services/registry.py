"""The services onebox serves: their handler tables, loaded once per daemon."""

from __future__ import annotations

from onebox.aws import routing, specs
from onebox.aws.dispatch import ServiceApi


def service_apis() -> dict[str, ServiceApi]:
    from onebox.services.ec2.api import api as ec2
    from onebox.services.sts.api import api as sts

    return {api.service: api for api in (sts, ec2)}


def warm_models() -> None:
    """Load every served model and routing index in the background, so the first call is fast."""
    specs.signing_name_index()
    specs.target_prefix_index()
    specs.api_version_index()
    routing.action_index()
    routing.cbor_service_index()
