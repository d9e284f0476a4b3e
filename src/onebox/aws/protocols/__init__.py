"""Wire protocols by botocore name."""

from __future__ import annotations

from importlib import import_module

from onebox.aws.protocols.base import WireProtocol

_MODULES = {
    "query": ("onebox.aws.protocols.query", "QueryProtocol"),
    "ec2": ("onebox.aws.protocols.query", "Ec2Protocol"),
    "json": ("onebox.aws.protocols.jsonrpc", "JsonProtocol"),
    "smithy-rpc-v2-cbor": ("onebox.aws.protocols.cbor", "CborProtocol"),
    "rest-json": ("onebox.aws.protocols.restjson", "RestJsonProtocol"),
    "rest-xml": ("onebox.aws.protocols.restxml", "RestXmlProtocol"),
}
_INSTANCES: dict[str, WireProtocol] = {}


def get_protocol(name: str) -> WireProtocol:
    """The (stateless, shared) implementation of a botocore protocol name."""
    protocol = _INSTANCES.get(name)
    if protocol is None:
        module_name, class_name = _MODULES[name]
        protocol = getattr(import_module(module_name), class_name)()
        _INSTANCES[name] = protocol
    return protocol
