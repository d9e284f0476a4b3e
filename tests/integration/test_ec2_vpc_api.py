"""The VPC API against a live daemon with boto3 and the AWS CLI: shapes, defaults, filters, tags, errors."""

from __future__ import annotations

import json
import random

import pytest
from botocore.exceptions import ClientError

from tests.conftest import LiveOnebox


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return error.value.response["Error"]["Code"]


def _cidr() -> str:
    # A /16 in 10.100-10.199: clear of this host's networks and of other tests' VPCs (mostly).
    return f"10.{random.randint(100, 199)}.0.0/16"


@pytest.fixture
def ec2(onebox: LiveOnebox):  # noqa: ANN201 - boto3 clients are untyped
    return onebox.client("ec2")


def test_default_vpc_subnets_group_and_gateway(ec2) -> None:  # noqa: ANN001
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(vpcs) == 1
    vpc = vpcs[0]
    assert vpc["CidrBlock"] == "172.31.0.0/16" and vpc["State"] == "available" and vpc["IsDefault"]
    assert vpc["VpcId"].startswith("vpc-") and len(vpc["VpcId"]) == 21
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    by_zone = {s["AvailabilityZone"]: s for s in subnets}
    assert sorted(by_zone) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert [by_zone[z]["CidrBlock"] for z in sorted(by_zone)] == [
        "172.31.0.0/20",
        "172.31.16.0/20",
        "172.31.32.0/20",
    ]
    for subnet in subnets:
        assert subnet["DefaultForAz"] and subnet["MapPublicIpOnLaunch"]
        assert subnet["AvailableIpAddressCount"] <= 4096 - 5
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    assert len(groups) == 1
    assert groups[0]["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == groups[0]["GroupId"]
    gateways = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}]
    )["InternetGateways"]
    assert len(gateways) == 1
    tables = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"]
    destinations = {r["DestinationCidrBlock"]: r["GatewayId"] for r in tables[0]["Routes"]}
    assert destinations == {"172.31.0.0/16": "local", "0.0.0.0/0": gateways[0]["InternetGatewayId"]}
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["NetworkAcls"]
    assert acls[0]["IsDefault"] and {e["RuleAction"] for e in acls[0]["Entries"]} == {"allow", "deny"}


def test_vpc_lifecycle_subnets_and_errors(ec2) -> None:  # noqa: ANN001
    cidr = _cidr()
    prefix = cidr.rsplit(".", 2)[0]  # "10.x"
    vpc = ec2.create_vpc(
        CidrBlock=cidr, TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "t"}]}]
    )["Vpc"]
    vpc_id = vpc["VpcId"]
    try:
        assert vpc["State"] in ("pending", "available") and not vpc["IsDefault"]
        assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")["EnableDnsSupport"][
            "Value"
        ]
        assert not ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")[
            "EnableDnsHostnames"
        ]["Value"]
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"][
            "Value"
        ]
        assert (
            ec2.describe_vpcs(
                Filters=[{"Name": "tag:Name", "Values": ["t"]}, {"Name": "vpc-id", "Values": [vpc_id]}]
            )["Vpcs"][0]["CidrBlockAssociationSet"][0]["CidrBlock"]
            == cidr
        )

        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{prefix}.1.0/24", AvailabilityZone="us-east-1b")[
            "Subnet"
        ]
        assert subnet["AvailableIpAddressCount"] == 251 and subnet["AvailabilityZoneId"] == "use1-az2"
        assert not subnet["MapPublicIpOnLaunch"]
        ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
        assert ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]["MapPublicIpOnLaunch"]
        for bad_cidr, code in (
            (f"{prefix}.1.128/25", "InvalidSubnet.Conflict"),
            ("10.99.1.0/24" if not prefix.endswith(".99") else "10.98.1.0/24", "InvalidSubnet.Range"),
            (f"{prefix}.2.0/29", "InvalidSubnet.Range"),
            (f"{prefix}.2.5/24", "InvalidParameterValue"),
        ):
            with pytest.raises(ClientError) as error:
                ec2.create_subnet(VpcId=vpc_id, CidrBlock=bad_cidr)
            assert _code(error) == code, bad_cidr
        with pytest.raises(ClientError) as error:
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{prefix}.3.0/24", AvailabilityZone="us-west-2a")
        assert _code(error) == "InvalidParameterValue" and "us-east-1a" in str(error.value)

        with pytest.raises(ClientError) as error:
            ec2.delete_vpc(VpcId=vpc_id)
        assert _code(error) == "DependencyViolation"

        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        with pytest.raises(ClientError) as error:
            ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        assert _code(error) == "Resource.AlreadyAssociated"
        with pytest.raises(ClientError) as error:
            ec2.delete_internet_gateway(InternetGatewayId=igw)
        assert _code(error) == "DependencyViolation"

        table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        with pytest.raises(ClientError) as error:
            ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        assert _code(error) == "RouteAlreadyExists"
        association = ec2.associate_route_table(RouteTableId=table, SubnetId=subnet["SubnetId"])[
            "AssociationId"
        ]
        with pytest.raises(ClientError) as error:
            ec2.delete_route_table(RouteTableId=table)
        assert _code(error) == "DependencyViolation"
        found = ec2.describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}]
        )["RouteTables"]
        assert [t["RouteTableId"] for t in found] == [table]
        ec2.disassociate_route_table(AssociationId=association)
        ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
        with pytest.raises(ClientError) as error:
            ec2.delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
        assert _code(error) == "InvalidRoute.NotFound"
        ec2.delete_route_table(RouteTableId=table)
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        with pytest.raises(ClientError) as error:
            ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
        assert _code(error) == "Gateway.NotAttached"
        ec2.delete_internet_gateway(InternetGatewayId=igw)
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    finally:
        for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc_id)
    with pytest.raises(ClientError) as error:
        ec2.describe_vpcs(VpcIds=[vpc_id])
    assert _code(error) == "InvalidVpcID.NotFound"


