"""ELBv2's API through boto3 and the AWS CLI: AWS's defaults, names, errors and pagination. Bad input
changes nothing. (Traffic through the balancers is in test_elbv2_live.py.)"""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def elb(onebox):
    return onebox.client("elbv2")


@pytest.fixture(scope="module")
def network(onebox) -> dict:
    ec2 = onebox.client("ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    subnets.sort(key=lambda s: s["AvailabilityZone"])
    vpc = subnets[0]["VpcId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    other_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.77.1.0/24", AvailabilityZone="us-east-1a")
    same_zone = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.77.2.0/24", AvailabilityZone="us-east-1a")
    return {
        "vpc": vpc,
        "subnets": [s["SubnetId"] for s in subnets],
        "other_vpc": other_vpc,
        "other_subnets": [other_subnet["Subnet"]["SubnetId"], same_zone["Subnet"]["SubnetId"]],
    }


def code_of(call, **params) -> str:  # noqa: ANN001
    with pytest.raises(ClientError) as error:
        call(**params)
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error.value.response["Error"]["Code"]


def make_group(elb, network: dict, name: str, **extra) -> str:  # noqa: ANN001
    params = {
        "Name": name,
        "Protocol": "HTTP",
        "Port": 80,
        "VpcId": network["vpc"],
        "TargetType": "ip",
        **extra,
    }
    return elb.create_target_group(**params)["TargetGroups"][0]["TargetGroupArn"]


def test_load_balancer_names_defaults_attributes_and_deletion(elb, network) -> None:  # noqa: ANN001
    created = elb.create_load_balancer(
        Name="api-web", Subnets=network["subnets"][:2], Tags=[{"Key": "team", "Value": "web"}]
    )["LoadBalancers"][0]
    arn = created["LoadBalancerArn"]
    assert re.fullmatch(
        r"arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/api-web/[0-9a-f]{16}", arn
    )
    lb_id = arn.rsplit("/", 1)[1]
    assert created["DNSName"] == f"api-web-{lb_id}.us-east-1.elb.localhost"
    assert created["CanonicalHostedZoneId"] == "Z35SXDOTRQ7X7K"
    assert (created["Scheme"], created["Type"], created["IpAddressType"]) == (
        "internet-facing",
        "application",
        "ipv4",
    )
    assert created["State"]["Code"] in ("provisioning", "active")
    assert [z["ZoneName"] for z in created["AvailabilityZones"]] == ["us-east-1a", "us-east-1b"]
    assert len(created["SecurityGroups"]) == 1  # the VPC's default group
    # Same name and settings: the same balancer (AWS is idempotent); other settings: a duplicate.
    again = elb.create_load_balancer(Name="api-web", Subnets=network["subnets"][:2])["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == arn
    assert code_of(elb.create_load_balancer, Name="api-web", Subnets=network["subnets"][1:]) == (
        "DuplicateLoadBalancerName"
    )
    internal = elb.create_load_balancer(Name="api-int", Subnets=network["subnets"], Scheme="internal")
    assert internal["LoadBalancers"][0]["DNSName"].startswith("internal-api-int-")

    attributes = {
        a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    }
    assert attributes["idle_timeout.timeout_seconds"] == "60"
    assert attributes["deletion_protection.enabled"] == "false"
    assert attributes["routing.http.xff_header_processing.mode"] == "append"
    for bad in (
        [{"Key": "idle_timeout.timeout_seconds", "Value": "0"}],
        [{"Key": "no.such.attribute", "Value": "1"}],
        [{"Key": "deletion_protection.enabled", "Value": "yes"}],
    ):
        assert (
            code_of(elb.modify_load_balancer_attributes, LoadBalancerArn=arn, Attributes=bad)
            == "ValidationError"
        )
    assert code_of(
        elb.modify_load_balancer_attributes,
        LoadBalancerArn=arn,
        Attributes=[{"Key": "access_logs.s3.enabled", "Value": "true"}],
    ) == ("InvalidConfigurationRequest")
    changed = elb.modify_load_balancer_attributes(
        LoadBalancerArn=arn,
        Attributes=[
            {"Key": "idle_timeout.timeout_seconds", "Value": "120"},
            {"Key": "deletion_protection.enabled", "Value": "true"},
            {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
        ],
    )
    assert {a["Key"]: a["Value"] for a in changed["Attributes"]}["idle_timeout.timeout_seconds"] == "120"
    assert code_of(elb.delete_load_balancer, LoadBalancerArn=arn) == "OperationNotPermitted"
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}]
    )
    elb.delete_load_balancer(LoadBalancerArn=arn)
    elb.delete_load_balancer(LoadBalancerArn=arn)  # gone already: succeeds, as AWS does
    assert code_of(elb.describe_load_balancers, LoadBalancerArns=[arn]) == "LoadBalancerNotFound"
    assert code_of(elb.describe_load_balancers, Names=["api-web"]) == "LoadBalancerNotFound"
    # The name is free again at once.
    recreated = elb.create_load_balancer(Name="api-web", Subnets=network["subnets"][1:])["LoadBalancers"][0]
    elb.delete_load_balancer(LoadBalancerArn=recreated["LoadBalancerArn"])
    elb.delete_load_balancer(LoadBalancerArn=internal["LoadBalancers"][0]["LoadBalancerArn"])


