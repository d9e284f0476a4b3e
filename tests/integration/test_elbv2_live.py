"""Traffic through real balancers (one HAProxy each) to real loopback HTTP servers registered as ip
targets: routing by host, path, header, method, query string and source IP; weighted forwarding;
stickiness; redirects and fixed responses; 503 without targets; health checks turning a stopped server
unhealthy with no failed request after; deregistration draining then unused; HTTPS with an imported
certificate; metrics in CloudWatch."""

from __future__ import annotations

import datetime
import http.client
import json
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import free_port


class Backend:
    """A loopback HTTP server that answers with its name and the forwarded headers it received."""

    def __init__(self, name: str) -> None:
        self.name = name
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                body = json.dumps(
                    {
                        "name": backend.name,
                        "path": self.path,
                        "xff": self.headers.get("X-Forwarded-For"),
                        "proto": self.headers.get("X-Forwarded-Proto"),
                        "port": self.headers.get("X-Forwarded-Port"),
                        "trace": self.headers.get("X-Amzn-Trace-Id"),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _answer

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # health checks that close early are no news

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, Backend]]:
    servers = {name: Backend(name) for name in ("a", "b", "c", "d", "e")}
    yield servers
    for server in servers.values():
        try:
            server.stop()
        except OSError:
            pass


@pytest.fixture(scope="module")
def elb(onebox):
    return onebox.client("elbv2")


@pytest.fixture(scope="module")
def subnets(onebox) -> tuple[str, list[str]]:
    found = onebox.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    ordered = sorted(found["Subnets"], key=lambda s: s["AvailabilityZone"])
    return ordered[0]["VpcId"], [s["SubnetId"] for s in ordered]


def group(elb, vpc: str, name: str, members: list[Backend], **extra) -> str:  # noqa: ANN001
    arn = elb.create_target_group(
        Name=name,
        Protocol="HTTP",
        Port=80,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=2,
        **extra,
    )["TargetGroups"][0]["TargetGroupArn"]
    if members:
        elb.register_targets(
            TargetGroupArn=arn, Targets=[{"Id": "127.0.0.1", "Port": b.port} for b in members]
        )
    return arn


def wait_active(elb, arn: str, timeout: float = 30) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        lb = elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
        if lb["State"]["Code"] == "active" or time.monotonic() > deadline:
            assert lb["State"]["Code"] == "active", lb["State"]
            return lb
        time.sleep(0.1)


def wait_health(elb, tg_arn: str, wanted: dict[int, str], timeout: float = 40) -> list[dict]:  # noqa: ANN001
    """Poll DescribeTargetHealth until each target port shows its wanted state."""
    deadline = time.monotonic() + timeout
    while True:
        found = elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
        states = {d["Target"]["Port"]: d["TargetHealth"]["State"] for d in found}
        if all(states.get(port) == state for port, state in wanted.items()) or time.monotonic() > deadline:
            assert {p: states.get(p) for p in wanted} == wanted, found
            return found
        time.sleep(0.2)