def test_vpc_cidr_rules(ec2) -> None:  # noqa: ANN001
    for cidr, code in (
        ("10.0.0.0/8", "InvalidVpc.Range"),
        ("10.0.0.0/29", "InvalidVpc.Range"),
        ("10.0.0.1/16", "InvalidParameterValue"),
        # The host's nameserver lives in 10.255.255.53: that range is refused, naming the conflict.
        ("10.255.0.0/16", "InvalidVpc.Range"),
        ("169.254.0.0/16", "InvalidVpc.Range"),
    ):
        with pytest.raises(ClientError) as error:
            ec2.create_vpc(CidrBlock=cidr)
        assert _code(error) == code, cidr
    with pytest.raises(ClientError) as error:
        ec2.create_vpc(CidrBlock="10.255.0.0/16")
    assert "nameserver" in error.value.response["Error"]["Message"]
    for call, code in (
        (lambda: ec2.describe_vpcs(VpcIds=["vpc-nope"]), "InvalidVpcID.Malformed"),
        (lambda: ec2.describe_vpcs(VpcIds=["vpc-0123456789abcdef0"]), "InvalidVpcID.NotFound"),
        (lambda: ec2.describe_subnets(SubnetIds=["subnet-0123456789abcdef0"]), "InvalidSubnetID.NotFound"),
        (lambda: ec2.delete_security_group(GroupId="sg-0123456789abcdef0"), "InvalidGroup.NotFound"),
        (lambda: ec2.describe_vpcs(Filters=[{"Name": "bogus", "Values": ["x"]}]), "InvalidParameterValue"),
    ):
        with pytest.raises(ClientError) as error:
            call()
        assert _code(error) == code


def test_security_groups_rules_and_errors(ec2) -> None:  # noqa: ANN001
    vpc_id = ec2.create_vpc(CidrBlock=_cidr())["Vpc"]["VpcId"]
    try:
        web = ec2.create_security_group(GroupName="web", Description="web tier", VpcId=vpc_id)["GroupId"]
        app = ec2.create_security_group(GroupName="app", Description="app tier", VpcId=vpc_id)["GroupId"]
        with pytest.raises(ClientError) as error:
            ec2.create_security_group(GroupName="web", Description="again", VpcId=vpc_id)
        assert _code(error) == "InvalidGroup.Duplicate"
        http = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        added = ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[http])["SecurityGroupRules"]
        assert added[0]["SecurityGroupRuleId"].startswith("sgr-") and added[0]["CidrIpv4"] == "0.0.0.0/0"
        with pytest.raises(ClientError) as error:
            ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[http])
        assert _code(error) == "InvalidPermission.Duplicate"
        from_web = {
            "IpProtocol": "tcp",
            "FromPort": 8000,
            "ToPort": 8100,
            "UserIdGroupPairs": [{"GroupId": web}],
        }
        ec2.authorize_security_group_ingress(GroupId=app, IpPermissions=[from_web])
        with pytest.raises(ClientError) as error:
            ec2.authorize_security_group_ingress(
                GroupId=app,
                IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 9, "ToPort": 1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
                ],
            )
        assert _code(error) == "InvalidParameterValue"
        described = ec2.describe_security_groups(GroupIds=[app])["SecurityGroups"][0]
        assert described["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == web
        assert described["IpPermissionsEgress"][0]["IpProtocol"] == "-1"
        by_port = ec2.describe_security_groups(
            Filters=[
                {"Name": "ip-permission.from-port", "Values": ["80"]},
                {"Name": "vpc-id", "Values": [vpc_id]},
            ]
        )["SecurityGroups"]
        assert [g["GroupId"] for g in by_port] == [web]
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [web]}])[
            "SecurityGroupRules"
        ]
        assert sorted((r["IsEgress"], r["IpProtocol"]) for r in rules) == [(False, "tcp"), (True, "-1")]
        with pytest.raises(ClientError) as error:
            ec2.delete_security_group(GroupId=web)  # referenced by app's rule
        assert _code(error) == "DependencyViolation"
        ec2.revoke_security_group_ingress(GroupId=app, IpPermissions=[from_web])
        with pytest.raises(ClientError) as error:
            ec2.revoke_security_group_ingress(GroupId=app, IpPermissions=[from_web])
        assert _code(error) == "InvalidPermission.NotFound"
        egress_rule = [r for r in rules if r["IsEgress"]][0]["SecurityGroupRuleId"]
        ec2.revoke_security_group_egress(GroupId=web, SecurityGroupRuleIds=[egress_rule])
        assert ec2.describe_security_groups(GroupIds=[web])["SecurityGroups"][0]["IpPermissionsEgress"] == []
        default = ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"][0]["GroupId"]
        with pytest.raises(ClientError) as error:
            ec2.delete_security_group(GroupId=default)
        assert _code(error) == "CannotDelete"
        ec2.delete_security_group(GroupId=web)
        ec2.delete_security_group(GroupId=app)
    finally:
        for group in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
            "SecurityGroups"
        ]:
            if group["GroupName"] != "default":
                ec2.delete_security_group(GroupId=group["GroupId"])
        ec2.delete_vpc(VpcId=vpc_id)


