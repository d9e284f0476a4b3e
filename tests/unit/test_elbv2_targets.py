"""ELBv2 target registration and health on a ManualClock: the internal interface other services use
(targets.py), instance and ip validation, draining for the deregistration delay, AWS's states."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onebox.aws.credentials import CredentialStore
from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.clock import ManualClock
from onebox.config import Config
from onebox.runtime import Runtime
from onebox.services.ec2 import api as ec2_api
from onebox.services.elbv2 import api as elb_api
from onebox.services.elbv2 import targets
from onebox.services.elbv2.common import TARGET_GROUP, target_key
from onebox.store import Store

ACCOUNT, REGION = "000000000000", "us-east-1"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    clock = ManualClock()
    store = Store.open(tmp_path / "onebox.db", clock, synchronous="NORMAL")
    yield Runtime(config=Config(state_dir=tmp_path), clock=clock, store=store, credentials=CredentialStore())
    store.close()


def call(runtime: Runtime, operation: str, service: str = "elbv2", **params: Any) -> dict[str, Any]:
    module = elb_api if service == "elbv2" else ec2_api
    ctx = RequestContext(runtime, service, operation, ACCOUNT, REGION, "r", HttpRequest("POST", "/"))
    return asyncio.run(module.api.call(ctx, params))


def error_of(runtime: Runtime, operation: str, **params: Any) -> AwsError:
    with pytest.raises(AwsError) as error:
        call(runtime, operation, **params)
    return error.value


@pytest.fixture
def network(runtime: Runtime) -> dict[str, Any]:
    subnets = call(runtime, "DescribeSubnets", service="ec2")["Subnets"]
    return {"vpc": subnets[0]["VpcId"], "subnets": sorted(s["SubnetId"] for s in subnets)}


def group(runtime: Runtime, network: dict[str, Any], name: str = "tg", target_type: str = "ip") -> str:
    created = call(
        runtime,
        "CreateTargetGroup",
        Name=name,
        Protocol="HTTP",
        Port=80,
        VpcId=network["vpc"],
        TargetType=target_type,
    )
    return created["TargetGroups"][0]["TargetGroupArn"]


def balancer_forwarding_to(runtime: Runtime, network: dict[str, Any], tg_arn: str) -> str:
    lb = call(runtime, "CreateLoadBalancer", Name="lb", Subnets=network["subnets"][:2])["LoadBalancers"][0]
    call(
        runtime,
        "CreateListener",
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )
    return lb["LoadBalancerArn"]


def instance(runtime: Runtime, instance_id: str, vpc: str | None, state: str = "running") -> None:
    runtime.store.create(
        "ec2:instance",
        ACCOUNT,
        REGION,
        instance_id,
        arn=f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}",
        spec={"VpcId": vpc, "AvailabilityZone": "us-east-1a", "PrivateIpAddress": "172.31.0.10"},
        status={"State": state},
    )


def health(runtime: Runtime, tg_arn: str, **params: Any) -> list[tuple[str, int, str, str | None]]:
    found = call(runtime, "DescribeTargetHealth", TargetGroupArn=tg_arn, **params)["TargetHealthDescriptions"]
    return [
        (d["Target"]["Id"], d["Target"]["Port"], d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
        for d in found
    ]


def test_internal_interface_registers_drains_and_reports_states(runtime: Runtime, network: dict) -> None:
    tg_arn = group(runtime, network)
    targets.check_target_group(runtime, ACCOUNT, REGION, tg_arn)
    with pytest.raises(AwsError) as bad:
        targets.check_target_group(runtime, ACCOUNT, REGION, "not-an-arn")
    assert bad.value.code == "ValidationError"
    with pytest.raises(AwsError) as missing:
        targets.check_target_group(runtime, ACCOUNT, REGION, tg_arn[:-4] + "0000")
    assert missing.value.code == "TargetGroupNotFound"

    # Not used by a balancer: registered targets are unused, and deregistration is immediate.
    targets.register_targets(runtime, ACCOUNT, REGION, tg_arn, [("172.31.0.5", None), ("172.31.16.5", 8080)])
    assert targets.target_states(runtime, ACCOUNT, REGION, tg_arn) == {
        "172.31.0.5": "unused",
        "172.31.16.5": "unused",
    }
    assert health(runtime, tg_arn)[0][3] == "Target.NotInUse"
    targets.deregister_targets(runtime, ACCOUNT, REGION, tg_arn, [("172.31.16.5", 8080)])
    assert targets.target_states(runtime, ACCOUNT, REGION, tg_arn) == {"172.31.0.5": "unused"}

    # In use: initial until the controller reports, draining for the delay, then gone (unused).
    balancer_forwarding_to(runtime, network, tg_arn)
    assert health(runtime, tg_arn) == [("172.31.0.5", 80, "initial", "Elb.RegistrationInProgress")]
    record = runtime.store.list(TARGET_GROUP, ACCOUNT, REGION)[0]
    runtime.store.update_status(
        TARGET_GROUP,
        ACCOUNT,
        REGION,
        record.id,
        {
            "Health": {
                target_key("172.31.0.5", 80): {"State": "healthy", "RegisteredAt": runtime.clock.time()}
            }
        },
    )
    assert targets.target_states(runtime, ACCOUNT, REGION, tg_arn) == {"172.31.0.5": "healthy"}
    targets.deregister_targets(runtime, ACCOUNT, REGION, tg_arn, [("172.31.0.5", None)])
    assert health(runtime, tg_arn) == [("172.31.0.5", 80, "draining", "Target.DeregistrationInProgress")]
    record = runtime.store.list(TARGET_GROUP, ACCOUNT, REGION)[0]
    assert targets.next_drain_deadline(record) == runtime.clock.time() + 300
    runtime.clock.advance(299)
    assert targets.expire_draining(runtime.store, record, runtime.clock.time()) is record
    runtime.clock.advance(1)
    targets.expire_draining(runtime.store, record, runtime.clock.time())
    assert health(runtime, tg_arn) == []
    assert health(runtime, tg_arn, Targets=[{"Id": "172.31.0.5"}]) == [
        ("172.31.0.5", 80, "unused", "Target.NotRegistered")
    ]
    # Registering a draining target again makes it initial again.
    targets.register_targets(runtime, ACCOUNT, REGION, tg_arn, [("172.31.0.6", None)])
    targets.deregister_targets(runtime, ACCOUNT, REGION, tg_arn, [("172.31.0.6", None)])
    targets.register_targets(runtime, ACCOUNT, REGION, tg_arn, [("172.31.0.6", None)])
    assert targets.target_states(runtime, ACCOUNT, REGION, tg_arn) == {"172.31.0.6": "initial"}


def test_ip_targets_follow_aws_address_rules(runtime: Runtime, network: dict) -> None:
    tg_arn = group(runtime, network)
    call(runtime, "RegisterTargets", TargetGroupArn=tg_arn, Targets=[{"Id": "172.31.17.9", "Port": 81}])
    zone = call(runtime, "DescribeTargetHealth", TargetGroupArn=tg_arn)["TargetHealthDescriptions"][0]
    assert zone["Target"]["AvailabilityZone"] == "us-east-1b"
    assert zone["HealthCheckPort"] == "81"
    # Private addresses outside the VPC need AvailabilityZone "all"; public ones are refused.
    assert error_of(runtime, "RegisterTargets", TargetGroupArn=tg_arn, Targets=[{"Id": "10.1.2.3"}]).code == (
        "ValidationError"
    )
    call(
        runtime,
        "RegisterTargets",
        TargetGroupArn=tg_arn,
        Targets=[{"Id": "10.1.2.3", "AvailabilityZone": "all"}],
    )
    assert error_of(runtime, "RegisterTargets", TargetGroupArn=tg_arn, Targets=[{"Id": "8.8.8.8"}]).code == (
        "InvalidTarget"
    )
    assert error_of(
        runtime, "RegisterTargets", TargetGroupArn=tg_arn, Targets=[{"Id": "i-0123456789abcdef0"}]
    ).code == ("ValidationError")
    # Loopback targets are onebox's extension for servers on the host.
    call(runtime, "RegisterTargets", TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1", "Port": 9000}])
    ports = {(i, p) for i, p, _, _ in health(runtime, tg_arn)}
    assert ports == {("172.31.17.9", 81), ("10.1.2.3", 80), ("127.0.0.1", 9000)}
    too_many = [{"Id": f"172.31.{n // 250}.{n % 250 + 1}"} for n in range(1000)]
    assert (
        error_of(runtime, "RegisterTargets", TargetGroupArn=tg_arn, Targets=too_many).code == "TooManyTargets"
    )
    assert len(health(runtime, tg_arn)) == 3  # nothing changed
    # Deregistering what is not registered (here: without its port, so the group's port) changes nothing.
    call(runtime, "DeregisterTargets", TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1"}])
    assert len(health(runtime, tg_arn)) == 3


def test_instance_targets_must_exist_run_and_share_the_vpc(runtime: Runtime, network: dict) -> None:
    tg_arn = group(runtime, network, target_type="instance")
    instance(runtime, "i-00000000000000001", network["vpc"])
    instance(runtime, "i-00000000000000002", "vpc-0000000000000000f")
    instance(runtime, "i-00000000000000003", network["vpc"], state="terminated")
    instance(runtime, "i-00000000000000004", network["vpc"], state="stopped")
    for target_id, message in (
        ("i-00000000000000002", "not in the target group VPC"),
        ("i-00000000000000003", "not in a running state"),
        ("i-0000000000000000a", "not valid instances"),
    ):
        error = error_of(runtime, "RegisterTargets", TargetGroupArn=tg_arn, Targets=[{"Id": target_id}])
        assert (error.code, message in error.message) == ("InvalidTarget", True), error.message
    assert error_of(runtime, "RegisterTargets", TargetGroupArn=tg_arn, Targets=[{"Id": "10.0.0.1"}]).code == (
        "ValidationError"
    )
    call(
        runtime,
        "RegisterTargets",
        TargetGroupArn=tg_arn,
        Targets=[{"Id": "i-00000000000000001"}, {"Id": "i-00000000000000004"}],
    )
    balancer_forwarding_to(runtime, network, tg_arn)
    assert sorted(health(runtime, tg_arn)) == [
        ("i-00000000000000001", 80, "initial", "Elb.RegistrationInProgress"),
        ("i-00000000000000004", 80, "unused", "Target.InvalidState"),
    ]


def test_draining_ends_when_no_balancer_uses_the_group_any_more(runtime: Runtime, network: dict) -> None:
    tg_arn = group(runtime, network)
    balancer_forwarding_to(runtime, network, tg_arn)
    targets.register_targets(runtime, ACCOUNT, REGION, tg_arn, [("172.31.0.5", None)])
    targets.deregister_targets(runtime, ACCOUNT, REGION, tg_arn, [("172.31.0.5", None)])
    assert targets.target_states(runtime, ACCOUNT, REGION, tg_arn) == {"172.31.0.5": "draining"}
    listener = call(
        runtime,
        "DescribeListeners",
        LoadBalancerArn=call(runtime, "DescribeLoadBalancers")["LoadBalancers"][0]["LoadBalancerArn"],
    )["Listeners"][0]
    call(
        runtime,
        "ModifyListener",
        ListenerArn=listener["ListenerArn"],
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}],
    )
    assert targets.target_states(runtime, ACCOUNT, REGION, tg_arn) == {}
    targets.register_targets(runtime, ACCOUNT, REGION, tg_arn, [("172.31.0.6", None)])
    record = runtime.store.list(TARGET_GROUP, ACCOUNT, REGION)[0]
    assert [t["Id"] for t in record.spec["Targets"]] == ["172.31.0.6"]  # the stale entry is gone