def test_load_balancer_bad_input(elb, network, onebox) -> None:  # noqa: ANN001
    subnets = network["subnets"]
    cases = [
        ({"Name": "one-zone", "Subnets": subnets[:1]}, "ValidationError"),
        ({"Name": "same-zone", "Subnets": network["other_subnets"]}, "InvalidConfigurationRequest"),
        (
            {"Name": "two-vpcs", "Subnets": [subnets[1], network["other_subnets"][0]]},
            "InvalidConfigurationRequest",
        ),
        ({"Name": "no-subnet", "Subnets": [subnets[0], "subnet-0123456789abcdef0"]}, "SubnetNotFound"),
        (
            {"Name": "bad-sg", "Subnets": subnets[:2], "SecurityGroups": ["sg-0123456789abcdef0"]},
            "InvalidSecurityGroup",
        ),
        ({"Name": "-dash", "Subnets": subnets[:2]}, "ValidationError"),
        ({"Name": "internal-x", "Subnets": subnets[:2]}, "ValidationError"),
        ({"Name": "x" * 33, "Subnets": subnets[:2]}, "ValidationError"),
        (
            {"Name": "both", "Subnets": subnets[:1], "SubnetMappings": [{"SubnetId": subnets[1]}]},
            "ValidationError",
        ),
    ]
    for params, code in cases:
        assert code_of(elb.create_load_balancer, **params) == code, params
    assert elb.describe_load_balancers()["LoadBalancers"] == [] or all(
        lb["LoadBalancerName"] not in {p["Name"] for p, _ in cases}
        for lb in elb.describe_load_balancers()["LoadBalancers"]
    )
    mapped = elb.create_load_balancer(Name="mapped", SubnetMappings=[{"SubnetId": s} for s in subnets])
    assert len(mapped["LoadBalancers"][0]["AvailabilityZones"]) == 3
    elb.delete_load_balancer(LoadBalancerArn=mapped["LoadBalancers"][0]["LoadBalancerArn"])
    assert code_of(elb.describe_load_balancers, LoadBalancerArns=["arn:nope"]) == "ValidationError"


