"""EC2 security groups: create/describe/delete, authorize/revoke ingress and egress, rules by id.

Enforcement is real: the VPC controller turns each interface's groups into nftables chains in the VPC's
router namespace (host/network.py). `rules_for` is the resolver both it and the instances code use.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.host.network import HOST_LINK_ADDRESS, FirewallRule, InterfaceRules
from onebox.services.ec2 import vpc_records
from onebox.services.ec2.tagging import tags_from_specifications
from onebox.services.ec2.vpc_records import PRIVATE_IP, SECURITY_GROUP, check_dry_run
from onebox.store import AlreadyExists, Record, Store
from onebox.store.filters import Filters
from onebox.store.ids import arn, new_id
from onebox.store.tags import tags_to_list

api = ServiceApi("ec2")

_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp", "-1": "-1"}
_PROTOCOLS["all"] = "-1"

GROUP_FILTERS = (
    "description",
    "group-id",
    "group-name",
    "vpc-id",
    "owner-id",
    "ip-permission.protocol",
    "ip-permission.from-port",
    "ip-permission.to-port",
    "ip-permission.cidr",
    "ip-permission.group-id",
    "egress.ip-permission.protocol",
    "egress.ip-permission.from-port",
    "egress.ip-permission.to-port",
    "egress.ip-permission.cidr",
    "egress.ip-permission.group-id",
)
RULE_FILTERS = ("group-id", "security-group-rule-id")


# -- records ----------------------------------------------------------------------------------------


def _store_name(vpc_id: str, group_name: str) -> str:
    # Group names are unique per VPC; the store's names are unique per account and region.
    return f"{vpc_id}/{group_name}"


def create_group_record(
    store: Store,
    account: str,
    region: str,
    vpc_id: str,
    name: str,
    description: str,
    tags: dict[str, str] | None = None,
) -> Record:
    group_id = new_id("sg")
    egress = [_rule("-1", None, None, {"CidrIpv4": "0.0.0.0/0"})]
    ingress: list[dict[str, Any]] = []
    if name == "default":
        ingress = [_rule("-1", None, None, {"ReferencedGroupId": group_id})]
    try:
        return store.create(
            SECURITY_GROUP,
            account,
            region,
            group_id,
            arn=arn("ec2", region, account, f"security-group/{group_id}"),
            name=_store_name(vpc_id, name),
            spec={
                "GroupName": name,
                "Description": description,
                "VpcId": vpc_id,
                "Ingress": ingress,
                "Egress": egress,
            },
            tags=tags or {},
        )
    except AlreadyExists as error:
        raise AwsError(
            "InvalidGroup.Duplicate", f"The security group '{name}' already exists for VPC '{vpc_id}'"
        ) from error


def default_group(store: Store, account: str, region: str, vpc_id: str) -> Record | None:
    return store.get_by_name(SECURITY_GROUP, account, region, _store_name(vpc_id, "default"))


def _rule(protocol: str, from_port: int | None, to_port: int | None, peer: dict[str, str]) -> dict[str, Any]:
    return {
        "SecurityGroupRuleId": new_id("sgr"),
        "IpProtocol": protocol,
        "FromPort": from_port,
        "ToPort": to_port,
        **peer,
    }


# -- enforcement --------------------------------------------------------------------------------------


def rules_for(store: Store, account: str, region: str, group_ids: Sequence[str]) -> InterfaceRules:
    """The flows an interface in `group_ids` may take (the union of its groups' rules), with source and
    destination groups resolved to their members' private addresses."""
    groups = store.list(SECURITY_GROUP, account, region, ids=list(group_ids)) if group_ids else []
    members: dict[str, list[str]] | None = None
    result: dict[str, list[FirewallRule]] = {"Ingress": [], "Egress": []}
    for group in groups:
        for direction in ("Ingress", "Egress"):
            for rule in group.spec[direction]:
                cidrs: list[str] = []
                if rule.get("CidrIpv4"):
                    cidrs = [rule["CidrIpv4"]]
                elif rule.get("ReferencedGroupId"):
                    if members is None:
                        members = _members(store, account, region)
                    cidrs = [f"{ip}/32" for ip in members.get(rule["ReferencedGroupId"], [])]
                for cidr in cidrs:
                    result[direction].append(
                        FirewallRule(rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort"), cidr)
                    )
    return InterfaceRules(
        ingress=tuple(dict.fromkeys(result["Ingress"])), egress=tuple(dict.fromkeys(result["Egress"]))
    )


def _members(store: Store, account: str, region: str) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for address in store.list(PRIVATE_IP, account, region):
        for group_id in address.spec.get("GroupIds") or []:
            ips = members.setdefault(group_id, [])
            ips.append(address.spec["Ip"])
            if address.spec.get("RequesterId") == "amazon-elb" and HOST_LINK_ADDRESS not in ips:
                # A load balancer's HAProxy connects to its targets from the host (HAProxy's servers in
                # network namespaces fail in a worker left running by a reload), so the host link's
                # address speaks for the balancer's interfaces in rules that name its groups.
                ips.append(HOST_LINK_ADDRESS)
    return members


# -- handlers ---------------------------------------------------------------------------------------


@api.operation("CreateSecurityGroup")
def create_security_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.ec2.default_vpc import ensure_default_vpc  # the default VPC builds groups too

    store = ctx.runtime.store
    name, description = params["GroupName"], params["Description"]
    if name.lower().startswith("sg-"):
        raise AwsError("InvalidParameterValue", "Group names may not be in the format sg-*")
    if len(name) > 255 or len(description) > 255:
        raise AwsError("InvalidParameterValue", "Group name and description must be at most 255 characters")
    if name == "default":
        raise AwsError("InvalidGroup.Reserved", "The security group 'default' is reserved")
    if params.get("VpcId"):
        vpc_id = vpc_records.get(store, "vpc", ctx.account_id, ctx.region, params["VpcId"]).id
    else:
        vpc_id = ensure_default_vpc(ctx.runtime, ctx.account_id, ctx.region).id
    tags = tags_from_specifications(params.get("TagSpecifications"), "security-group")
    check_dry_run(params)
    record = create_group_record(store, ctx.account_id, ctx.region, vpc_id, name, description, tags)
    return {"GroupId": record.id, "Tags": tags_to_list(record.tags), "SecurityGroupArn": record.arn}


@api.operation("DescribeSecurityGroups")
def describe_security_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.ec2.default_vpc import default_vpc_if_any, ensure_default_vpc

    default_vpc_if_any(ctx.runtime, ctx.account_id, ctx.region)
    store = ctx.runtime.store
    filters = Filters.parse(params.get("Filters"), GROUP_FILTERS)
    ids, names = params.get("GroupIds") or [], params.get("GroupNames") or []
    if ids or names:
        records = vpc_records.get_many(store, "sg", ctx.account_id, ctx.region, ids) if ids else []
    else:
        records = store.list(SECURITY_GROUP, ctx.account_id, ctx.region)
    for name in names:
        default_vpc = ensure_default_vpc(ctx.runtime, ctx.account_id, ctx.region)
        found = store.get_by_name(
            SECURITY_GROUP, ctx.account_id, ctx.region, _store_name(default_vpc.id, name)
        )
        if found is None:
            raise AwsError(
                "InvalidGroup.NotFound",
                f"The security group '{name}' does not exist in default VPC '{default_vpc.id}'",
            )
        records.append(found)
    records = filters.select(records, lambda r: _filter_view(ctx.account_id, r), lambda r: r.tags)
    page, token = _paginate(ctx, params, records, "DescribeSecurityGroups")
    return {"SecurityGroups": [_group_view(ctx.account_id, r) for r in page], "NextToken": token}


@api.operation("DeleteSecurityGroup")
def delete_security_group(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.ec2.default_vpc import ensure_default_vpc

    store = ctx.runtime.store
    if params.get("GroupId"):
        record = vpc_records.get(store, "sg", ctx.account_id, ctx.region, params["GroupId"])
    elif params.get("GroupName"):
        vpc = ensure_default_vpc(ctx.runtime, ctx.account_id, ctx.region)
        found = store.get_by_name(
            SECURITY_GROUP, ctx.account_id, ctx.region, _store_name(vpc.id, params["GroupName"])
        )
        if found is None:
            raise AwsError(
                "InvalidGroup.NotFound",
                f"The security group '{params['GroupName']}' does not exist in default VPC '{vpc.id}'",
            )
        record = found
    else:
        raise AwsError("MissingParameter", "The request must contain the parameter groupName or groupId")
    if record.spec["GroupName"] == "default":
        raise AwsError(
            "CannotDelete", f'the specified group: "{record.id}" name: "default" cannot be deleted by a user'
        )
    in_use = any(
        record.id in (a.spec.get("GroupIds") or [])
        for a in store.list(PRIVATE_IP, ctx.account_id, ctx.region)
    )
    referenced = any(
        rule.get("ReferencedGroupId") == record.id
        for other in store.list(SECURITY_GROUP, ctx.account_id, ctx.region)
        if other.id != record.id
        for rule in other.spec["Ingress"] + other.spec["Egress"]
    )
    if in_use or referenced:
        raise AwsError("DependencyViolation", f"resource {record.id} has a dependent object")
    check_dry_run(params)
    store.delete_by_id(SECURITY_GROUP, ctx.account_id, ctx.region, record.id)
    return {"Return": True, "GroupId": record.id}


@api.operation("AuthorizeSecurityGroupIngress")
def authorize_ingress(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _authorize(ctx, params, "Ingress")


@api.operation("AuthorizeSecurityGroupEgress")
def authorize_egress(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _authorize(ctx, params, "Egress")


@api.operation("RevokeSecurityGroupIngress")
def revoke_ingress(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _revoke(ctx, params, "Ingress")


@api.operation("RevokeSecurityGroupEgress")
def revoke_egress(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _revoke(ctx, params, "Egress")


@api.operation("DescribeSecurityGroupRules")
def describe_security_group_rules(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    filters = Filters.parse(params.get("Filters"), RULE_FILTERS)
    views = [
        _rule_view(ctx.account_id, group, rule, direction == "Egress")
        for group in store.list(SECURITY_GROUP, ctx.account_id, ctx.region)
        for direction in ("Ingress", "Egress")
        for rule in group.spec[direction]
    ]
    wanted = params.get("SecurityGroupRuleIds")
    if wanted:
        known = {v["SecurityGroupRuleId"] for v in views}
        for rule_id in wanted:
            if rule_id not in known:
                raise AwsError(
                    "InvalidSecurityGroupRuleId.NotFound",
                    f"The security group rule ID '{rule_id}' does not exist",
                )
        views = [v for v in views if v["SecurityGroupRuleId"] in wanted]
    views = filters.select(
        views,
        lambda v: {"group-id": v["GroupId"], "security-group-rule-id": v["SecurityGroupRuleId"]},
        lambda v: {},
    )
    max_results = params.get("MaxResults")
    if max_results is not None and not 5 <= max_results <= 1000:
        raise AwsError("InvalidParameterValue", "MaxResults must be between 5 and 1000")
    page, token = ctx.runtime.store.paginator.paginate(
        views,
        max_results,
        params.get("NextToken"),
        key=lambda v: v["SecurityGroupRuleId"],
        scope=f"ec2/sgr/{ctx.account_id}/{ctx.region}",
    )
    return {"SecurityGroupRules": page, "NextToken": token}


# -- authorize / revoke -----------------------------------------------------------------------------


def _target_group(ctx: RequestContext, params: dict[str, Any]) -> Record:
    from onebox.services.ec2.default_vpc import ensure_default_vpc

    store = ctx.runtime.store
    if params.get("GroupId"):
        return vpc_records.get(store, "sg", ctx.account_id, ctx.region, params["GroupId"])
    if params.get("GroupName"):
        vpc = ensure_default_vpc(ctx.runtime, ctx.account_id, ctx.region)
        found = store.get_by_name(
            SECURITY_GROUP, ctx.account_id, ctx.region, _store_name(vpc.id, params["GroupName"])
        )
        if found is None:
            raise AwsError(
                "InvalidGroup.NotFound",
                f"The security group '{params['GroupName']}' does not exist in default VPC '{vpc.id}'",
            )
        return found
    raise AwsError("MissingParameter", "The request must contain the parameter groupId")


def _requested_rules(ctx: RequestContext, params: dict[str, Any], group: Record) -> list[dict[str, Any]]:
    """The request's permissions as stored rules (one per peer), validated."""
    permissions = list(params.get("IpPermissions") or [])
    if params.get("IpProtocol") or params.get("CidrIp") or params.get("SourceSecurityGroupName"):
        legacy: dict[str, Any] = {
            "IpProtocol": params.get("IpProtocol") or "-1",
            "FromPort": params.get("FromPort"),
            "ToPort": params.get("ToPort"),
        }
        if params.get("CidrIp"):
            legacy["IpRanges"] = [{"CidrIp": params["CidrIp"]}]
        if params.get("SourceSecurityGroupName"):
            legacy["UserIdGroupPairs"] = [{"GroupName": params["SourceSecurityGroupName"]}]
        permissions.append(legacy)
    if not permissions:
        raise AwsError("MissingParameter", "The request must contain the parameter ipPermissions")
    rules: list[dict[str, Any]] = []
    for permission in permissions:
        protocol, from_port, to_port = _protocol_and_ports(permission)
        peers: list[dict[str, str]] = []
        for item in permission.get("IpRanges") or []:
            peers.append({"CidrIpv4": _cidr(item.get("CidrIp", ""), 4), **_description(item)})
        for item in permission.get("Ipv6Ranges") or []:
            peers.append({"CidrIpv6": _cidr(item.get("CidrIpv6", ""), 6), **_description(item)})
        for item in permission.get("PrefixListIds") or []:
            peers.append({"PrefixListId": item.get("PrefixListId", ""), **_description(item)})
        for item in permission.get("UserIdGroupPairs") or []:
            peers.append({"ReferencedGroupId": _peer_group(ctx, item, group), **_description(item)})
        if not peers:
            raise AwsError(
                "InvalidParameterValue",
                "The request must specify a source (CIDR, prefix list or security group)",
            )
        rules += [_rule(protocol, from_port, to_port, peer) for peer in peers]
    return rules


def _protocol_and_ports(permission: dict[str, Any]) -> tuple[str, int | None, int | None]:
    raw = str(permission.get("IpProtocol", "")).lower()
    protocol = _PROTOCOLS.get(raw)
    if protocol is None:
        if raw.isdigit() and 0 <= int(raw) <= 255:
            protocol = raw
        else:
            raise AwsError(
                "InvalidParameterValue", f"Invalid value '{raw}' for IP protocol. Unknown protocol."
            )
    from_port, to_port = permission.get("FromPort"), permission.get("ToPort")
    if protocol in ("tcp", "udp"):
        if from_port is None or to_port is None:
            raise AwsError(
                "InvalidParameterValue",
                "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.",
            )
        if not (0 <= from_port <= 65535 and 0 <= to_port <= 65535) or from_port > to_port:
            raise AwsError(
                "InvalidParameterValue", f"Invalid {protocol.upper()} port range {from_port}-{to_port}"
            )
        return protocol, from_port, to_port
    if protocol == "icmp":
        from_port = -1 if from_port is None else from_port
        to_port = -1 if to_port is None else to_port
        if not (-1 <= from_port <= 255 and -1 <= to_port <= 255):
            raise AwsError("InvalidParameterValue", f"Invalid ICMP type/code {from_port}/{to_port}")
        return protocol, from_port, to_port
    return protocol, None, None


def _cidr(text: str, version: int) -> str:
    try:
        block = ipaddress.ip_network(text, strict=False)
    except ValueError:
        block = None
    if block is None or block.version != version:
        name = "CIDR block" if version == 4 else "IPv6 CIDR block"
        raise AwsError(
            "InvalidParameterValue",
            f"Value ({text}) for parameter cidrIp is invalid. This is not a valid {name}.",
        )
    return str(block)


def _description(item: dict[str, Any]) -> dict[str, str]:
    return {"Description": item["Description"]} if item.get("Description") else {}


def _peer_group(ctx: RequestContext, item: dict[str, Any], group: Record) -> str:
    store = ctx.runtime.store
    if item.get("GroupId"):
        peer = vpc_records.get(store, "sg", ctx.account_id, ctx.region, item["GroupId"])
    elif item.get("GroupName"):
        found = store.get_by_name(
            SECURITY_GROUP, ctx.account_id, ctx.region, _store_name(group.spec["VpcId"], item["GroupName"])
        )
        if found is None:
            raise AwsError(
                "InvalidGroup.NotFound", f"The security group '{item['GroupName']}' does not exist"
            )
        peer = found
    else:
        raise AwsError("InvalidParameterValue", "A security group pair must name a GroupId or GroupName")
    if peer.spec["VpcId"] != group.spec["VpcId"]:
        raise AwsError(
            "InvalidGroup.NotFound",
            f"You have specified two resources that belong to different networks: {peer.id} is not in"
            f" {group.spec['VpcId']}",
        )
    return peer.id


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    fields = ("IpProtocol", "FromPort", "ToPort", "CidrIpv4", "CidrIpv6", "PrefixListId", "ReferencedGroupId")
    return all(a.get(f) == b.get(f) for f in fields)


def _describe_rule(rule: dict[str, Any]) -> str:
    peer = (
        rule.get("CidrIpv4")
        or rule.get("CidrIpv6")
        or rule.get("PrefixListId")
        or rule.get("ReferencedGroupId")
    )
    protocol = {"-1": "ALL"}.get(rule["IpProtocol"], rule["IpProtocol"].upper())
    ports = ""
    if rule.get("FromPort") is not None:
        ports = f", from port: {rule['FromPort']}, to port: {rule['ToPort']}"
    return f'"peer: {peer}, {protocol}{ports}, ALLOW"'


def _authorize(ctx: RequestContext, params: dict[str, Any], direction: str) -> dict[str, Any]:
    store = ctx.runtime.store
    group = _target_group(ctx, params)
    rules = _requested_rules(ctx, params, group)
    check_dry_run(params)
    with store.transaction():
        group = store.get(SECURITY_GROUP, ctx.account_id, ctx.region, group.id) or group
        existing: list[dict[str, Any]] = group.spec[direction]
        for index, rule in enumerate(rules):
            if any(_same(rule, other) for other in existing + rules[:index]):
                raise AwsError(
                    "InvalidPermission.Duplicate", f"the specified rule {_describe_rule(rule)} already exists"
                )
        store.update(group, spec={**group.spec, direction: existing + rules})
    views = [_rule_view(ctx.account_id, group, rule, direction == "Egress") for rule in rules]
    return {"Return": True, "SecurityGroupRules": views}


def _revoke(ctx: RequestContext, params: dict[str, Any], direction: str) -> dict[str, Any]:
    store = ctx.runtime.store
    group = _target_group(ctx, params)
    rule_ids = params.get("SecurityGroupRuleIds") or []
    requested = [] if rule_ids and not params.get("IpPermissions") else _requested_rules(ctx, params, group)
    check_dry_run(params)
    with store.transaction():
        group = store.get(SECURITY_GROUP, ctx.account_id, ctx.region, group.id) or group
        existing: list[dict[str, Any]] = group.spec[direction]
        removed: list[dict[str, Any]] = []
        for rule_id in rule_ids:
            match = [r for r in existing if r["SecurityGroupRuleId"] == rule_id]
            if not match:
                raise AwsError(
                    "InvalidSecurityGroupRuleId.NotFound",
                    f"The security group rule ID '{rule_id}' does not exist",
                )
            removed += match
        for rule in requested:
            match = [r for r in existing if _same(r, rule)]
            if not match:
                raise AwsError(
                    "InvalidPermission.NotFound", "The specified rule does not exist in this security group."
                )
            removed += match
        removed_ids = {r["SecurityGroupRuleId"] for r in removed}
        store.update(
            group,
            spec={
                **group.spec,
                direction: [r for r in existing if r["SecurityGroupRuleId"] not in removed_ids],
            },
        )
    return {
        "Return": True,
        "RevokedSecurityGroupRules": [
            {
                "SecurityGroupRuleId": r["SecurityGroupRuleId"],
                "GroupId": group.id,
                "IsEgress": direction == "Egress",
                "IpProtocol": r["IpProtocol"],
                "FromPort": r.get("FromPort") if r.get("FromPort") is not None else -1,
                "ToPort": r.get("ToPort") if r.get("ToPort") is not None else -1,
                **({"CidrIpv4": r["CidrIpv4"]} if r.get("CidrIpv4") else {}),
                **(
                    {"ReferencedSecurityGroupId": r["ReferencedGroupId"]}
                    if r.get("ReferencedGroupId")
                    else {}
                ),
            }
            for r in removed
        ],
    }


# -- views ------------------------------------------------------------------------------------------


def _permissions(account: str, rules: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, int | None, int | None], dict[str, Any]] = {}
    for rule in rules:
        key = (rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort"))
        permission = grouped.get(key)
        if permission is None:
            permission = {
                "IpProtocol": rule["IpProtocol"],
                "IpRanges": [],
                "Ipv6Ranges": [],
                "PrefixListIds": [],
                "UserIdGroupPairs": [],
            }
            if rule.get("FromPort") is not None:
                permission["FromPort"], permission["ToPort"] = rule["FromPort"], rule["ToPort"]
            grouped[key] = permission
        described = {"Description": rule["Description"]} if rule.get("Description") else {}
        if rule.get("CidrIpv4"):
            permission["IpRanges"].append({"CidrIp": rule["CidrIpv4"], **described})
        elif rule.get("CidrIpv6"):
            permission["Ipv6Ranges"].append({"CidrIpv6": rule["CidrIpv6"], **described})
        elif rule.get("PrefixListId"):
            permission["PrefixListIds"].append({"PrefixListId": rule["PrefixListId"], **described})
        elif rule.get("ReferencedGroupId"):
            permission["UserIdGroupPairs"].append(
                {"GroupId": rule["ReferencedGroupId"], "UserId": account, **described}
            )
    return list(grouped.values())


def _group_view(account: str, record: Record) -> dict[str, Any]:
    return {
        "GroupId": record.id,
        "GroupName": record.spec["GroupName"],
        "Description": record.spec["Description"],
        "VpcId": record.spec["VpcId"],
        "OwnerId": account,
        "SecurityGroupArn": record.arn,
        "IpPermissions": _permissions(account, record.spec["Ingress"]),
        "IpPermissionsEgress": _permissions(account, record.spec["Egress"]),
        "Tags": tags_to_list(record.tags),
    }


def _rule_view(account: str, group: Record, rule: dict[str, Any], egress: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "SecurityGroupRuleId": rule["SecurityGroupRuleId"],
        "GroupId": group.id,
        "GroupOwnerId": account,
        "IsEgress": egress,
        "IpProtocol": rule["IpProtocol"],
        "FromPort": rule["FromPort"] if rule.get("FromPort") is not None else -1,
        "ToPort": rule["ToPort"] if rule.get("ToPort") is not None else -1,
        "Tags": [],
        "SecurityGroupRuleArn": group.arn.replace(
            f"security-group/{group.id}", f"security-group-rule/{rule['SecurityGroupRuleId']}"
        ),
    }
    for field in ("CidrIpv4", "CidrIpv6", "PrefixListId", "Description"):
        if rule.get(field):
            view[field] = rule[field]
    if rule.get("ReferencedGroupId"):
        view["ReferencedGroupInfo"] = {"GroupId": rule["ReferencedGroupId"], "UserId": account}
    return view


def _filter_view(account: str, record: Record) -> dict[str, Any]:
    view: dict[str, Any] = {
        "description": record.spec["Description"],
        "group-id": record.id,
        "group-name": record.spec["GroupName"],
        "vpc-id": record.spec["VpcId"],
        "owner-id": account,
    }
    for prefix, direction in (("ip-permission", "Ingress"), ("egress.ip-permission", "Egress")):
        rules = record.spec[direction]
        view[f"{prefix}.protocol"] = [r["IpProtocol"] for r in rules]
        view[f"{prefix}.from-port"] = [str(r["FromPort"]) for r in rules if r.get("FromPort") is not None]
        view[f"{prefix}.to-port"] = [str(r["ToPort"]) for r in rules if r.get("ToPort") is not None]
        view[f"{prefix}.cidr"] = [r["CidrIpv4"] for r in rules if r.get("CidrIpv4")]
        view[f"{prefix}.group-id"] = [r["ReferencedGroupId"] for r in rules if r.get("ReferencedGroupId")]
    return view


def _paginate(
    ctx: RequestContext, params: dict[str, Any], records: list[Record], operation: str
) -> tuple[list[Record], str | None]:
    max_results = params.get("MaxResults")
    if max_results is not None:
        if params.get("GroupIds") or params.get("GroupNames"):
            raise AwsError(
                "InvalidParameterCombination", "The parameter groupIds cannot be used with maxResults"
            )
        if not 5 <= max_results <= 1000:
            raise AwsError("InvalidParameterValue", "MaxResults must be between 5 and 1000")
    return ctx.runtime.store.paginator.paginate(
        records,
        max_results,
        params.get("NextToken"),
        key=lambda r: r.seq,
        scope=f"ec2/{operation}/{ctx.account_id}/{ctx.region}",
    )
