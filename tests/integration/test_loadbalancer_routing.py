"""Real HAProxys rendered from specs, in front of loopback HTTP backends: rule matching of every
condition type, forwarding (weighted, sticky), redirects, fixed responses, forwarded headers, and ALB's
status codes."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from onebox.host.loadbalancer import apply, apply_edge, read_health, read_stats, remove
from onebox.host.loadbalancer.spec import (
    Certificate,
    Condition,
    FixedResponseAction,
    ForwardAction,
    HealthCheck,
    Listener,
    LoadBalancerSpec,
    RedirectAction,
    Rule,
    Stickiness,
    Target,
    TargetGroup,
    WeightedGroup,
)
from tests.loadbalancer_support import (
    Backend,
    LoopThread,
    backends,
    data_plane,
    free_port,
    make_certificate,
    request,
)

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs Debian's haproxy")

FAST = HealthCheck(interval_s=1, timeout_s=1, healthy_threshold=2, unhealthy_threshold=2, path="/health")
ADDRESS = "127.0.0.61"


def group(key: str, *targets: Backend, **kwargs: object) -> TargetGroup:
    members = tuple(Target(f"t{b.name}", f"i-{b.name}", "127.0.0.1", b.port) for b in targets)
    kwargs.setdefault("health_check", FAST)
    return TargetGroup(key=key, arn=f"arn:{key}", name=key, targets=members, **kwargs)  # type: ignore[arg-type]


def fixed(body: str, status: int = 200) -> FixedResponseAction:
    return FixedResponseAction(status, "text/plain", body)


def forward(*keys: str) -> ForwardAction:
    return ForwardAction(tuple(WeightedGroup(k) for k in keys))


def balancer(
    key: str, address: str, *listeners: Listener, groups: tuple[TargetGroup, ...] = (), **kw: object
) -> LoadBalancerSpec:
    return LoadBalancerSpec(
        key=key,
        arn=f"arn:{key}",
        name=key,
        dns_name=f"{key}-1234.us-east-1.elb.localhost",
        address=address,
        listeners=listeners,
        target_groups=groups,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, object]]:
    with data_plane(tmp_path_factory.mktemp("elb")) as pair:
        yield pair


@pytest.fixture(scope="module")
def pool() -> Iterator[list[Backend]]:
    with backends("a", "b", "c") as started:
        yield started


def test_rules_match_every_condition_type_in_priority_order(plane, pool) -> None:
    loop, runtime = plane
    a, b, _ = pool
    port = free_port()
    rules = (
        Rule(10, (Condition("host-header", ("*.example.com", "exact.test")),), fixed("host")),
        Rule(20, (Condition("path-pattern", ("/img/*", "/doc?.txt")),), fixed("path")),
        Rule(30, (Condition("http-header", ("pro?", "stag*"), header_name="X-Env"),), fixed("header")),
        Rule(40, (Condition("http-request-method", ("PURGE",)),), fixed("method")),
        Rule(50, (Condition("query-string", pairs=(("k", "v*"), (None, "solo"))),), fixed("query")),
        Rule(60, (Condition("source-ip", ("127.0.0.2/32", "10.0.0.0/8")),), fixed("source")),
        # AND across conditions: both must hold.
        Rule(
            5,
            (Condition("path-pattern", ("/both",)), Condition("http-request-method", ("POST",))),
            fixed("and"),
        ),
        # Both rule 1 and rule 10 match www.example.com/first: the lower priority wins.
        Rule(1, (Condition("path-pattern", ("/first",)),), forward("ga")),
    )
    spec = balancer(
        "rules",
        ADDRESS,
        Listener("web", port, "HTTP", fixed("default", 404), rules=rules),
        groups=(group("ga", a),),
    )
    assert loop.run(apply(runtime, spec)) is True

    def body(path: str = "/", **kw: object) -> str:
        reply = request(ADDRESS, port, path, **kw)  # type: ignore[arg-type]
        return reply.body.decode() if reply.headers.get("server") == "awselb/2.0" else reply.backend

    assert body(host="WWW.Example.COM") == "host"  # case-insensitive
    assert body(host="www.example.com:8080") == "host"  # the port is not part of the name
    assert body(host="example.com") == "default"  # *.example.com needs a label before it
    assert body(host="exact.test") == "host"
    assert body("/img/a/b.png") == "path"
    assert body("/IMG/a.png") == "default"  # paths are case-sensitive
    assert body("/doc1.txt?x=1") == "path"  # the query string is not part of the path
    assert body("/doc12.txt") == "default"  # ? is exactly one character
    assert body(headers={"X-Env": "PROD"}) == "header"
    assert body(headers={"x-env": "staging-2"}) == "header"
    assert body(headers={"X-Env": "product"}) == "default"
    assert body(method="PURGE") == "method"
    assert body(method="GET") == "default"
    assert body("/?a=1&K=Value") == "query"  # pairs are case-insensitive, any pair may match
    assert body("/?x=solo") == "query"  # a value without a key
    assert body("/?k=other") == "default"
    assert body(source="127.0.0.2") == "source"  # the client's own address
    assert body(headers={"X-Forwarded-For": "127.0.0.2"}) == "default"  # never X-Forwarded-For
    assert body("/both", method="POST") == "and"
    assert body("/both", method="GET") == "default"
    assert body("/first", host="www.example.com") == "a"
    default = request(ADDRESS, port, "/nothing")
    assert (default.status, default.headers["content-type"], default.headers["server"]) == (
        404,
        "text/plain",
        "awselb/2.0",
    )
    loop.run(remove(runtime, "rules"))


def test_forwarding_headers_redirects_and_status_codes(plane, pool, tmp_path: Path) -> None:
    loop, runtime = plane
    a, b, _ = pool
    port, redirect_port, empty_port = free_port(), free_port(), free_port()
    spec = balancer(
        "fwd",
        "127.0.0.62",
        Listener("web", port, "HTTP", forward("gab")),
        Listener(
            "redir",
            redirect_port,
            "HTTP",
            RedirectAction(protocol="HTTPS", port="443"),
            rules=(
                Rule(
                    1,
                    (Condition("path-pattern", ("/moved/*",)),),
                    RedirectAction(
                        host="new.#{host}",
                        port="8443",
                        path="/v2/#{path}",
                        query="src=old&#{query}",
                        status_code="HTTP_302",
                    ),
                ),
            ),
        ),
        Listener("empty", empty_port, "HTTP", forward("none")),
        groups=(group("gab", a, b), group("none")),
    )
    loop.run(apply(runtime, spec))
    seen = Counter(request("127.0.0.62", port).backend for _ in range(10))
    assert seen == {"a": 5, "b": 5}  # round robin

    echoed = request(
        "127.0.0.62",
        port,
        "/h",
        headers={
            "X-Forwarded-For": "203.0.113.7",
            "X-Amzn-Trace-Id": "Root=1-5f84c7a9-0123456789abcdef01234567;Self=1-1-1",
        },
    ).json()["headers"]
    assert echoed["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"  # appended
    assert echoed["x-forwarded-proto"] == "http"
    assert echoed["x-forwarded-port"] == str(port)
    assert re.fullmatch(
        r"Self=1-[0-9a-f]{8}-[0-9a-f]{24};Root=1-5f84c7a9-0123456789abcdef01234567", echoed["x-amzn-trace-id"]
    )
    fresh = request("127.0.0.62", port, "/h").json()["headers"]
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", fresh["x-amzn-trace-id"])
    assert fresh["x-forwarded-for"] == "127.0.0.1"

    moved = request("127.0.0.62", redirect_port, "/moved/x?a=1", host="site.test")
    assert moved.status == 302 and moved.headers["server"] == "awselb/2.0"
    assert moved.headers["location"] == "http://new.site.test:8443/v2/moved/x?src=old&a=1"
    plain = request("127.0.0.62", redirect_port, "/p", host="site.test:81")
    assert (plain.status, plain.headers["location"]) == (301, "https://site.test/p")
    with_query = request("127.0.0.62", redirect_port, "/p?q=1", host="site.test")
    assert with_query.headers["location"] == "https://site.test/p?q=1"

    none = request("127.0.0.62", empty_port)
    assert none.status == 503 and b"503 Service Temporarily Unavailable" in none.body
    assert none.headers["server"] == "awselb/2.0"
    stats = loop.run(read_stats(runtime, "fwd"))
    assert stats.elb_responses["5xx"] == 1 and stats.elb_responses["3xx"] == 3  # 503 and redirects
    assert stats.targets["gab"]["ta"].responses["2xx"] + stats.targets["gab"]["tb"].responses["2xx"] == 12
    assert stats.listeners["web"].requests == 12
    loop.run(remove(runtime, "fwd"))


def test_weighted_groups_and_both_kinds_of_stickiness(plane, pool) -> None:
    loop, runtime = plane
    a, b, c = pool
    port, sticky_port = free_port(), free_port()
    spec = balancer(
        "weights",
        "127.0.0.63",
        Listener("split", port, "HTTP", ForwardAction((WeightedGroup("ga", 3), WeightedGroup("gb", 1)))),
        Listener(
            "sticky",
            sticky_port,
            "HTTP",
            ForwardAction((WeightedGroup("ga", 1), WeightedGroup("gsticky", 1)), group_stickiness_s=300),
        ),
        groups=(group("ga", a), group("gb", b), group("gsticky", b, c, stickiness=Stickiness(300))),
    )
    loop.run(apply(runtime, spec))
    counts = Counter(request("127.0.0.63", port).backend for _ in range(400))
    assert 0.65 <= counts["a"] / 400 <= 0.85, counts  # 3:1 split, expected 0.75

    # Group stickiness: the AWSALBTG cookie pins the group; target stickiness (AWSALB) pins the target.
    first = None
    while first is None or first.backend == "a":
        first = request("127.0.0.63", sticky_port)
    cookies = dict(c.split(";", 1)[0].split("=", 1) for c in first.cookies)
    assert {"AWSALBTG", "AWSALBTGCORS", "AWSALB", "AWSALBCORS"} <= set(cookies)
    assert any("SameSite=None" in c and "Secure" in c for c in first.cookies if c.startswith("AWSALBCORS="))
    jar = f"AWSALBTG={cookies['AWSALBTG']}; AWSALB={cookies['AWSALB']}"
    again = {request("127.0.0.63", sticky_port, headers={"Cookie": jar}).backend for _ in range(20)}
    assert again == {first.backend}
    # Without cookies both groups (and both targets of the sticky group) get traffic.
    spread = {request("127.0.0.63", sticky_port).backend for _ in range(40)}
    assert spread == {"a", "b", "c"}
    loop.run(remove(runtime, "weights"))


def test_https_through_own_address_and_edge_and_http_edge(plane, pool, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    loop, runtime = plane
    a, _, _ = pool
    tls_port, http_port = free_port(), free_port()
    name = "tls-1234.us-east-1.elb.localhost"
    pem, ca = make_certificate(tmp_path / "certs", name)
    other_pem, _ = make_certificate(tmp_path / "certs", "other.test")
    spec = balancer(
        "tls",
        "127.0.0.64",
        Listener(
            "https",
            tls_port,
            "HTTPS",
            forward("ga"),
            certificates=(Certificate(str(other_pem)), Certificate(str(pem))),
        ),
        Listener("http", http_port, "HTTP", forward("ga")),
        groups=(group("ga", a),),
    )
    second = balancer("second", "127.0.0.65", Listener("http", http_port, "HTTP", fixed("second balancer")))
    loop.run(apply(runtime, spec))
    loop.run(apply(runtime, second))
    assert sorted(loop.run(apply_edge(runtime, [spec, second]))) == sorted([tls_port, http_port])

    def curl(*args: str) -> str:
        done = subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    # SNI picks the certificate by name (the first one is only the default) and curl verifies it.
    direct = curl(
        "--cacert", str(ca), "--resolve", f"{name}:{tls_port}:127.0.0.64", f"https://{name}:{tls_port}/d"
    )
    assert '"x-forwarded-proto": "https"' in direct
    via_edge = curl("--cacert", str(ca), f"https://{name}:{tls_port}/e")  # *.localhost is loopback
    assert '"backend": "a"' in via_edge and '"x-forwarded-for": "127.0.0.1"' in via_edge
    # Two balancers on one port: the edge picks by Host.
    assert '"backend": "a"' in curl(f"http://{name}:{http_port}/")
    assert curl(f"http://second-1234.us-east-1.elb.localhost:{http_port}/") == "second balancer"
    loop.run(apply_edge(runtime, []))
    loop.run(remove(runtime, "tls"))
    loop.run(remove(runtime, "second"))


def test_bad_gateway_and_gateway_timeout(plane, pool) -> None:
    loop, runtime = plane
    a, _, _ = pool
    port = free_port()
    gone = Backend("gone").start()
    gone.stop()  # its port now refuses connections
    no_checks = HealthCheck(enabled=False)
    spec = balancer(
        "errors",
        "127.0.0.66",
        Listener(
            "web",
            port,
            "HTTP",
            forward("slow"),
            rules=(Rule(1, (Condition("path-pattern", ("/gone",)),), forward("gone")),),
        ),
        groups=(group("slow", a, health_check=no_checks), group("gone", gone, health_check=no_checks)),
        idle_timeout_s=1,
    )
    loop.run(apply(runtime, spec))
    refused = request("127.0.0.66", port, "/gone")
    assert refused.status == 502 and b"502 Bad Gateway" in refused.body
    assert refused.headers["server"] == "awselb/2.0"
    assert not [h for h in refused.headers if h.startswith("x-onebox")]
    timed_out = request("127.0.0.66", port, "/slow")  # the target answers after 2 s, idle timeout is 1 s
    assert timed_out.status == 504 and b"504 Gateway Time-out" in timed_out.body
    health = loop.run(read_health(runtime, "errors"))
    assert health["slow"]["ta"].state == "unavailable"
    loop.run(remove(runtime, "errors"))


def test_edge_skips_a_port_another_program_holds(plane, pool) -> None:
    import socket

    loop, runtime = plane
    a, _, _ = pool
    taken, free = free_port(), free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        spec = balancer(
            "squat",
            "127.0.0.67",
            Listener("one", taken, "HTTP", forward("ga")),
            Listener("two", free, "HTTP", forward("ga")),
            groups=(group("ga", a),),
        )
        loop.run(apply(runtime, spec))
        assert loop.run(apply_edge(runtime, [spec])) == [free]
        assert request("127.0.0.1", free, host=spec.dns_name).backend == "a"
        assert request("127.0.0.67", taken).backend == "a"  # its own address still serves the port
        loop.run(apply_edge(runtime, []))
        loop.run(remove(runtime, "squat"))