def test_target_groups_defaults_attributes_and_errors(elb, network) -> None:  # noqa: ANN001
    arn = make_group(elb, network, "api-tg", TargetType="instance")
    group = elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert group["HealthCheckProtocol"] == "HTTP" and group["HealthCheckPort"] == "traffic-port"
    assert (group["HealthCheckIntervalSeconds"], group["HealthCheckTimeoutSeconds"]) == (30, 5)
    assert (group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (5, 2)
    assert group["HealthCheckPath"] == "/" and group["Matcher"] == {"HttpCode": "200"}
    assert group["LoadBalancerArns"] == [] and group["TargetType"] == "instance"
    assert make_group(elb, network, "api-tg", TargetType="instance") == arn  # same settings: same group
    assert code_of(
        elb.create_target_group, Name="api-tg", Protocol="HTTP", Port=81, VpcId=network["vpc"]
    ) == ("DuplicateTargetGroupName")
    for extra, code in (
        ({"HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 5}, "ValidationError"),
        ({"HealthCheckIntervalSeconds": 301}, "ValidationError"),
        ({"HealthyThresholdCount": 11}, "ValidationError"),
        ({"Matcher": {"HttpCode": "200-600"}}, "InvalidConfigurationRequest"),
        ({"Matcher": {"HttpCode": "ok"}}, "ValidationError"),
        ({"HealthCheckPath": "health"}, "ValidationError"),
        ({"VpcId": "vpc-0123456789abcdef0"}, "ValidationError"),
        ({"Protocol": "TCP"}, "ValidationError"),
    ):
        assert code_of(make_group, elb=elb, network=network, name="bad-tg", **extra) == code, extra
    assert code_of(elb.describe_target_groups, Names=["bad-tg"]) == "TargetGroupNotFound"

    modified = elb.modify_target_group(
        TargetGroupArn=arn,
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2,
        Matcher={"HttpCode": "200-299"},
        HealthCheckPath="/health",
    )["TargetGroups"][0]
    assert (modified["HealthCheckIntervalSeconds"], modified["Matcher"]["HttpCode"]) == (5, "200-299")
    assert (
        code_of(elb.modify_target_group, TargetGroupArn=arn, HealthCheckTimeoutSeconds=10)
        == "ValidationError"
    )

    attributes = {
        a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    }
    assert attributes["deregistration_delay.timeout_seconds"] == "300"
    assert attributes["stickiness.enabled"] == "false" and attributes["stickiness.type"] == "lb_cookie"
    assert attributes["stickiness.lb_cookie.duration_seconds"] == "86400"
    assert attributes["slow_start.duration_seconds"] == "0"
    assert attributes["load_balancing.algorithm.type"] == "round_robin"
    for bad in (
        {"Key": "deregistration_delay.timeout_seconds", "Value": "3601"},
        {"Key": "slow_start.duration_seconds", "Value": "10"},
        {"Key": "stickiness.type", "Value": "source_ip"},
        {"Key": "load_balancing.algorithm.type", "Value": "random"},
        {"Key": "made.up", "Value": "1"},
    ):
        assert (
            code_of(elb.modify_target_group_attributes, TargetGroupArn=arn, Attributes=[bad])
            == "ValidationError"
        )
    elb.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[
            {"Key": "stickiness.enabled", "Value": "true"},
            {"Key": "stickiness.lb_cookie.duration_seconds", "Value": "60"},
            {"Key": "deregistration_delay.timeout_seconds", "Value": "5"},
            {"Key": "slow_start.duration_seconds", "Value": "30"},
        ],
    )
    assert code_of(
        elb.modify_target_group_attributes,
        TargetGroupArn=arn,
        Attributes=[{"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"}],
    ) == ("InvalidConfigurationRequest")
    attributes = {
        a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    }
    assert (
        attributes["stickiness.enabled"] == "true"
        and attributes["load_balancing.algorithm.type"] == "round_robin"
    )
    elb.delete_target_group(TargetGroupArn=arn)
    assert code_of(elb.delete_target_group, TargetGroupArn=arn) == "TargetGroupNotFound"
    assert code_of(elb.describe_target_health, TargetGroupArn=arn) == "TargetGroupNotFound"


def test_listeners_rules_conditions_actions_and_priorities(elb, network) -> None:  # noqa: ANN001
    lb = elb.create_load_balancer(Name="api-rules", Subnets=network["subnets"][:2])["LoadBalancers"][0]
    lb_arn = lb["LoadBalancerArn"]
    blue = make_group(elb, network, "api-blue")
    green = make_group(elb, network, "api-green")
    listener = elb.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=8080,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": blue}],
    )["Listeners"][0]
    listener_arn = listener["ListenerArn"]
    action = listener["DefaultActions"][0]
    assert action["TargetGroupArn"] == blue and action["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": blue, "Weight": 1}
    ]
    assert elb.describe_target_groups(TargetGroupArns=[blue])["TargetGroups"][0]["LoadBalancerArns"] == [
        lb_arn
    ]
    assert code_of(elb.delete_target_group, TargetGroupArn=blue) == "ResourceInUse"
    forward_blue = [{"Type": "forward", "TargetGroupArn": blue}]
    assert code_of(
        elb.create_listener, LoadBalancerArn=lb_arn, Protocol="HTTP", Port=8080, DefaultActions=forward_blue
    ) == ("DuplicateListener")
    assert code_of(
        elb.create_listener, LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=8443, DefaultActions=forward_blue
    ) == ("ValidationError")
    assert code_of(
        elb.create_listener,
        LoadBalancerArn=lb_arn,
        Protocol="HTTPS",
        Port=8443,
        DefaultActions=forward_blue,
        Certificates=[
            {
                "CertificateArn": "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000"
            }
        ],
    ) == ("CertificateNotFound")
    assert code_of(
        elb.create_listener, LoadBalancerArn=lb_arn, Protocol="TCP", Port=9, DefaultActions=forward_blue
    ) == ("UnsupportedProtocol")
    missing_group = blue[:-4] + "0000"
    assert code_of(
        elb.create_listener,
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=81,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": missing_group}],
    ) == ("TargetGroupNotFound")

    weighted = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": blue, "Weight": 3}, {"TargetGroupArn": green, "Weight": 1}],
            "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 300},
        },
    }
    rules = [
        ([{"Field": "host-header", "Values": ["*.example.com"]}], weighted),
        (
            [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
            {"Type": "forward", "TargetGroupArn": green},
        ),
        (
            [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["canary"]}}],
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {
                    "StatusCode": "418",
                    "ContentType": "text/plain",
                    "MessageBody": "tea",
                },
            },
        ),
        (
            [{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["DELETE"]}}],
            {
                "Type": "redirect",
                "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
            },
        ),
        (
            [
                {
                    "Field": "query-string",
                    "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}, {"Value": "beta"}]},
                }
            ],
            {"Type": "forward", "TargetGroupArn": green},
        ),
        (
            [{"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8", "127.0.0.1/32"]}}],
            {"Type": "forward", "TargetGroupArn": green},
        ),
    ]
    arns = []
    for index, (conditions, rule_action) in enumerate(rules):
        created = elb.create_rule(
            ListenerArn=listener_arn, Priority=(index + 1) * 10, Conditions=conditions, Actions=[rule_action]
        )
        arns.append(created["Rules"][0]["RuleArn"])
    described = elb.describe_rules(ListenerArn=listener_arn)["Rules"]
    assert [r["Priority"] for r in described] == ["10", "20", "30", "40", "50", "60", "default"]
    assert described[-1]["IsDefault"] and described[-1]["Actions"][0]["TargetGroupArn"] == blue
    assert described[0]["Conditions"][0]["Values"] == ["*.example.com"]
    assert described[0]["Conditions"][0]["HostHeaderConfig"] == {"Values": ["*.example.com"]}
    assert described[0]["Actions"][0]["ForwardConfig"]["TargetGroupStickinessConfig"] == {
        "Enabled": True,
        "DurationSeconds": 300,
    }
    redirect = described[3]["Actions"][0]["RedirectConfig"]
    assert redirect == {
        "Protocol": "HTTPS",
        "Port": "443",
        "Host": "#{host}",
        "Path": "/#{path}",
        "Query": "#{query}",
        "StatusCode": "HTTP_301",
    }
    page = elb.describe_rules(ListenerArn=listener_arn, PageSize=4)
    rest = elb.describe_rules(ListenerArn=listener_arn, PageSize=4, Marker=page["NextMarker"])
    assert [r["Priority"] for r in page["Rules"] + rest["Rules"]] == [r["Priority"] for r in described]
    assert "NextMarker" not in rest

    only_host = [{"Field": "host-header", "Values": ["a.example.com"]}]
    forward_green = [{"Type": "forward", "TargetGroupArn": green}]
    bad_rules = [
        ({"Priority": 10, "Conditions": only_host, "Actions": forward_green}, "PriorityInUse"),
        ({"Priority": 70, "Conditions": [], "Actions": forward_green}, "ValidationError"),
        ({"Priority": 70, "Conditions": only_host * 2, "Actions": forward_green}, "ValidationError"),
        (
            {
                "Priority": 70,
                "Conditions": [
                    {"Field": "host-header", "Values": ["a.example.com", "b.example.com", "c.example.com"]},
                    {"Field": "path-pattern", "Values": ["/a", "/b", "/c"]},
                ],
                "Actions": forward_green,
            },
            "TooManyConditions",
        ),
        (
            {
                "Priority": 70,
                "Conditions": [{"Field": "host-header", "Values": ["nodot"]}],
                "Actions": forward_green,
            },
            "ValidationError",
        ),
        (
            {
                "Priority": 70,
                "Conditions": [{"Field": "path-pattern", "Values": ["/a b"]}],
                "Actions": forward_green,
            },
            "ValidationError",
        ),
        (
            {
                "Priority": 70,
                "Conditions": [{"Field": "source-ip", "SourceIpConfig": {"Values": ["255.255.255.255/32"]}}],
                "Actions": forward_green,
            },
            "ValidationError",
        ),
        (
            {
                "Priority": 70,
                "Conditions": only_host,
                "Actions": [{"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_302"}}],
            },
            "InvalidLoadBalancerAction",
        ),
        (
            {
                "Priority": 70,
                "Conditions": only_host,
                "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "302"}}],
            },
            "ValidationError",
        ),
        (
            {
                "Priority": 70,
                "Conditions": only_host,
                "Actions": [
                    *forward_green,
                    {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}},
                ],
            },
            "InvalidLoadBalancerAction",
        ),
        (
            {
                "Priority": 70,
                "Conditions": only_host,
                "Actions": [
                    {
                        "Type": "authenticate-oidc",
                        "Order": 1,
                        "AuthenticateOidcConfig": {
                            "Issuer": "i",
                            "AuthorizationEndpoint": "a",
                            "TokenEndpoint": "t",
                            "UserInfoEndpoint": "u",
                            "ClientId": "c",
                        },
                    },
                    {**forward_green[0], "Order": 2},
                ],
            },
            "InvalidLoadBalancerAction",
        ),
    ]
    for params, code in bad_rules:
        assert code_of(elb.create_rule, ListenerArn=listener_arn, **params) == code, params
    assert len(elb.describe_rules(ListenerArn=listener_arn)["Rules"]) == 7  # nothing changed

    swapped = elb.set_rule_priorities(
        RulePriorities=[{"RuleArn": arns[0], "Priority": 20}, {"RuleArn": arns[1], "Priority": 10}]
    )["Rules"]
    assert {r["RuleArn"]: r["Priority"] for r in swapped} == {arns[0]: "20", arns[1]: "10"}
    assert (
        code_of(elb.set_rule_priorities, RulePriorities=[{"RuleArn": arns[0], "Priority": 30}])
        == "PriorityInUse"
    )
    default_arn = described[-1]["RuleArn"]
    assert code_of(elb.set_rule_priorities, RulePriorities=[{"RuleArn": default_arn, "Priority": 5}]) == (
        "OperationNotPermitted"
    )
    assert code_of(elb.delete_rule, RuleArn=default_arn) == "OperationNotPermitted"
    modified = elb.modify_rule(RuleArn=default_arn, Actions=forward_green)["Rules"][0]
    assert modified["Actions"][0]["TargetGroupArn"] == green
    assert (
        elb.describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]["DefaultActions"][0][
            "TargetGroupArn"
        ]
        == green
    )
    elb.modify_rule(RuleArn=arns[1], Conditions=[{"Field": "path-pattern", "Values": ["/v2/*"]}])
    assert elb.describe_rules(RuleArns=[arns[1]])["Rules"][0]["Conditions"][0]["Values"] == ["/v2/*"]
    elb.delete_rule(RuleArn=arns[5])
    assert code_of(elb.delete_rule, RuleArn=arns[5]) == "RuleNotFound"
    assert code_of(elb.describe_rules, RuleArns=[arns[5]]) == "RuleNotFound"

    # A target group serves one load balancer.
    other = elb.create_load_balancer(Name="api-other", Subnets=network["subnets"][:2])["LoadBalancers"][0]
    assert code_of(
        elb.create_listener,
        LoadBalancerArn=other["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=forward_blue,
    ) == ("TargetGroupAssociationLimit")
    moved = elb.modify_listener(ListenerArn=listener_arn, Port=8081)["Listeners"][0]
    assert moved["Port"] == 8081
    assert code_of(elb.describe_listeners) == "ValidationError"
    elb.delete_listener(ListenerArn=listener_arn)
    assert code_of(elb.describe_listeners, ListenerArns=[listener_arn]) == "ListenerNotFound"
    assert code_of(elb.describe_rules, RuleArns=[arns[0]]) == "RuleNotFound"
    elb.delete_target_group(TargetGroupArn=blue)  # no longer in use
    elb.delete_load_balancer(LoadBalancerArn=lb_arn)
    elb.delete_load_balancer(LoadBalancerArn=other["LoadBalancerArn"])
    elb.delete_target_group(TargetGroupArn=green)


def test_too_many_rules(elb, network) -> None:  # noqa: ANN001
    lb = elb.create_load_balancer(Name="api-many", Subnets=network["subnets"][:2])["LoadBalancers"][0]
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )["Listeners"][0]
    action = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]
    for priority in range(1, 101):
        elb.create_rule(
            ListenerArn=listener["ListenerArn"],
            Priority=priority,
            Conditions=[{"Field": "path-pattern", "Values": [f"/{priority}"]}],
            Actions=action,
        )
    assert code_of(
        elb.create_rule,
        ListenerArn=listener["ListenerArn"],
        Priority=101,
        Conditions=[{"Field": "path-pattern", "Values": ["/101"]}],
        Actions=action,
    ) == ("TooManyRules")
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])


