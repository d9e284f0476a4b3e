"""Rendering balancer specs into HAProxy configurations that `haproxy -c` accepts."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from onebox.host.loadbalancer import render
from onebox.host.loadbalancer.edge import render_edge
from onebox.host.loadbalancer.paths import balancer_paths, edge_paths
from onebox.host.loadbalancer.process import ConfigRejected, check_config
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
from onebox.host.loadbalancer.status import target_health
from onebox.host.loadbalancer.syntax import SpecError, quote, status_regex, wildcard_regex

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs Debian's haproxy")


def group(key: str, *targets: Target, **kwargs: object) -> TargetGroup:
    return TargetGroup(key=key, arn=f"arn:{key}", name=key, targets=targets, **kwargs)  # type: ignore[arg-type]


def forward(*keys: str) -> ForwardAction:
    return ForwardAction(tuple(WeightedGroup(k) for k in keys))


def every_feature_spec(pem: str | None = None) -> LoadBalancerSpec:
    a = group(
        "a",
        Target("t1", "i-1", "127.0.0.1", 9001),
        Target("t2", "i-2", "127.0.0.1", 9002, draining=True),
        stickiness=Stickiness(60),
        slow_start_s=30,
        health_check=HealthCheck(path="/h$a b#'\"", matcher="200-299,302", interval_s=5, timeout_s=2),
    )
    b = group("b", algorithm="least_outstanding_requests")
    rules = (
        Rule(
            4,
            (Condition("source-ip", ("10.0.0.0/8", "::1/128")),),
            ForwardAction((WeightedGroup("a", 3), WeightedGroup("b", 1)), 60),
        ),
        Rule(1, (Condition("host-header", ("*.Example.com", "a?c.org")),), forward("a")),
        Rule(
            2,
            (
                Condition("path-pattern", ("/img/*", "/a'b")),
                Condition("http-header", ("x*y",), header_name="User-Agent"),
            ),
            RedirectAction(protocol="HTTPS", port="443", query="x=1&#{query}", status_code="HTTP_302"),
        ),
        Rule(
            3,
            (
                Condition("query-string", pairs=(("k", "v*"), (None, "z"))),
                Condition("http-request-method", ("GET", "PURGE")),
            ),
            FixedResponseAction(404, "text/plain", 'no "such" $thing #x\n100% \\ done'),
        ),
    )
    listeners = [
        Listener("web", 18080, "HTTP", forward("a"), rules=rules),
        Listener("redir", 18081, "HTTP", RedirectAction(protocol="HTTPS", port="443")),
        Listener("fixed", 18082, "HTTP", FixedResponseAction(200)),
    ]
    if pem:
        listeners.append(Listener("tls", 18443, "HTTPS", forward("b"), certificates=(Certificate(pem),)))
    return LoadBalancerSpec(
        key="lb1",
        arn="arn:lb1",
        name="lb1",
        dns_name="lb1-1.us-east-1.elb.localhost",
        address="127.0.0.9",
        listeners=tuple(listeners),
        target_groups=(a, b),
    )


def haproxy_accepts(text: str, tmp_path: Path) -> None:
    path = tmp_path / "candidate.cfg"
    path.write_text(text)
    asyncio.run(check_config(path))


def test_every_feature_renders_to_a_valid_configuration(tmp_path: Path, self_signed_pem: str) -> None:
    spec = every_feature_spec(self_signed_pem)
    text = render(spec, balancer_paths(tmp_path, spec.key))
    haproxy_accepts(text, tmp_path)
    # Rules run in priority order whatever order the spec lists them in.
    order = re.findall(r"set-var\(txn\.r\) int\((\d)\) if !\{ var\(txn\.r\) -m found \} \{ (\S+)", text)
    assert order == [("1", "req.hdr(host),field(1,:),lower"), ("2", "path"), ("3", "query"), ("4", "src")]
    assert (
        "server t2 127.0.0.1:9002 cookie" in text
        and " disabled " in text.split("server t2 ", 1)[1].split("\n")[0] + " "
    )
    assert "server t1.failopen 127.0.0.1:9001" in text and "t2.failopen" not in text  # draining: no copy
    assert "balance leastconn" in text
    # Group b has no targets: ALB's 503.
    assert re.search(r"backend tg_b\n(?:.*\n)*?    http-request return status 503", text)
    assert "http-check expect rstatus '^(?:2[0-9][0-9]|302)$'" in text
    assert "ssl crt" in text and "alpn h2,http/1.1" in text


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    spec = every_feature_spec()
    paths = balancer_paths(tmp_path, spec.key)
    assert render(spec, paths) == render(spec, paths)


def test_https_listener_without_certificate_is_rejected(tmp_path: Path) -> None:
    spec = every_feature_spec()
    spec = LoadBalancerSpec(**{**spec.__dict__, "listeners": (Listener("tls", 443, "HTTPS", forward("a")),)})
    with pytest.raises(SpecError):
        render(spec, balancer_paths(tmp_path, spec.key))


def test_unknown_group_is_rejected(tmp_path: Path) -> None:
    spec = every_feature_spec()
    spec = LoadBalancerSpec(**{**spec.__dict__, "listeners": (Listener("web", 80, "HTTP", forward("nope")),)})
    with pytest.raises(SpecError):
        render(spec, balancer_paths(tmp_path, spec.key))


def test_haproxy_check_failure_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.cfg"
    path.write_text("frontend x\n    bind 127.0.0.1:1\n    use_backend nowhere\n")
    with pytest.raises(ConfigRejected, match="nowhere"):
        asyncio.run(check_config(path))


def test_edge_routes_by_host_and_sni(tmp_path: Path) -> None:
    spec = every_feature_spec("/nonexistent.pem")
    text = render_edge(
        [(spec, balancer_paths(tmp_path, spec.key))], edge_paths(tmp_path), [18080, 18443], True
    )
    assert (
        "use_backend to_lb1_18080 if HTTP { req.hdr(host),field(1,:) -i lb1-1.us-east-1.elb.localhost }"
        in text
    )
    assert "use_backend to_lb1_18443 if { req.ssl_sni -i lb1-1.us-east-1.elb.localhost }" in text
    assert "bind [::1]:18080" in text and "send-proxy-v2" in text
    assert "18081" not in text  # a port the edge could not take is left out
    haproxy_accepts(text, tmp_path)


@pytest.mark.parametrize(
    ("matcher", "ok", "bad"),
    [
        ("200", ["200"], ["201", "2000"]),
        ("200,202", ["200", "202"], ["201"]),
        ("200-299", ["200", "250", "299"], ["300", "199"]),
        ("200-204,301,400-499", ["203", "301", "404", "499"], ["205", "302", "500"]),
    ],
)
def test_matcher_becomes_status_regex(matcher: str, ok: list[str], bad: list[str]) -> None:
    pattern = status_regex(matcher).strip("'")
    for code in ok:
        assert re.match(pattern, code), (matcher, code)
    for code in bad:
        assert not re.match(pattern, code), (matcher, code)


def test_wildcards_match_like_aws() -> None:
    def matches(value: str, subject: str) -> bool:
        return re.match("^" + wildcard_regex(value).replace("\\x", "\\x") + "$", subject) is not None

    assert matches("*.example.com", "test.example.com")
    assert not matches("*.example.com", "example.com")
    assert matches("/img/*", "/img/a/b.png")
    assert matches("a?c", "abc") and not matches("a?c", "ac")
    assert matches("a.b", "a.b") and not matches("a.b", "axb")


def test_quote_escapes_what_haproxy_interprets() -> None:
    assert quote('a"b$c#d\\e\nf') == '"a\\"b\\$c\\#d\\\\e\\nf"'


@pytest.mark.parametrize(
    ("row", "state", "reason"),
    [
        ({"status": "UP", "check_status": "L7OK"}, "healthy", None),
        ({"status": "UP", "check_status": "INI"}, "initial", "Elb.InitialHealthChecking"),
        (
            {"status": "DOWN", "check_status": "L7STS", "check_code": "404"},
            "unhealthy",
            "Target.ResponseCodeMismatch",
        ),
        ({"status": "DOWN", "check_status": "L4TOUT"}, "unhealthy", "Target.Timeout"),
        ({"status": "DOWN", "check_status": "L4CON"}, "unhealthy", "Target.FailedHealthChecks"),
        ({"status": "MAINT", "check_status": ""}, "draining", "Target.DeregistrationInProgress"),
        ({"status": "no check", "check_status": ""}, "unavailable", "Target.HealthCheckDisabled"),
    ],
)
def test_health_states_and_reasons(row: dict[str, str], state: str, reason: str | None) -> None:
    health = target_health(row)
    assert (health.state, health.reason) == (state, reason)
    if reason == "Target.ResponseCodeMismatch":
        assert health.description == "Health checks failed with these codes: [404]"


@pytest.fixture
def self_signed_pem(tmp_path: Path) -> str:
    from tests.loadbalancer_support import make_certificate

    return str(make_certificate(tmp_path, "lb1-1.us-east-1.elb.localhost")[0])


def test_haproxy_version_supports_the_features_used() -> None:
    out = subprocess.run(["haproxy", "-vv"], capture_output=True, text=True, check=True).stdout
    assert "USE_OPENSSL=1" in out and "PCRE2" in out
