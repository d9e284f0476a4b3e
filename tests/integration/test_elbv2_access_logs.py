"""Access logs to S3: ModifyLoadBalancerAttributes checks the bucket, HAProxy logs every request, and the
daemon delivers gzip files with ALB's line format under AWS's key layout."""

from __future__ import annotations

import gzip
import re
import shlex
import time

import pytest
from botocore.exceptions import ClientError

from tests.conftest import free_port
from tests.integration.test_elbv2_live import Backend, Client, address_of, group, wait_active, wait_serving


def test_requests_appear_in_the_delivered_access_log(onebox) -> None:  # noqa: ANN001
    elb, s3, ec2 = onebox.client("elbv2"), onebox.client("s3"), onebox.client("ec2")
    account = onebox.client("sts").get_caller_identity()["Account"]
    found = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    ordered = sorted(found, key=lambda s: s["AvailabilityZone"])
    vpc, subnets = ordered[0]["VpcId"], [s["SubnetId"] for s in ordered]
    backend = Backend("logged")
    try:
        lb = elb.create_load_balancer(Name="with-logs", Subnets=subnets)["LoadBalancers"][0]
        arn, lb_id = lb["LoadBalancerArn"], lb["LoadBalancerArn"].rsplit("/", 1)[1]
        with pytest.raises(ClientError) as refused:
            elb.modify_load_balancer_attributes(
                LoadBalancerArn=arn,
                Attributes=[
                    {"Key": "access_logs.s3.enabled", "Value": "true"},
                    {"Key": "access_logs.s3.bucket", "Value": "no-such-log-bucket"},
                ],
            )
        assert refused.value.response["Error"]["Code"] == "InvalidConfigurationRequest"
        assert "Access Denied for bucket: no-such-log-bucket" in refused.value.response["Error"]["Message"]
        s3.create_bucket(Bucket="alb-access-logs")
        elb.modify_load_balancer_attributes(
            LoadBalancerArn=arn,
            Attributes=[
                {"Key": "access_logs.s3.enabled", "Value": "true"},
                {"Key": "access_logs.s3.bucket", "Value": "alb-access-logs"},
                {"Key": "access_logs.s3.prefix", "Value": "edge"},
            ],
        )
        tg_arn = group(elb, vpc, "logged-targets", [backend])
        port = free_port()
        elb.create_listener(
            LoadBalancerArn=arn,
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
        )
        lb = wait_active(elb, arn)
        client = Client(address_of(lb["DNSName"]), port, lb["DNSName"])
        wait_serving(client)
        # Logging starts moments after the attribute changes (a reload), as on AWS: send requests until
        # they show up in a delivered file. The trigger file delivers at once instead of in 5 minutes.
        lines: list[str] = []
        keys: list[str] = []
        deadline = time.monotonic() + 20
        index = 0
        while not any("/probe-" in line for line in lines):
            assert time.monotonic() < deadline, (keys, lines)
            status, _, _ = client.request(f"/probe-{index}?q=1", headers={"User-Agent": f"probe/{index}"})
            assert status == 200
            index += 1
            (onebox.state_dir / "elb" / "flush-access-logs").touch()
            time.sleep(0.5)
            listing = s3.list_objects_v2(Bucket="alb-access-logs", Prefix="edge/AWSLogs/")
            keys = [o["Key"] for o in listing.get("Contents", [])]
            lines = [
                line
                for key in keys
                for line in gzip.decompress(s3.get_object(Bucket="alb-access-logs", Key=key)["Body"].read())
                .decode()
                .splitlines()
            ]
        pattern = (
            rf"edge/AWSLogs/{account}/elasticloadbalancing/us-east-1/\d{{4}}/\d{{2}}/\d{{2}}/"
            rf"{account}_elasticloadbalancing_us-east-1_app\.with-logs\.{lb_id}_\d{{8}}T\d{{4}}Z_"
            r"[0-9.]+_[a-z0-9]{8}\.log\.gz"
        )
        assert all(re.fullmatch(pattern, key) for key in keys), keys
        line = next(line for line in lines if "/probe-" in line)
        logged = int(re.search(r"/probe-(\d+)", line).group(1))
        fields = shlex.split(line, posix=True)
        assert len(fields) == 30, fields
        assert fields[0] == "http" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", fields[1])
        assert fields[2] == f"app/with-logs/{lb_id}"
        assert fields[4] == f"127.0.0.1:{backend.port}"
        assert fields[8:10] == ["200", "200"]
        assert fields[12] == f"GET http://{lb['DNSName']}:{port}/probe-{logged}?q=1 HTTP/1.1"
        assert fields[13] == f"probe/{logged}"
        assert fields[16] == tg_arn
        assert fields[17].startswith("Root=1-")
        assert fields[20] == "0" and fields[22] == "forward"
        assert fields[25] == f"127.0.0.1:{backend.port}" and fields[26] == "200"
        assert fields[29].startswith("TID_")
        elb.delete_load_balancer(LoadBalancerArn=arn)
        for _ in range(50):
            try:
                elb.delete_target_group(TargetGroupArn=tg_arn)
                break
            except ClientError:
                time.sleep(0.1)
    finally:
        backend.stop()
