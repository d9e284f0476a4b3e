"""EC2 route tables: the main table of each VPC, custom tables, routes and subnet associations.

onebox records routes as AWS shows them. On the host, subnets of a VPC always reach each other (the
`local` route, made real by the VPC's router namespace); routes to internet gateways, NAT gateways
and the like are recorded but lead nowhere: nothing leaves the machine (docs/vpc-networking.md).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError
from onebox.services.ec2 import vpc_records
from onebox.services.ec2.tagging import tags_from_specifications
from onebox.services.ec2.vpc_records import ROUTE_TABLE, check_dry_run
from onebox.store import Record, Store
from onebox.store.filters import Filters
from onebox.store.ids import arn, new_id
from onebox.store.tags import tags_to_list

api = ServiceApi("ec2")

TABLE_FILTERS = (
    "route-table-id",
    "vpc-id",
    "owner-id",
    "association.main",
    "association.subnet-id",
    "association.route-table-id",
    "association.route-table-association-id",
    "association.gateway-id",
    "route.destination-cidr-block",
    "route.gateway-id",
    "route.nat-gateway-id",
    "route.state",
    "route.origin",
)
_TARGETS = (
    "GatewayId",
    "NatGatewayId",
    "NetworkInterfaceId",
    "InstanceId",
    "VpcPeeringConnectionId",
    "TransitGatewayId",
    "EgressOnlyInternetGatewayId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "VpcEndpointId",
)


def create_table_record(
    store: Store,
    account: str,
    region: str,
    vpc_id: str,
    cidr: str,
    *,
    main: bool,
    tags: dict[str, str] | None = None,
) -> Record:
    table_id = new_id("rtb")
    associations = []
    if main:
        associations = [{"RouteTableAssociationId": new_id("rtbassoc"), "Main": True}]
    routes = [
        {"DestinationCidrBlock": cidr, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}
    ]
    return store.create(
        ROUTE_TABLE,
        account,
        region,
        table_id,
        arn=arn("ec2", region, account, f"route-table/{table_id}"),
        spec={"VpcId": vpc_id, "Routes": routes, "Associations": associations},
        tags=tags or {},
    )


def main_table(store: Store, account: str, region: str, vpc_id: str) -> Record | None:
    for table in store.list(ROUTE_TABLE, account, region):
        if table.spec["VpcId"] == vpc_id and any(a.get("Main") for a in table.spec["Associations"]):
            return table
    return None


def add_route(store: Store, table: Record, route: dict[str, Any]) -> Record:
    return store.update(table, spec={**table.spec, "Routes": table.spec["Routes"] + [route]})


def forget_subnet(store: Store, account: str, region: str, subnet_id: str) -> None:
    """Drop a deleted subnet's explicit association, as EC2 does."""
    for table in store.list(ROUTE_TABLE, account, region):
        kept = [a for a in table.spec["Associations"] if a.get("SubnetId") != subnet_id]
        if len(kept) != len(table.spec["Associations"]):
            store.update(table, spec={**table.spec, "Associations": kept})


# -- handlers ---------------------------------------------------------------------------------------