def test_tags_across_resources(ec2) -> None:  # noqa: ANN001
    vpc_id = ec2.create_vpc(CidrBlock=_cidr())["Vpc"]["VpcId"]
    try:
        group = ec2.create_security_group(GroupName="tagged", Description="d", VpcId=vpc_id)["GroupId"]
        ec2.create_tags(
            Resources=[vpc_id, group], Tags=[{"Key": "team", "Value": "blue"}, {"Key": "tier", "Value": ""}]
        )
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc_id, group]}])["Tags"]
        assert sorted((t["ResourceType"], t["Key"], t["Value"]) for t in tags) == [
            ("security-group", "team", "blue"),
            ("security-group", "tier", ""),
            ("vpc", "team", "blue"),
            ("vpc", "tier", ""),
        ]
        ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": "team", "Value": "red"}])  # value differs: kept
        ec2.delete_tags(Resources=[group], Tags=[{"Key": "team"}])
        tags = ec2.describe_tags(
            Filters=[{"Name": "key", "Values": ["team"]}, {"Name": "resource-id", "Values": [vpc_id, group]}]
        )["Tags"]
        assert [(t["ResourceId"], t["Value"]) for t in tags] == [(vpc_id, "blue")]
        with pytest.raises(ClientError) as error:
            ec2.create_tags(Resources=["vpc-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
        assert _code(error) == "InvalidVpcID.NotFound"
        with pytest.raises(ClientError) as error:
            ec2.create_tags(Resources=["bogus"], Tags=[{"Key": "a", "Value": "b"}])
        assert _code(error) == "InvalidID"
        ec2.delete_security_group(GroupId=group)
    finally:
        ec2.delete_vpc(VpcId=vpc_id)


def test_aws_cli_vpc_round_trip(onebox: LiveOnebox) -> None:
    cidr = _cidr()
    created = json.loads(onebox.aws("ec2", "create-vpc", "--cidr-block", cidr).stdout)["Vpc"]
    vpc_id = created["VpcId"]
    try:
        prefix = cidr.rsplit(".", 2)[0]
        subnet = json.loads(
            onebox.aws("ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block", f"{prefix}.8.0/22").stdout
        )["Subnet"]
        assert subnet["AvailableIpAddressCount"] == 1019
        listed = json.loads(
            onebox.aws("ec2", "describe-subnets", "--filters", f"Name=vpc-id,Values={vpc_id}").stdout
        )["Subnets"]
        assert [s["SubnetId"] for s in listed] == [subnet["SubnetId"]]
        group = json.loads(
            onebox.aws(
                "ec2",
                "create-security-group",
                "--group-name",
                "cli",
                "--description",
                "d",
                "--vpc-id",
                vpc_id,
            ).stdout
        )["GroupId"]
        onebox.aws(
            "ec2", "authorize-security-group-ingress", "--group-id", group, "--protocol", "tcp", "--port", "22",
            "--cidr", "192.0.2.0/24",
        )  # fmt: skip
        shown = json.loads(onebox.aws("ec2", "describe-security-groups", "--group-ids", group).stdout)
        permission = shown["SecurityGroups"][0]["IpPermissions"][0]
        assert (permission["FromPort"], permission["IpRanges"][0]["CidrIp"]) == (22, "192.0.2.0/24")
        failed = onebox.aws("ec2", "delete-vpc", "--vpc-id", vpc_id, check=False)
        assert failed.returncode != 0 and "DependencyViolation" in failed.stderr
        onebox.aws("ec2", "delete-security-group", "--group-id", group)
        onebox.aws("ec2", "delete-subnet", "--subnet-id", subnet["SubnetId"])
    finally:
        onebox.aws("ec2", "delete-vpc", "--vpc-id", vpc_id, check=False)