class Client:
    """Requests to one balancer at its own loopback address (as getaddrinfo clients reach it)."""

    def __init__(self, address: str, port: int, host: str) -> None:
        self.address, self.port, self.host = address, port, host

    def request(
        self,
        path: str = "/",
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        source: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(
            self.address, self.port, timeout=10, source_address=(source, 0) if source else None
        )
        try:
            connection.request(method, path, headers={"Host": self.host, **(headers or {})})
            response = connection.getresponse()
            headers: dict[str, str] = {}
            for name, value in response.getheaders():  # repeated headers (Set-Cookie) joined by "\n"
                name = name.lower()
                headers[name] = f"{headers[name]}\n{value}" if name in headers else value
            return response.status, headers, response.read()
        finally:
            connection.close()

    def name(self, path: str = "/", **kwargs) -> str:  # noqa: ANN003
        status, _, body = self.request(path, **kwargs)
        assert status == 200, (status, body)
        return json.loads(body)["name"]


def wait_serving(client: Client, path: str = "/", status: int = 200, timeout: float = 20) -> None:
    """Until `path` answers `status`: rule changes reach the balancer within moments, as in AWS."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.request(path)[0] == status:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def address_of(dns_name: str) -> str:
    """The balancer's own address from the hosts file onebox manages (as root); without root, the
    shared edge on 127.0.0.1, which routes by the Host header the client sends."""
    import socket

    try:
        return socket.getaddrinfo(dns_name, None, socket.AF_INET)[0][4][0]
    except OSError:
        return "127.0.0.1"


def test_routing_weights_stickiness_redirects_and_fixed_responses(elb, subnets, backends) -> None:  # noqa: ANN001
    vpc, subnet_ids = subnets
    a = group(elb, vpc, "live-a", [backends["a"]])
    b = group(elb, vpc, "live-b", [backends["b"]])
    c = group(elb, vpc, "live-c", [backends["c"]])
    sticky = group(elb, vpc, "live-sticky", [backends["d"], backends["e"]])
    elb.modify_target_group_attributes(
        TargetGroupArn=sticky,
        Attributes=[
            {"Key": "stickiness.enabled", "Value": "true"},
            {"Key": "stickiness.lb_cookie.duration_seconds", "Value": "600"},
        ],
    )
    empty = group(elb, vpc, "live-empty", [])
    lb = elb.create_load_balancer(Name="live-routing", Subnets=subnet_ids[:2])["LoadBalancers"][0]
    port = free_port()
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": a}],
    )["Listeners"][0]["ListenerArn"]

    def fwd(arn: str) -> list[dict]:
        return [{"Type": "forward", "TargetGroupArn": arn}]

    rules = [
        ([{"Field": "host-header", "Values": ["*.example.com"]}], fwd(c)),
        ([{"Field": "path-pattern", "Values": ["/b/*"]}], fwd(b)),
        (
            [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["can?ry"]}}],
            fwd(b),
        ),
        ([{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["DELETE"]}}], fwd(c)),
        ([{"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}]}}], fwd(b)),
        (
            [{"Field": "source-ip", "SourceIpConfig": {"Values": ["127.0.0.2/32"]}}],
            [
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {
                        "StatusCode": "403",
                        "ContentType": "text/plain",
                        "MessageBody": "blocked",
                    },
                }
            ],
        ),
        (
            [{"Field": "path-pattern", "Values": ["/old/*"]}],
            [
                {
                    "Type": "redirect",
                    "RedirectConfig": {
                        "Protocol": "HTTPS",
                        "Port": "443",
                        "Host": "new.example.org",
                        "StatusCode": "HTTP_301",
                    },
                }
            ],
        ),
        (
            [{"Field": "path-pattern", "Values": ["/tea"]}],
            [
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {
                        "StatusCode": "418",
                        "ContentType": "text/plain",
                        "MessageBody": "teapot",
                    },
                }
            ],
        ),
        (
            [{"Field": "path-pattern", "Values": ["/w"]}],
            [
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": a, "Weight": 3},
                            {"TargetGroupArn": b, "Weight": 1},
                        ]
                    },
                }
            ],
        ),
        ([{"Field": "path-pattern", "Values": ["/sticky"]}], fwd(sticky)),
        ([{"Field": "path-pattern", "Values": ["/empty"]}], fwd(empty)),
    ]
    for index, (conditions, actions) in enumerate(rules):
        elb.create_rule(ListenerArn=listener, Priority=index + 1, Conditions=conditions, Actions=actions)
    wait_active(elb, lb["LoadBalancerArn"])
    address = address_of(lb["DNSName"])  # the hosts-file entry onebox registered
    if os.geteuid() == 0:
        assert address.startswith("127.") and address != "127.0.0.1"  # the balancer's own address
    client = Client(address, port, lb["DNSName"])
    wait_serving(client, "/empty", 503)  # the last rule created is in place

    assert client.name("/") == "a"
    assert client.name("/", headers={"Host": "shop.example.com"}) == "c"
    assert client.name("/", headers={"Host": "example.com"}) == "a"  # *.example.com needs a label
    assert client.name("/b/x") == "b"
    assert client.name("/B/x") == "a"  # paths are case-sensitive
    assert client.name("/", headers={"X-Env": "CANARY"}) == "b"  # header values are not
    assert client.name("/", method="DELETE") == "c"
    assert client.name("/?v=2") == "b" and client.name("/?v=3") == "a"
    status, _, body = client.request("/", source="127.0.0.2")
    assert (status, body) == (403, b"blocked")
    status, headers, _ = client.request("/old/page?x=1")
    assert status == 301 and headers["location"] == "https://new.example.org/old/page?x=1"
    status, headers, body = client.request("/tea")
    assert (status, body, headers["server"]) == (418, b"teapot", "awselb/2.0")
    status, _, _ = client.request("/empty")
    assert status == 503

    seen = json.loads(client.request("/", headers={"X-Forwarded-For": "203.0.113.9"})[2])
    assert seen["xff"] == "203.0.113.9, 127.0.0.1" and seen["proto"] == "http" and seen["port"] == str(port)
    assert seen["trace"].startswith("Root=1-")

    weights = Counter(client.name("/w") for _ in range(400))
    assert 0.65 <= weights["a"] / 400 <= 0.85, weights

    status, headers, body = client.request("/sticky")
    cookies = [line.split(";", 1)[0] for line in headers["set-cookie"].split("\n")]
    cookie = next(c for c in cookies if c.startswith("AWSALB="))
    assert any(c.startswith("AWSALBCORS=") for c in cookies), cookies
    first = json.loads(body)["name"]
    assert {client.name("/sticky", headers={"Cookie": cookie}) for _ in range(20)} == {first}
    assert {client.name("/sticky") for _ in range(20)} == {"d", "e"}  # without the cookie: both

    # curl resolves *.localhost itself and reaches the shared loopback edge, which routes by Host.
    curl = subprocess.run(
        ["curl", "-s", "-m", "5", f"http://{lb['DNSName']}:{port}/b/curl"], capture_output=True, text=True
    )
    assert json.loads(curl.stdout)["name"] == "b", curl

    # Bad input changes nothing: the balancer keeps serving the same rules.
    with pytest.raises(ClientError):
        elb.create_rule(ListenerArn=listener, Priority=1, Conditions=rules[0][0], Actions=fwd(a))
    assert client.name("/b/x") == "b"

    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    for arn in (a, b, c, sticky, empty):
        elb.delete_target_group(TargetGroupArn=arn)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            client.request("/")
        except OSError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the deleted balancer still answers")


def test_health_checks_draining_and_metrics(onebox, elb, subnets) -> None:  # noqa: ANN001
    vpc, subnet_ids = subnets
    one, two = Backend("one"), Backend("two")
    try:
        tg = group(elb, vpc, "live-health", [one, two])
        elb.modify_target_group_attributes(
            TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "4"}]
        )
        lb = elb.create_load_balancer(Name="live-health", Subnets=subnet_ids[:2])["LoadBalancers"][0]
        port = free_port()
        elb.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )
        wait_active(elb, lb["LoadBalancerArn"])
        wait_health(elb, tg, {one.port: "healthy", two.port: "healthy"})
        client = Client(address_of(lb["DNSName"]), port, lb["DNSName"])
        assert {client.name("/") for _ in range(10)} == {"one", "two"}

        two.stop()
        found = wait_health(elb, tg, {one.port: "healthy", two.port: "unhealthy"})
        reason = next(d["TargetHealth"]["Reason"] for d in found if d["Target"]["Port"] == two.port)
        assert reason in ("Target.FailedHealthChecks", "Target.Timeout", "Target.ResponseCodeMismatch")
        assert [client.request("/")[0] for _ in range(30)] == [200] * 30  # no failed request after

        elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": two.port}])
        state = elb.describe_target_health(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": two.port}])
        assert state["TargetHealthDescriptions"][0]["TargetHealth"] == {
            "State": "draining",
            "Reason": "Target.DeregistrationInProgress",
            "Description": "Target deregistration is in progress",
        }
        deadline = time.monotonic() + 20
        while True:
            state = elb.describe_target_health(
                TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": two.port}]
            )
            health = state["TargetHealthDescriptions"][0]["TargetHealth"]
            if health["State"] == "unused" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert health["State"] == "unused" and health["Reason"] == "Target.NotRegistered"
        assert [
            d["Target"]["Port"]
            for d in elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
        ] == [one.port]

        # Host counts go to CloudWatch under AWS/ApplicationELB with AWS's dimension values.
        cloudwatch = onebox.client("cloudwatch")
        lb_dim = "app/live-health/" + lb["LoadBalancerArn"].rsplit("/", 1)[1]
        tg_dim = "targetgroup/live-health/" + tg.rsplit("/", 1)[1]
        listed = [
            m
            for m in cloudwatch.list_metrics(Namespace="AWS/ApplicationELB")["Metrics"]
            if {"Name": "LoadBalancer", "Value": lb_dim} in m["Dimensions"]
        ]
        names = {m["MetricName"] for m in listed}
        assert "HealthyHostCount" in names, listed
        assert any({"Name": "TargetGroup", "Value": tg_dim} in m["Dimensions"] for m in listed)
        elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        elb.delete_target_group(TargetGroupArn=tg)
    finally:
        one.stop()
        try:
            two.stop()
        except OSError:
            pass


def _certificate(tmp_path: Path, dns_name: str) -> tuple[str, str, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "onebox test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode(), ca_path


def test_https_listener_with_an_imported_certificate(onebox, elb, subnets, backends, tmp_path) -> None:  # noqa: ANN001
    vpc, subnet_ids = subnets
    tg = group(elb, vpc, "live-tls", [backends["a"]])
    lb = elb.create_load_balancer(Name="live-tls", Subnets=subnet_ids[:2])["LoadBalancers"][0]
    cert, key, ca_path = _certificate(tmp_path, "*.us-east-1.elb.localhost")
    acm = onebox.client("acm")
    cert_arn = acm.import_certificate(Certificate=cert.encode(), PrivateKey=key.encode())["CertificateArn"]
    port = free_port()
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTPS",
        Port=port,
        Certificates=[{"CertificateArn": cert_arn}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )["Listeners"][0]
    assert listener["SslPolicy"] == "ELBSecurityPolicy-2016-08"
    assert acm.describe_certificate(CertificateArn=cert_arn)["Certificate"]["InUseBy"] == [
        lb["LoadBalancerArn"]
    ]
    wait_active(elb, lb["LoadBalancerArn"])
    url = f"https://{lb['DNSName']}:{port}/secure"
    deadline = time.monotonic() + 20
    while True:
        result = subprocess.run(
            ["curl", "-s", "-m", "5", "--cacert", str(ca_path), url], capture_output=True, text=True
        )
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert (seen["name"], seen["proto"], seen["port"]) == ("a", "https", str(port))
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    assert acm.describe_certificate(CertificateArn=cert_arn)["Certificate"].get("InUseBy", []) == []
    elb.delete_target_group(TargetGroupArn=tg)
    acm.delete_certificate(CertificateArn=cert_arn)


def _own_vpc(ec2) -> tuple[str, list[str]]:  # noqa: ANN001
    """A VPC of the test's own in a range no host route holds, with subnets in two zones."""
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout
    for second in range(40, 60):
        prefix = f"172.{second}."
        if prefix not in routes:
            vpc = ec2.create_vpc(CidrBlock=f"{prefix}0.0/16")["Vpc"]["VpcId"]
            subnets = [
                ec2.create_subnet(
                    VpcId=vpc, CidrBlock=f"{prefix}{n}.0/24", AvailabilityZone=f"us-east-1{zone}"
                )["Subnet"]["SubnetId"]
                for n, zone in ((1, "a"), (2, "b"))
            ]
            return vpc, subnets
    raise AssertionError("no free private range on this host")


@pytest.mark.skipif(os.geteuid() != 0, reason="instances in VPCs need root")
def test_instance_targets_route_to_running_instances_only(onebox, elb) -> None:  # noqa: ANN001
    from tests.integration.test_ec2_instances_live import PHP_USER_DATA, base_image, wait_state

    ec2 = onebox.client("ec2")
    vpc, subnet_ids = _own_vpc(ec2)
    web = ec2.create_security_group(GroupName="elb-web", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=web,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    instance_id = ec2.run_instances(
        SubnetId=subnet_ids[0],
        ImageId=base_image(ec2),
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        UserData=PHP_USER_DATA,
        SecurityGroupIds=[web],
    )["Instances"][0]["InstanceId"]
    tg = elb.create_target_group(
        Name="live-instances",
        Protocol="HTTP",
        Port=80,
        VpcId=vpc,
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": instance_id}])
    lb = elb.create_load_balancer(Name="live-instances", Subnets=subnet_ids)["LoadBalancers"][0]
    port = free_port()
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    wait_state(ec2, instance_id, "running")
    found = wait_health(elb, tg, {80: "healthy"}, timeout=60)
    assert found[0]["Target"] == {"Id": instance_id, "Port": 80, "AvailabilityZone": "us-east-1a"}
    client = Client(address_of(lb["DNSName"]), port, lb["DNSName"])
    status, _, body = client.request("/")
    assert (status, body.decode()) == (200, instance_id)  # the page reads the instance id from IMDS

    ec2.stop_instances(InstanceIds=[instance_id])
    wait_state(ec2, instance_id, "stopped")
    found = wait_health(elb, tg, {80: "unused"})
    assert found[0]["TargetHealth"]["Reason"] == "Target.InvalidState"
    ec2.terminate_instances(InstanceIds=[instance_id])
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    elb.delete_target_group(TargetGroupArn=tg)
