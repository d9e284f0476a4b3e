"""EC2 key pairs: create (EC2 makes the key), import (the user brings it), describe, delete."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.ec2 import keys
from onebox.services.ec2.tagging import tags_from_specifications
from onebox.store import AlreadyExists, Record
from onebox.store.filters import Filters
from onebox.store.ids import arn, new_key_pair_id
from onebox.store.tags import tags_to_list

api = ServiceApi("ec2")

KEY_PAIR = "ec2:key-pair"
KEY_PAIR_FILTERS = ("key-pair-id", "key-name", "fingerprint", "key-type")


@api.operation("CreateKeyPair")
def create_key_pair(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = _key_name(params["KeyName"])
    material = keys.create_key(params.get("KeyType", "rsa"), params.get("KeyFormat", "pem"))
    record = _store_key_pair(ctx, params, name, material)
    return {
        "KeyName": name,
        "KeyFingerprint": material.fingerprint,
        "KeyMaterial": material.private_pem,
        "KeyPairId": record.id,
        "Tags": tags_to_list(record.tags),
    }


@api.operation("ImportKeyPair")
def import_key_pair(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = _key_name(params["KeyName"])
    material = keys.import_key(params["PublicKeyMaterial"])
    record = _store_key_pair(ctx, params, name, material)
    return {
        "KeyName": name,
        "KeyFingerprint": material.fingerprint,
        "KeyPairId": record.id,
        "Tags": tags_to_list(record.tags),
    }


@api.operation("DescribeKeyPairs")
def describe_key_pairs(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    filters = Filters.parse(params.get("Filters"), KEY_PAIR_FILTERS)
    records = ctx.runtime.store.list(KEY_PAIR, ctx.account_id, ctx.region)
    by_name = {record.name: record for record in records}
    by_id = {record.id: record for record in records}
    if params.get("KeyNames") or params.get("KeyPairIds"):
        chosen: list[Record] = []
        for name in params.get("KeyNames") or []:
            if name not in by_name:
                raise AwsError("InvalidKeyPair.NotFound", f"The key pair '{name}' does not exist")
            chosen.append(by_name[name])
        for key_id in params.get("KeyPairIds") or []:
            if key_id not in by_id:
                raise AwsError("InvalidKeyPair.NotFound", f"The key pair '{key_id}' does not exist")
            chosen.append(by_id[key_id])
        records = chosen
    records = filters.select(records, _key_pair_filter_view, lambda r: r.tags)
    include_public = bool(params.get("IncludePublicKey"))
    return {"KeyPairs": [_key_pair_view(record, include_public) for record in records]}


@api.operation("DeleteKeyPair")
def delete_key_pair(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    record: Record | None = None
    if params.get("KeyPairId"):
        record = store.get(KEY_PAIR, ctx.account_id, ctx.region, params["KeyPairId"])
        if record is None:
            raise AwsError("InvalidKeyPair.NotFound", f"The key pair '{params['KeyPairId']}' does not exist")
    elif params.get("KeyName"):
        record = store.get_by_name(KEY_PAIR, ctx.account_id, ctx.region, params["KeyName"])
    else:
        raise AwsError("MissingParameter", "The request must contain the parameter KeyName or KeyPairId")
    # Deleting a key name that does not exist succeeds, as in EC2.
    if record is not None:
        store.delete_by_id(KEY_PAIR, ctx.account_id, ctx.region, record.id)
    return {"Return": True, "KeyPairId": record.id if record else None}


def _key_name(name: str) -> str:
    if not name or len(name) > 255 or not name.isascii():
        raise AwsError("InvalidParameterValue", "Key name must be 1 to 255 ASCII characters")
    return name


def _store_key_pair(
    ctx: RequestContext, params: dict[str, Any], name: str, material: keys.KeyMaterial
) -> Record:
    key_id = new_key_pair_id()
    tags = tags_from_specifications(params.get("TagSpecifications"), "key-pair")
    spec = {
        "KeyType": material.key_type,
        "KeyFingerprint": material.fingerprint,
        "PublicKey": material.public_openssh,
    }
    try:
        return ctx.runtime.store.create(
            KEY_PAIR,
            ctx.account_id,
            ctx.region,
            key_id,
            arn=arn("ec2", ctx.region, ctx.account_id, f"key-pair/{key_id}"),
            name=name,
            spec=spec,
            tags=tags,
        )
    except AlreadyExists as error:
        raise AwsError("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.") from error


def _key_pair_view(record: Record, include_public: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "KeyPairId": record.id,
        "KeyFingerprint": record.spec["KeyFingerprint"],
        "KeyName": record.name,
        "KeyType": record.spec["KeyType"],
        "Tags": tags_to_list(record.tags),
        "CreateTime": record.created_at,
    }
    if include_public:
        view["PublicKey"] = record.spec["PublicKey"] + "\n"
    return view


def _key_pair_filter_view(record: Record) -> dict[str, Any]:
    return {
        "key-pair-id": record.id,
        "key-name": record.name or "",
        "fingerprint": record.spec["KeyFingerprint"],
        "key-type": record.spec["KeyType"],
    }
