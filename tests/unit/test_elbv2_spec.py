"""ELBv2 records -> the data plane's LoadBalancerSpec (instance targets to private IPs, stopped instances
not routed, draining, weights, stickiness, rule order), which HAProxy accepts (`haproxy -c`); and the
AWS/ApplicationELB metrics computed from two counter readings."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from onebox.host.loadbalancer import spec as dp
from onebox.host.loadbalancer.paths import balancer_paths
from onebox.host.loadbalancer.process import check_config
from onebox.host.loadbalancer.render import render
from onebox.host.loadbalancer.status import BalancerStats, Counters
from onebox.runtime import Runtime
from onebox.services.elbv2 import metrics, spec_builder, targets
from onebox.services.elbv2.common import LOAD_BALANCER
from tests.unit import test_elbv2_targets as base
from tests.unit.test_elbv2_targets import ACCOUNT, REGION, call, group, instance

runtime = base.runtime  # the fixtures
network = base.network


def test_records_become_a_spec_haproxy_accepts(runtime: Runtime, network: dict, tmp_path: Path) -> None:
    web = group(runtime, network, "web", target_type="instance")
    api = group(runtime, network, "api")
    instance(runtime, "i-00000000000000001", network["vpc"])
    instance(runtime, "i-00000000000000002", network["vpc"], state="stopped")
    call(
        runtime,
        "RegisterTargets",
        TargetGroupArn=web,
        Targets=[{"Id": "i-00000000000000001"}, {"Id": "i-00000000000000002"}],
    )
    call(
        runtime,
        "RegisterTargets",
        TargetGroupArn=api,
        Targets=[{"Id": "172.31.0.7", "Port": 8080}, {"Id": "172.31.0.8"}],
    )
    call(
        runtime,
        "ModifyTargetGroupAttributes",
        TargetGroupArn=web,
        Attributes=[
            {"Key": "stickiness.enabled", "Value": "true"},
            {"Key": "stickiness.lb_cookie.duration_seconds", "Value": "120"},
        ],
    )
    lb = call(runtime, "CreateLoadBalancer", Name="shop", Subnets=network["subnets"][:2])["LoadBalancers"][0]
    listener = call(
        runtime,
        "CreateListener",
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=8080,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": web}],
    )["Listeners"][0]["ListenerArn"]
    call(
        runtime,
        "CreateRule",
        ListenerArn=listener,
        Priority=20,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
        Actions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": api, "Weight": 9},
                        {"TargetGroupArn": web, "Weight": 1},
                    ],
                    "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60},
                },
            }
        ],
    )
    call(
        runtime,
        "CreateRule",
        ListenerArn=listener,
        Priority=10,
        Conditions=[
            {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Old", "Values": ["1"]}},
            {
                "Field": "query-string",
                "QueryStringConfig": {"Values": [{"Key": "a", "Value": "b*"}, {"Value": "x"}]},
            },
        ],
        Actions=[{"Type": "redirect", "RedirectConfig": {"Path": "/new/#{path}", "StatusCode": "HTTP_302"}}],
    )
    targets.deregister_targets(runtime, ACCOUNT, REGION, api, [("172.31.0.8", None)])

    record = runtime.store.list(LOAD_BALANCER, ACCOUNT, REGION)[0]
    built = spec_builder.build(runtime, record)
    spec = built.spec
    assert (
        spec.key == f"alb-{record.id}" and spec.address.startswith("127.") and spec.dns_name == lb["DNSName"]
    )
    (dp_listener,) = spec.listeners
    assert [r.priority for r in dp_listener.rules] == [10, 20]
    redirect = dp_listener.rules[0].action
    assert isinstance(redirect, dp.RedirectAction)
    assert (redirect.path, redirect.host, redirect.status_code) == ("/new/#{path}", "#{host}", "HTTP_302")
    assert dp_listener.rules[0].conditions[1].pairs == (("a", "b*"), (None, "x"))
    forward = dp_listener.rules[1].action
    assert isinstance(forward, dp.ForwardAction) and forward.group_stickiness_s == 60
    assert [(g.target_group_key, g.weight) for g in forward.groups] == [
        ("tg-" + api.rsplit("/", 1)[1], 9),
        ("tg-" + web.rsplit("/", 1)[1], 1),
    ]
    groups = {g.arn: g for g in spec.target_groups}
    web_group, api_group = groups[web], groups[api]
    assert [(t.target_id, t.address, t.port) for t in web_group.targets] == [
        ("i-00000000000000001", "172.31.0.10", 80)
    ]
    assert web_group.stickiness == dp.Stickiness(duration_s=120)
    assert [(t.address, t.port, t.draining) for t in api_group.targets] == [
        ("172.31.0.7", 8080, False),
        ("172.31.0.8", 80, True),
    ]
    assert api_group.health_check == dp.HealthCheck()  # AWS's defaults

    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")
    paths = balancer_paths(tmp_path, spec.key)
    paths.make()
    paths.candidate.write_text(render(spec, paths))
    asyncio.run(check_config(paths.candidate))


def _counters(requests: int, responses: dict[str, int], connections: int = 0, rtime: int = 0) -> Counters:
    return Counters(
        requests=requests, responses=responses, total_connections=connections, response_time_ms=rtime
    )


def test_metrics_are_minute_differences_with_aws_names_and_dimensions(
    runtime: Runtime, network: dict
) -> None:
    tg_arn = group(runtime, network, "web")
    lb = call(runtime, "CreateLoadBalancer", Name="shop", Subnets=network["subnets"][:2])["LoadBalancers"][0]
    record = runtime.store.list(LOAD_BALANCER, ACCOUNT, REGION)[0]
    tg_record = runtime.store.get("elbv2:target-group", ACCOUNT, REGION, tg_arn.rsplit("/", 1)[1])
    key = "tg-" + tg_record.id
    before = BalancerStats(
        7,
        {"l": _counters(10, {"2xx": 8, "5xx": 2}, 4)},
        {key: _counters(8, {"2xx": 8})},
        {key: {"t1": _counters(8, {"2xx": 8}, rtime=20)}},
        {"5xx": 2},
    )
    after = BalancerStats(
        7,
        {"l": _counters(25, {"2xx": 20, "4xx": 1, "5xx": 4}, 9)},
        {key: _counters(21, {"2xx": 20, "4xx": 1}, rtime=40)},
        {key: {"t1": _counters(21, {"2xx": 20, "4xx": 1}, rtime=40)}},
        {"5xx": 4},
    )
    reading = metrics.difference(after, before)
    assert (reading.requests, reading.new_connections) == (15, 5)
    assert reading.target_responses["2xx"] == 12 and reading.elb_responses["5xx"] == 2
    reading.groups[key].targets = 1
    reading.groups[key].healthy = {"us-east-1a": 1}
    when = datetime(2026, 1, 1, tzinfo=UTC)
    data = metrics.metric_data(record, {key: tg_record}, reading, when)
    lb_dim = {"Name": "LoadBalancer", "Value": f"app/shop/{lb['LoadBalancerArn'].rsplit('/', 1)[1]}"}
    tg_dim = {"Name": "TargetGroup", "Value": f"targetgroup/web/{tg_record.id}"}
    by_name = {}
    for datum in data:
        by_name.setdefault(datum["MetricName"], []).append(datum)
    assert by_name["RequestCount"][0] == {
        "MetricName": "RequestCount",
        "Dimensions": [lb_dim],
        "Timestamp": when,
        "Value": 15.0,
        "Unit": "Count",
    }
    assert by_name["HTTPCode_ELB_5XX_Count"][0]["Value"] == 2.0
    assert by_name["HTTPCode_Target_4XX_Count"][0]["Value"] == 1.0
    assert by_name["TargetResponseTime"][0]["Value"] == 0.04
    assert by_name["RequestCountPerTarget"][0]["Dimensions"] == [tg_dim, lb_dim]
    zonal = [d for d in by_name["HealthyHostCount"] if len(d["Dimensions"]) == 3]
    assert zonal[0]["Dimensions"][2] == {"Name": "AvailabilityZone", "Value": "us-east-1a"}
    # A new worker (after a reload) starts its counters at zero: its reading counts whole.
    restarted = BalancerStats(8, {"l": _counters(3, {"2xx": 3}, 1)}, {}, {}, {})
    assert metrics.difference(restarted, after).requests == 3
