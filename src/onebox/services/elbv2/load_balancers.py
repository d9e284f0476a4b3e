"""Application Load Balancers: create, describe, delete, subnets, security groups and attributes.
Handlers record intent; the controller (controller.py) runs the balancer's HAProxy."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.elbv2 import access_logs, interfaces
from onebox.services.elbv2.common import (
    ELB_TAG_RULES,
    HOSTED_ZONES,
    LIMITS,
    LISTENER,
    LOAD_BALANCER,
    RULE,
    TEARDOWN,
    allocate_address,
    check_name,
    data_plane_key,
    dns_name,
    get_load_balancer,
    get_many,
    lb_arn,
    new_elb_id,
    paginate,
)
from onebox.store import AlreadyExists, Record, Store
from onebox.store.tags import apply_tags, tags_from_list

api = ServiceApi("elbv2")

DEFAULT_ATTRIBUTES: dict[str, str] = {
    "access_logs.s3.enabled": "false",
    "access_logs.s3.bucket": "",
    "access_logs.s3.prefix": "",
    "connection_logs.s3.enabled": "false",
    "connection_logs.s3.bucket": "",
    "connection_logs.s3.prefix": "",
    "health_check_logs.s3.enabled": "false",
    "health_check_logs.s3.bucket": "",
    "health_check_logs.s3.prefix": "",
    "deletion_protection.enabled": "false",
    "idle_timeout.timeout_seconds": "60",
    "client_keep_alive.seconds": "3600",
    "routing.http.desync_mitigation_mode": "defensive",
    "routing.http.drop_invalid_header_fields.enabled": "false",
    "routing.http.preserve_host_header.enabled": "false",
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": "false",
    "routing.http.xff_client_port.enabled": "false",
    "routing.http.xff_header_processing.mode": "append",
    "routing.http2.enabled": "true",
    "waf.fail_open.enabled": "false",
    "zonal_shift.config.enabled": "false",
    "load_balancing.cross_zone.enabled": "true",
}
_BOOLEAN_ATTRIBUTES = {key for key, value in DEFAULT_ATTRIBUTES.items() if value in ("true", "false")}
_CHOICES = {
    "routing.http.desync_mitigation_mode": ("monitor", "defensive", "strictest"),
    "routing.http.xff_header_processing.mode": ("append", "preserve", "remove"),
}
_RANGES = {"idle_timeout.timeout_seconds": (1, 4000), "client_keep_alive.seconds": (60, 604800)}


def _subnets(ctx: RequestContext, params: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    """(VPC id, [{SubnetId, ZoneName}]) for Subnets or SubnetMappings: at least two zones, one subnet each."""
    from onebox.services.ec2 import vpc_records

    subnet_ids = list(params.get("Subnets") or [])
    mappings = params.get("SubnetMappings") or []
    if subnet_ids and mappings:
        raise AwsError("ValidationError", "You can specify subnets or subnet mappings, not both")
    for mapping in mappings:
        if mapping.get("AllocationId") or mapping.get("PrivateIPv4Address") or mapping.get("IPv6Address"):
            raise AwsError(
                "InvalidConfigurationRequest",
                "Elastic IP and private IP subnet mappings are only supported by Network Load Balancers",
            )
        subnet_ids.append(mapping.get("SubnetId") or "")
    store = ctx.runtime.store
    records: list[Record] = []
    for subnet_id in dict.fromkeys(subnet_ids):
        record = store.get(vpc_records.SUBNET, ctx.account_id, ctx.region, subnet_id)
        if record is None:
            raise AwsError("SubnetNotFound", f"The subnet ID '{subnet_id}' is not valid")
        records.append(record)
    vpcs = {r.spec["VpcId"] for r in records}
    if len(vpcs) > 1:
        raise AwsError("InvalidConfigurationRequest", "The subnets must all belong to the same VPC")
    zones: dict[str, str] = {}
    for record in records:
        zone = record.spec["AvailabilityZone"]
        if zone in zones:
            raise AwsError(
                "InvalidConfigurationRequest",
                "A load balancer cannot be attached to multiple subnets in the same Availability Zone",
            )
        zones[zone] = record.id
    if len(zones) < 2:
        raise AwsError(
            "ValidationError", "At least two subnets in two different Availability Zones must be specified"
        )
    chosen = [{"SubnetId": subnet, "ZoneName": zone} for zone, subnet in sorted(zones.items())]
    return vpcs.pop(), chosen


def _security_groups(ctx: RequestContext, vpc_id: str, group_ids: list[str] | None) -> list[str]:
    from onebox.services.ec2 import vpc_records
    from onebox.services.ec2.security_groups import default_group

    store = ctx.runtime.store
    if not group_ids:
        default = default_group(store, ctx.account_id, ctx.region, vpc_id)
        return [default.id] if default is not None else []
    for group_id in dict.fromkeys(group_ids):
        record = store.get(vpc_records.SECURITY_GROUP, ctx.account_id, ctx.region, group_id)
        if record is None or record.spec.get("VpcId") != vpc_id:
            raise AwsError("InvalidSecurityGroup", f"Security group '{group_id}' does not exist")
    return list(dict.fromkeys(group_ids))


@api.operation("CreateLoadBalancer")
def create_load_balancer(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = check_name(params.get("Name") or "", "Load balancer")
    if name.lower().startswith("internal-"):
        raise AwsError("ValidationError", "Load balancer name cannot begin with 'internal-'")
    lb_type = params.get("Type") or "application"
    if lb_type != "application":
        raise AwsError("ValidationError", f"Load balancer type '{lb_type}' is not supported by onebox yet")
    scheme = params.get("Scheme") or "internet-facing"
    if scheme not in ("internet-facing", "internal"):
        raise AwsError("InvalidScheme", f"Scheme '{scheme}' is not valid")
    ip_type = params.get("IpAddressType") or "ipv4"
    if ip_type != "ipv4":
        raise AwsError("ValidationError", "onebox load balancers support only the ipv4 address type")
    if params.get("CustomerOwnedIpv4Pool"):
        raise AwsError("ValidationError", "Customer-owned IPv4 pools are not supported")
    vpc_id, subnets = _subnets(ctx, params)
    groups = _security_groups(ctx, vpc_id, params.get("SecurityGroups"))
    tags = apply_tags({}, tags_from_list(params.get("Tags")), ELB_TAG_RULES)
    store = ctx.runtime.store
    settings = {
        "Type": lb_type,
        "Scheme": scheme,
        "IpAddressType": ip_type,
        "VpcId": vpc_id,
        "Subnets": subnets,
        "SecurityGroups": groups,
    }
    with store.transaction():
        existing = store.get_by_name(LOAD_BALANCER, ctx.account_id, ctx.region, name)
        if existing is not None:
            if any(existing.spec.get(k) != v for k, v in settings.items()):
                raise AwsError(
                    "DuplicateLoadBalancerName",
                    f"A load balancer with the same name '{name}' exists, but with different settings",
                )
            return {"LoadBalancers": [load_balancer_view(existing)]}
        if store.count(LOAD_BALANCER, ctx.account_id, ctx.region) >= LIMITS["application-load-balancers"]:
            raise AwsError("TooManyLoadBalancers", "You have reached the maximum number of load balancers")
        lb_id = new_elb_id()
        spec = {
            **settings,
            "Interfaces": interfaces.allocate(
                store, ctx.account_id, ctx.region, name, lb_id, subnets, groups
            ),
            "DNSName": dns_name(name, lb_id, ctx.region, scheme),
            "CanonicalHostedZoneId": HOSTED_ZONES.get(ctx.region, "Z35SXDOTRQ7X7K"),
            "Address": allocate_address(ctx.runtime),
            "Attributes": dict(DEFAULT_ATTRIBUTES),
        }
        try:
            record = store.create(
                LOAD_BALANCER,
                ctx.account_id,
                ctx.region,
                lb_id,
                arn=lb_arn(ctx.region, ctx.account_id, name, lb_id),
                name=name,
                spec=spec,
                status={"State": {"Code": "provisioning"}},
                tags=tags,
            )
        except AlreadyExists:
            raise AwsError(
                "DuplicateLoadBalancerName", f"A load balancer with the name '{name}' exists"
            ) from None
    return {"LoadBalancers": [load_balancer_view(record)]}


def load_balancer_view(record: Record) -> dict[str, Any]:
    spec = record.spec
    state = dict(record.status.get("State") or {"Code": "provisioning"})
    return {
        "LoadBalancerArn": record.arn,
        "DNSName": spec["DNSName"],
        "CanonicalHostedZoneId": spec["CanonicalHostedZoneId"],
        "CreatedTime": record.created_at,
        "LoadBalancerName": record.name,
        "Scheme": spec["Scheme"],
        "VpcId": spec["VpcId"],
        "State": state,
        "Type": spec["Type"],
        "AvailabilityZones": [
            {"ZoneName": s["ZoneName"], "SubnetId": s["SubnetId"], "LoadBalancerAddresses": []}
            for s in spec["Subnets"]
        ],
        "SecurityGroups": spec["SecurityGroups"],
        "IpAddressType": spec["IpAddressType"],
    }


@api.operation("DescribeLoadBalancers")
def describe_load_balancers(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    arns = params.get("LoadBalancerArns") or []
    names = params.get("Names") or []
    if arns and names:
        raise AwsError(
            "ValidationError",
            "Load balancer names and load balancer ARNs cannot be specified at the same time",
        )
    if arns:
        records = get_many(store, ctx.account_id, ctx.region, arns, "loadbalancer/app/")
    elif names:
        records = []
        for name in dict.fromkeys(names):
            record = store.get_by_name(LOAD_BALANCER, ctx.account_id, ctx.region, name)
            if record is None:
                raise AwsError("LoadBalancerNotFound", f"Load balancers '[{name}]' not found")
            records.append(record)
    else:
        records = store.list(LOAD_BALANCER, ctx.account_id, ctx.region)
    page, marker = paginate(
        store, records, params, f"elbv2:DescribeLoadBalancers:{ctx.account_id}:{ctx.region}"
    )
    result: dict[str, Any] = {"LoadBalancers": [load_balancer_view(r) for r in page]}
    if marker:
        result["NextMarker"] = marker
    return result


def release_certificates(
    store: Store, ctx: RequestContext, listener: Record, arns: list[str] | None = None
) -> None:
    """Tell ACM the listener no longer uses `arns` (default: all its certificates), unless another
    listener of the same balancer still does (InUseBy names the balancer)."""
    if arns is None:
        arns = [c["CertificateArn"] for c in listener.spec.get("Certificates") or []]
        arns += list(listener.spec.get("ExtraCertificates") or [])
    if not arns:
        return
    try:
        from onebox.services.acm.certificates import unmark_in_use
    except ImportError:
        return
    lb = store.get(LOAD_BALANCER, listener.account, listener.region, listener.spec["LoadBalancerId"])
    user = lb.arn if lb is not None else listener.arn
    for arn in arns:
        if not any(
            c["CertificateArn"] == arn
            for other in store.list(LISTENER, listener.account, listener.region)
            if other.id != listener.id and other.spec["LoadBalancerId"] == listener.spec["LoadBalancerId"]
            for c in [
                *(other.spec.get("Certificates") or []),
                *({"CertificateArn": extra} for extra in other.spec.get("ExtraCertificates") or []),
            ]
        ):
            unmark_in_use(ctx.runtime, listener.account, listener.region, arn, user)


@api.operation("DeleteLoadBalancer")
def delete_load_balancer(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        try:
            record = get_load_balancer(store, ctx.account_id, ctx.region, params.get("LoadBalancerArn") or "")
        except AwsError as error:
            if error.code == "LoadBalancerNotFound":
                return {}  # AWS: deleting a balancer that is gone succeeds
            raise
        if record.spec["Attributes"].get("deletion_protection.enabled") == "true":
            raise AwsError(
                "OperationNotPermitted",
                f"Load balancer '{record.arn}' cannot be deleted because deletion protection is enabled",
            )
        for rule in store.list(RULE, ctx.account_id, ctx.region):
            if rule.spec["LoadBalancerId"] == record.id:
                store.delete(rule)
        for listener in store.list(LISTENER, ctx.account_id, ctx.region):
            if listener.spec["LoadBalancerId"] == record.id:
                release_certificates(store, ctx, listener)
                store.delete(listener)
        store.create(
            TEARDOWN,
            ctx.account_id,
            ctx.region,
            record.id,
            arn=record.arn,
            spec={
                "DataPlaneKey": data_plane_key(record.id),
                "DNSName": record.spec["DNSName"],
                "Address": record.spec["Address"],
            },
        )
        # AWS frees the interfaces with the balancer: Terraform waits for them to go before it deletes
        # the subnets and security groups. The controller unplugs them on the host.
        interfaces.release(store, ctx.account_id, ctx.region, record.spec.get("Interfaces") or [])
        store.delete(record)
    return {}


@api.operation("SetSecurityGroups")
def set_security_groups(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_load_balancer(store, ctx.account_id, ctx.region, params.get("LoadBalancerArn") or "")
        groups = _security_groups(ctx, record.spec["VpcId"], params.get("SecurityGroups") or [])
        if not groups:
            raise AwsError("ValidationError", "At least one security group must be specified")
        interfaces.set_groups(store, ctx.account_id, ctx.region, record.spec.get("Interfaces") or [], groups)
        store.update(record, spec={**record.spec, "SecurityGroups": groups})
    return {"SecurityGroupIds": groups}


@api.operation("SetSubnets")
def set_subnets(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_load_balancer(store, ctx.account_id, ctx.region, params.get("LoadBalancerArn") or "")
        vpc_id, subnets = _subnets(ctx, params)
        if vpc_id != record.spec["VpcId"]:
            raise AwsError(
                "InvalidConfigurationRequest", "The subnets must belong to the load balancer's VPC"
            )
        kept = {s["SubnetId"] for s in subnets}
        current = record.spec.get("Interfaces") or []
        interfaces.release(
            store, ctx.account_id, ctx.region, [i for i in current if i["SubnetId"] not in kept]
        )
        have = {i["SubnetId"] for i in current}
        added = interfaces.allocate(
            store,
            ctx.account_id,
            ctx.region,
            record.name or record.id,
            record.id,
            [s for s in subnets if s["SubnetId"] not in have],
            record.spec["SecurityGroups"],
        )
        wanted = [i for i in current if i["SubnetId"] in kept] + added
        store.update(record, spec={**record.spec, "Subnets": subnets, "Interfaces": wanted})
    return {
        "AvailabilityZones": [
            {"ZoneName": s["ZoneName"], "SubnetId": s["SubnetId"], "LoadBalancerAddresses": []}
            for s in subnets
        ],
        "IpAddressType": record.spec["IpAddressType"],
    }


@api.operation("SetIpAddressType")
def set_ip_address_type(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    get_load_balancer(ctx.runtime.store, ctx.account_id, ctx.region, params.get("LoadBalancerArn") or "")
    if params.get("IpAddressType") != "ipv4":
        raise AwsError("ValidationError", "onebox load balancers support only the ipv4 address type")
    return {"IpAddressType": "ipv4"}


# -- attributes --------------------------------------------------------------------------------------


def _check_attribute(key: str, value: str) -> None:
    if key not in DEFAULT_ATTRIBUTES:
        raise AwsError("ValidationError", f"Load balancer attribute key '{key}' is not recognized")
    if key in _BOOLEAN_ATTRIBUTES and value not in ("true", "false"):
        raise AwsError("ValidationError", f"Load balancer attribute '{key}' must be 'true' or 'false'")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise AwsError(
            "ValidationError", f"Load balancer attribute '{key}' must be one of {', '.join(_CHOICES[key])}"
        )
    if key in _RANGES:
        low, high = _RANGES[key]
        if not value.isdigit() or not low <= int(value) <= high:
            raise AwsError(
                "ValidationError",
                f"Load balancer attribute '{key}' must be an integer between {low} and {high}",
            )
    if key == "load_balancing.cross_zone.enabled" and value != "true":
        raise AwsError(
            "InvalidConfigurationRequest",
            "Cross-zone load balancing is always on for Application Load Balancers",
        )


@api.operation("ModifyLoadBalancerAttributes")
def modify_load_balancer_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    with store.transaction():
        record = get_load_balancer(store, ctx.account_id, ctx.region, params.get("LoadBalancerArn") or "")
        changes = {str(a.get("Key") or ""): str(a.get("Value") or "") for a in params.get("Attributes") or []}
        for key, value in changes.items():
            _check_attribute(key, value)
        merged = {**record.spec["Attributes"], **changes}
        for kind in ("access_logs", "connection_logs", "health_check_logs"):
            if merged[f"{kind}.s3.enabled"] == "true" and not merged[f"{kind}.s3.bucket"]:
                raise AwsError(
                    "InvalidConfigurationRequest", f"The value of '{kind}.s3.bucket' cannot be empty"
                )
        logs_before = record.spec["Attributes"]
        if merged["access_logs.s3.enabled"] == "true" and (
            logs_before.get("access_logs.s3.enabled") != "true"
            or logs_before.get("access_logs.s3.bucket") != merged["access_logs.s3.bucket"]
        ):
            access_logs.check_bucket(ctx, merged["access_logs.s3.bucket"])
        store.update(record, spec={**record.spec, "Attributes": merged})
    return {"Attributes": [{"Key": k, "Value": v} for k, v in merged.items()]}


@api.operation("DescribeLoadBalancerAttributes")
def describe_load_balancer_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = get_load_balancer(
        ctx.runtime.store, ctx.account_id, ctx.region, params.get("LoadBalancerArn") or ""
    )
    return {"Attributes": [{"Key": k, "Value": v} for k, v in record.spec["Attributes"].items()]}


@api.operation("DescribeCapacityReservation")
def describe_capacity_reservation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """No capacity is ever reserved: onebox's balancers are as big as the machine."""
    get_load_balancer(ctx.runtime.store, ctx.account_id, ctx.region, params.get("LoadBalancerArn") or "")
    return {"DecreaseRequestsRemaining": 3, "CapacityReservationState": []}
