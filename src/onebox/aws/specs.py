"""Loading botocore's service models, once, and the indices the router needs."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # botocore is imported on first use: it costs a quarter second at start-up
    from botocore.loaders import Loader
    from botocore.model import OperationModel, ServiceModel

# The services onebox serves, by botocore name. Routing only considers these.
SERVED_SERVICES: tuple[str, ...] = (
    "sts",
    "ec2",
    "elbv2",
    "autoscaling",
    "cloudwatch",
    "logs",
    "rds",
    "elasticache",
    "s3",
    "cloudfront",
    "route53",
    "acm",
    "sns",
)


@cache
def _loader() -> Loader:
    from botocore.loaders import Loader

    return Loader()


@cache
def service_model(name: str) -> ServiceModel:
    """The botocore model of a service by its botocore name (e.g. 'elbv2', 'cloudwatch')."""
    from botocore.model import ServiceModel

    data = _loader().load_service_model(name, "service-2")
    return ServiceModel(data, service_name=name)


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


def protocols_of(model: ServiceModel) -> list[str]:
    """The wire protocols a service accepts, preferred first."""
    listed = model.metadata.get("protocols")
    return list(listed) if listed else [model.metadata["protocol"]]


def signing_name(model: ServiceModel) -> str:
    return model.metadata.get("signingName") or model.metadata["endpointPrefix"]


@cache
def signing_name_index() -> dict[str, tuple[str, ...]]:
    """SigV4 credential-scope service name -> botocore service names served under it."""
    index: dict[str, list[str]] = {}
    for name in SERVED_SERVICES:
        index.setdefault(signing_name(service_model(name)), []).append(name)
    return {key: tuple(value) for key, value in index.items()}


@cache
def target_prefix_index() -> dict[str, str]:
    """JSON-protocol `X-Amz-Target` prefix -> botocore service name."""
    index: dict[str, str] = {}
    for name in SERVED_SERVICES:
        prefix = service_model(name).metadata.get("targetPrefix")
        if prefix:
            index[prefix] = name
    return index


@cache
def api_version_index() -> dict[str, str]:
    """Query-protocol `Version` parameter -> botocore service name (for signing names shared by services)."""
    return {service_model(name).api_version: name for name in SERVED_SERVICES}
