"""Traffic metrics of a live balancer in CloudWatch (AWS/ApplicationELB, 60 s datapoints): RequestCount,
HTTPCode_Target_2XX_Count, HTTPCode_ELB_5XX_Count (503 from a group without targets),
TargetResponseTime and RequestCountPerTarget, with the values the traffic implies. The controller
publishes at each minute boundary; the trigger file makes it publish at once."""

from __future__ import annotations

import datetime
import time

from tests.conftest import free_port
from tests.integration.test_elbv2_live import Backend, Client, address_of, group, wait_active


def _sum(cloudwatch, name: str, dimensions: dict[str, str], statistic: str = "Sum") -> float | None:  # noqa: ANN001
    now = datetime.datetime.now(datetime.UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - datetime.timedelta(minutes=10),
        EndTime=now + datetime.timedelta(minutes=2),
        Period=60,
        Statistics=[statistic],
    )["Datapoints"]
    if not points:
        return None
    if statistic == "Sum":
        return sum(p["Sum"] for p in points)
    return max(p[statistic] for p in points)


def test_traffic_metrics_reach_cloudwatch(onebox) -> None:  # noqa: ANN001
    elb, ec2, cloudwatch = onebox.client("elbv2"), onebox.client("ec2"), onebox.client("cloudwatch")
    found = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    ordered = sorted(found, key=lambda s: s["AvailabilityZone"])
    vpc, subnets = ordered[0]["VpcId"], [s["SubnetId"] for s in ordered]
    backend = Backend("counted")
    try:
        tg = group(elb, vpc, "counted-targets", [backend])
        empty = group(elb, vpc, "counted-empty", [])
        lb = elb.create_load_balancer(Name="counted", Subnets=subnets)["LoadBalancers"][0]
        arn = lb["LoadBalancerArn"]
        port = free_port()
        listener = elb.create_listener(
            LoadBalancerArn=arn,
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )["Listeners"][0]["ListenerArn"]
        elb.create_rule(
            ListenerArn=listener,
            Priority=1,
            Conditions=[{"Field": "path-pattern", "Values": ["/empty*"]}],
            Actions=[{"Type": "forward", "TargetGroupArn": empty}],
        )
        lb = wait_active(elb, arn)
        client = Client(address_of(lb["DNSName"]), port, lb["DNSName"])
        statuses: list[int] = []
        deadline = time.monotonic() + 20
        while statuses.count(200) < 6:  # the first requests may come before the listener runs
            assert time.monotonic() < deadline, statuses
            try:
                statuses.append(client.request("/")[0])
            except OSError:
                time.sleep(0.2)
        rule_deadline = time.monotonic() + 20
        while statuses.count(503) < 3:
            assert time.monotonic() < rule_deadline, statuses
            statuses.append(client.request("/empty")[0])
        ok, unavailable = statuses.count(200), statuses.count(503)
        assert ok + unavailable == len(statuses), statuses

        lb_dims = {"LoadBalancer": "app/counted/" + arn.rsplit("/", 1)[1]}
        tg_dims = {"TargetGroup": "targetgroup/counted-targets/" + tg.rsplit("/", 1)[1], **lb_dims}
        expected = {
            ("RequestCount", "lb"): float(len(statuses)),
            ("HTTPCode_Target_2XX_Count", "lb"): float(ok),
            ("HTTPCode_ELB_5XX_Count", "lb"): float(unavailable),
            ("RequestCount", "tg"): float(ok),
            ("RequestCountPerTarget", "tg"): float(ok),
        }
        seen: dict[tuple[str, str], float | None] = {}
        deadline = time.monotonic() + 20
        while seen != expected:
            assert time.monotonic() < deadline, (seen, expected)
            (onebox.state_dir / "elb" / "publish-metrics").touch()
            time.sleep(0.5)
            seen = {
                (name, scope): _sum(cloudwatch, name, lb_dims if scope == "lb" else tg_dims)
                for name, scope in expected
            }
        response_time = _sum(cloudwatch, "TargetResponseTime", lb_dims, "Maximum")
        assert response_time is not None and 0 <= response_time < 1
        by_group = _sum(cloudwatch, "RequestCountPerTarget", {"TargetGroup": tg_dims["TargetGroup"]})
        assert by_group == float(ok)
        elb.delete_load_balancer(LoadBalancerArn=arn)
        for arn_ in (tg, empty):
            for _ in range(50):
                try:
                    elb.delete_target_group(TargetGroupArn=arn_)
                    break
                except elb.exceptions.ResourceInUseException:
                    time.sleep(0.1)
    finally:
        backend.stop()