def test_pagination_tags_limits_and_policies(elb, network, onebox) -> None:  # noqa: ANN001
    arns = [make_group(elb, network, f"api-page-{n}") for n in range(5)]
    seen, marker = [], None
    while True:
        page = elb.describe_target_groups(PageSize=2, **({"Marker": marker} if marker else {}))
        seen += [g["TargetGroupArn"] for g in page["TargetGroups"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert [a for a in seen if a in arns] == arns
    assert code_of(elb.describe_target_groups, Marker="forged") == "ValidationError"

    elb.add_tags(ResourceArns=arns[:2], Tags=[{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "a"}])
    elb.remove_tags(ResourceArns=[arns[0]], TagKeys=["team"])
    described = elb.describe_tags(ResourceArns=arns[:2])["TagDescriptions"]
    assert described[0]["Tags"] == [{"Key": "env", "Value": "test"}]
    assert described[1]["Tags"] == [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "a"}]
    assert code_of(
        elb.add_tags, ResourceArns=[arns[0]], Tags=[{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]
    ) == ("DuplicateTagKeys")
    too_many = [{"Key": f"k{n}", "Value": "v"} for n in range(50)]
    assert code_of(elb.add_tags, ResourceArns=[arns[0]], Tags=too_many) == "TooManyTags"
    assert code_of(elb.describe_tags, ResourceArns=[arns[0][:-4] + "0000"]) == "TargetGroupNotFound"

    limits = {limit["Name"]: limit["Max"] for limit in elb.describe_account_limits()["Limits"]}
    assert limits["rules-per-application-load-balancer"] == "100"
    policies = elb.describe_ssl_policies(Names=["ELBSecurityPolicy-2016-08"])["SslPolicies"]
    assert "TLSv1.2" in policies[0]["SslProtocols"]
    assert code_of(elb.describe_ssl_policies, Names=["NoSuchPolicy"]) == "SSLPolicyNotFound"

    # The AWS CLI speaks the same API.
    result = onebox.aws("elbv2", "describe-target-groups", "--names", "api-page-0")
    assert json.loads(result.stdout)["TargetGroups"][0]["TargetGroupArn"] == arns[0]
    failed = onebox.aws("elbv2", "describe-target-groups", "--names", "api-none", check=False)
    assert failed.returncode != 0 and "TargetGroupNotFound" in failed.stderr
    for arn in arns:
        elb.delete_target_group(TargetGroupArn=arn)


def test_https_listener_certificates(elb, network, onebox) -> None:  # noqa: ANN001
    from tests.acm_support import make_certificate

    acm = onebox.client("acm")
    arns = []
    for name in ("one.example.com", "two.example.com", "three.example.com"):
        issued = make_certificate(name, (name,))
        arns.append(
            acm.import_certificate(Certificate=issued.certificate_bytes, PrivateKey=issued.private_key_bytes)[
                "CertificateArn"
            ]
        )
    lb = elb.create_load_balancer(Name="api-tls", Subnets=network["subnets"][:2])["LoadBalancers"][0]
    fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTPS",
        Port=443,
        Certificates=[{"CertificateArn": arns[0]}],
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        DefaultActions=fixed,
    )["Listeners"][0]
    assert listener["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listener["Certificates"] == [{"CertificateArn": arns[0]}]
    arn = listener["ListenerArn"]
    assert code_of(
        elb.create_listener,
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTPS",
        Port=8443,
        Certificates=[{"CertificateArn": arns[0]}],
        SslPolicy="NoSuchPolicy",
        DefaultActions=fixed,
    ) == ("SSLPolicyNotFound")
    assert code_of(
        elb.create_rule,
        ListenerArn=arn,
        Priority=1,
        Conditions=[{"Field": "path-pattern", "Values": ["/x"]}],
        Actions=[{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTP", "StatusCode": "HTTP_301"}}],
    ) == ("InvalidLoadBalancerAction")  # never HTTPS to HTTP
    elb.add_listener_certificates(ListenerArn=arn, Certificates=[{"CertificateArn": arns[1]}])
    described = elb.describe_listener_certificates(ListenerArn=arn)["Certificates"]
    assert described == [
        {"CertificateArn": arns[0], "IsDefault": True},
        {"CertificateArn": arns[1], "IsDefault": False},
    ]
    assert code_of(
        elb.remove_listener_certificates, ListenerArn=arn, Certificates=[{"CertificateArn": arns[0]}]
    ) == ("OperationNotPermitted")
    assert code_of(
        elb.add_listener_certificates,
        ListenerArn=arn,
        Certificates=[{"CertificateArn": arns[2][:-4] + "0000"}],
    ) == ("CertificateNotFound")
    in_use = acm.describe_certificate(CertificateArn=arns[1])["Certificate"]["InUseBy"]
    assert in_use == [lb["LoadBalancerArn"]]
    assert code_of(acm.delete_certificate, CertificateArn=arns[1]) == "ResourceInUseException"
    elb.remove_listener_certificates(ListenerArn=arn, Certificates=[{"CertificateArn": arns[1]}])
    assert acm.describe_certificate(CertificateArn=arns[1])["Certificate"].get("InUseBy", []) == []

    switched = elb.modify_listener(ListenerArn=arn, Certificates=[{"CertificateArn": arns[2]}])["Listeners"][
        0
    ]
    assert switched["Certificates"] == [{"CertificateArn": arns[2]}]
    assert acm.describe_certificate(CertificateArn=arns[0])["Certificate"].get("InUseBy", []) == []
    plain = elb.modify_listener(ListenerArn=arn, Protocol="HTTP", Port=80)["Listeners"][0]
    assert (plain["Protocol"], "Certificates" in plain, "SslPolicy" in plain) == ("HTTP", False, False)
    assert acm.describe_certificate(CertificateArn=arns[2])["Certificate"].get("InUseBy", []) == []
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    for certificate in arns:
        acm.delete_certificate(CertificateArn=certificate)