@api.operation("CreateRouteTable")
def create_route_table(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    vpc = vpc_records.get(store, "vpc", ctx.account_id, ctx.region, params["VpcId"])
    tags = tags_from_specifications(params.get("TagSpecifications"), "route-table")
    check_dry_run(params)
    record = create_table_record(
        store, ctx.account_id, ctx.region, vpc.id, vpc.spec["CidrBlock"], main=False, tags=tags
    )
    return {"RouteTable": _view(ctx.account_id, record), "ClientToken": params.get("ClientToken")}


@api.operation("DescribeRouteTables")
def describe_route_tables(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    from onebox.services.ec2.default_vpc import default_vpc_if_any  # made on first use

    default_vpc_if_any(ctx.runtime, ctx.account_id, ctx.region)
    filters = Filters.parse(params.get("Filters"), TABLE_FILTERS)
    records = vpc_records.get_many(
        ctx.runtime.store, "rtb", ctx.account_id, ctx.region, params.get("RouteTableIds")
    )
    records = filters.select(records, lambda r: _filter_view(ctx.account_id, r), lambda r: r.tags)
    max_results = params.get("MaxResults")
    if max_results is not None and not 5 <= max_results <= 100:
        raise AwsError("InvalidParameterValue", "MaxResults must be between 5 and 100")
    page, token = ctx.runtime.store.paginator.paginate(
        records,
        max_results,
        params.get("NextToken"),
        key=lambda r: r.seq,
        scope=f"ec2/rtb/{ctx.account_id}/{ctx.region}",
    )
    return {"RouteTables": [_view(ctx.account_id, r) for r in page], "NextToken": token}


@api.operation("DeleteRouteTable")
def delete_route_table(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    table = vpc_records.get(store, "rtb", ctx.account_id, ctx.region, params["RouteTableId"])
    if table.spec["Associations"]:
        raise vpc_records.dependency_violation("routeTable", table.id)
    check_dry_run(params)
    store.delete_by_id(ROUTE_TABLE, ctx.account_id, ctx.region, table.id)
    return {}


@api.operation("CreateRoute")
def create_route(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    table = vpc_records.get(store, "rtb", ctx.account_id, ctx.region, params["RouteTableId"])
    route = _route(ctx, params, table)
    check_dry_run(params)
    with store.transaction():
        table = store.get(ROUTE_TABLE, ctx.account_id, ctx.region, table.id) or table
        if any(r["DestinationCidrBlock"] == route["DestinationCidrBlock"] for r in table.spec["Routes"]):
            raise AwsError(
                "RouteAlreadyExists",
                f"The route identified by {route['DestinationCidrBlock']} already exists.",
            )
        add_route(store, table, route)
    return {"Return": True}


@api.operation("ReplaceRoute")
def replace_route(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    table = vpc_records.get(store, "rtb", ctx.account_id, ctx.region, params["RouteTableId"])
    route = _route(ctx, params, table)
    check_dry_run(params)
    with store.transaction():
        table = store.get(ROUTE_TABLE, ctx.account_id, ctx.region, table.id) or table
        destination = route["DestinationCidrBlock"]
        if not any(r["DestinationCidrBlock"] == destination for r in table.spec["Routes"]):
            raise _route_not_found(table.id, destination)
        routes = [r if r["DestinationCidrBlock"] != destination else route for r in table.spec["Routes"]]
        store.update(table, spec={**table.spec, "Routes": routes})
    return {}


@api.operation("DeleteRoute")
def delete_route(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    table = vpc_records.get(store, "rtb", ctx.account_id, ctx.region, params["RouteTableId"])
    destination = params.get("DestinationCidrBlock")
    if not destination:
        raise AwsError("MissingParameter", "The request must contain the parameter destinationCidrBlock")
    check_dry_run(params)
    with store.transaction():
        table = store.get(ROUTE_TABLE, ctx.account_id, ctx.region, table.id) or table
        match = [r for r in table.spec["Routes"] if r["DestinationCidrBlock"] == destination]
        if not match:
            raise _route_not_found(table.id, destination)
        if match[0].get("GatewayId") == "local":
            raise AwsError(
                "InvalidParameterValue", f"cannot remove local route {destination} in route table {table.id}"
            )
        routes = [r for r in table.spec["Routes"] if r["DestinationCidrBlock"] != destination]
        store.update(table, spec={**table.spec, "Routes": routes})
    return {}


@api.operation("AssociateRouteTable")
def associate_route_table(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    table = vpc_records.get(store, "rtb", ctx.account_id, ctx.region, params["RouteTableId"])
    if not params.get("SubnetId"):
        raise AwsError("MissingParameter", "The request must contain the parameter subnetId")
    subnet = vpc_records.get(store, "subnet", ctx.account_id, ctx.region, params["SubnetId"])
    if subnet.spec["VpcId"] != table.spec["VpcId"]:
        raise AwsError(
            "InvalidParameterValue",
            f"Route table {table.id} and subnet {subnet.id} belong to different networks",
        )
    check_dry_run(params)
    association_id = new_id("rtbassoc")
    with store.transaction():
        for other in store.list(ROUTE_TABLE, ctx.account_id, ctx.region):
            if any(a.get("SubnetId") == subnet.id for a in other.spec["Associations"]):
                raise AwsError(
                    "Resource.AlreadyAssociated",
                    f"the specified association for route table {table.id} conflicts with an existing association",
                )
        table = store.get(ROUTE_TABLE, ctx.account_id, ctx.region, table.id) or table
        association = {"RouteTableAssociationId": association_id, "Main": False, "SubnetId": subnet.id}
        store.update(table, spec={**table.spec, "Associations": table.spec["Associations"] + [association]})
    return {"AssociationId": association_id, "AssociationState": {"State": "associated"}}


@api.operation("DisassociateRouteTable")
def disassociate_route_table(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    association_id = params["AssociationId"]
    check_dry_run(params)
    with store.transaction():
        table, association = _find_association(store, ctx.account_id, ctx.region, association_id)
        if association.get("Main"):
            raise AwsError(
                "InvalidParameterValue",
                f"cannot disassociate the main route table association {association_id}",
            )
        kept = [a for a in table.spec["Associations"] if a["RouteTableAssociationId"] != association_id]
        store.update(table, spec={**table.spec, "Associations": kept})
    return {}


@api.operation("ReplaceRouteTableAssociation")
def replace_route_table_association(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.runtime.store
    target = vpc_records.get(store, "rtb", ctx.account_id, ctx.region, params["RouteTableId"])
    check_dry_run(params)
    new_association_id = new_id("rtbassoc")
    with store.transaction():
        table, association = _find_association(store, ctx.account_id, ctx.region, params["AssociationId"])
        if table.spec["VpcId"] != target.spec["VpcId"]:
            raise AwsError("InvalidParameterValue", f"Route table {target.id} belongs to a different network")
        kept = [
            a for a in table.spec["Associations"] if a["RouteTableAssociationId"] != params["AssociationId"]
        ]
        table = store.update(table, spec={**table.spec, "Associations": kept})
        target = store.get(ROUTE_TABLE, ctx.account_id, ctx.region, target.id) or target
        moved = {**association, "RouteTableAssociationId": new_association_id}
        store.update(target, spec={**target.spec, "Associations": target.spec["Associations"] + [moved]})
    return {"NewAssociationId": new_association_id, "AssociationState": {"State": "associated"}}


# -- helpers ----------------------------------------------------------------------------------------


def _route(ctx: RequestContext, params: dict[str, Any], table: Record) -> dict[str, Any]:
    destination = params.get("DestinationCidrBlock")
    if not destination:
        raise AwsError("MissingParameter", "The request must contain the parameter destinationCidrBlock")
    try:
        destination = str(ipaddress.IPv4Network(destination, strict=False))
    except ValueError:
        raise AwsError(
            "InvalidParameterValue", f"Value ({destination}) for parameter destinationCidrBlock is invalid."
        ) from None
    targets = {name: params[name] for name in _TARGETS if params.get(name)}
    if len(targets) != 1:
        raise AwsError("InvalidParameterCombination", "The request must contain exactly one route target")
    gateway = targets.get("GatewayId")
    if gateway is not None:
        if gateway.startswith("igw-"):
            igw = vpc_records.get(ctx.runtime.store, "igw", ctx.account_id, ctx.region, gateway)
            if igw.spec.get("VpcId") != table.spec["VpcId"]:
                raise AwsError(
                    "InvalidParameterValue",
                    f"route table {table.id} and network gateway {gateway} belong to different networks",
                )
        elif gateway != "local":
            raise AwsError("InvalidGatewayID.NotFound", f"The gateway ID '{gateway}' does not exist")
    return {"DestinationCidrBlock": destination, **targets, "Origin": "CreateRoute", "State": "active"}


def _route_not_found(table_id: str, destination: str) -> AwsError:
    return AwsError(
        "InvalidRoute.NotFound",
        f"no route with destination-cidr-block {destination} in route table {table_id}",
    )


def _find_association(
    store: Store, account: str, region: str, association_id: str
) -> tuple[Record, dict[str, Any]]:
    for table in store.list(ROUTE_TABLE, account, region):
        for association in table.spec["Associations"]:
            if association["RouteTableAssociationId"] == association_id:
                return table, association
    raise AwsError("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist")


def _view(account: str, record: Record) -> dict[str, Any]:
    associations = []
    for association in record.spec["Associations"]:
        view = {
            "Main": bool(association.get("Main")),
            "RouteTableAssociationId": association["RouteTableAssociationId"],
            "RouteTableId": record.id,
            "AssociationState": {"State": "associated"},
        }
        if association.get("SubnetId"):
            view["SubnetId"] = association["SubnetId"]
        associations.append(view)
    return {
        "Associations": associations,
        "PropagatingVgws": [],
        "RouteTableId": record.id,
        "Routes": [dict(route) for route in record.spec["Routes"]],
        "Tags": tags_to_list(record.tags),
        "VpcId": record.spec["VpcId"],
        "OwnerId": account,
    }


def _filter_view(account: str, record: Record) -> dict[str, Any]:
    associations = record.spec["Associations"]
    routes = record.spec["Routes"]
    return {
        "route-table-id": record.id,
        "vpc-id": record.spec["VpcId"],
        "owner-id": account,
        "association.main": ["true" if a.get("Main") else "false" for a in associations],
        "association.subnet-id": [a["SubnetId"] for a in associations if a.get("SubnetId")],
        "association.route-table-id": [record.id] if associations else [],
        "association.route-table-association-id": [a["RouteTableAssociationId"] for a in associations],
        "association.gateway-id": [],
        "route.destination-cidr-block": [r["DestinationCidrBlock"] for r in routes],
        "route.gateway-id": [r["GatewayId"] for r in routes if r.get("GatewayId")],
        "route.nat-gateway-id": [r["NatGatewayId"] for r in routes if r.get("NatGatewayId")],
        "route.state": [r.get("State", "active") for r in routes],
        "route.origin": [r.get("Origin", "CreateRoute") for r in routes],
    }
