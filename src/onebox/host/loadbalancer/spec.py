"""What one Application Load Balancer should be, in data-plane terms: the contract between the elbv2
service (which builds a `LoadBalancerSpec` from its records) and the HAProxy data plane (which renders,
checks, runs and reloads one HAProxy per balancer from it).

Everything here is plain, immutable data: no store records, no AWS wire shapes. Names that end up in
HAProxy's configuration (`key`s) are safe identifiers ([a-z0-9_-]) chosen by the elbv2 service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Protocol = Literal["HTTP", "HTTPS"]


@dataclass(frozen=True)
class HealthCheck:
    """A target group's health check, with AWS's defaults for an HTTP target group."""

    protocol: Protocol = "HTTP"
    port: int | None = None  # None: the traffic port (each target's own port)
    path: str = "/"
    interval_s: int = 30
    timeout_s: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"  # HttpCode as AWS takes it: "200", "200,202", "200-299"
    enabled: bool = True


@dataclass(frozen=True)
class Target:
    """One registered target: an instance's private IP (target type instance) or an IP, and a port."""

    key: str  # unique in its group, e.g. "i-0abc_80"
    target_id: str  # InstanceId or IP as the API shows it
    address: str
    port: int
    availability_zone: str | None = None
    draining: bool = False  # deregistered, within its deregistration delay: no new requests


@dataclass(frozen=True)
class Stickiness:
    """Target stickiness (lb_cookie): the balancer's own AWSALB cookie for `duration_s` seconds."""

    duration_s: int = 86400


@dataclass(frozen=True)
class TargetGroup:
    key: str  # e.g. "tg_my-targets_0123456789abcdef"
    arn: str
    name: str
    protocol: Protocol = "HTTP"
    targets: tuple[Target, ...] = ()
    health_check: HealthCheck = field(default_factory=HealthCheck)
    algorithm: Literal["round_robin", "least_outstanding_requests"] = "round_robin"
    stickiness: Stickiness | None = None
    slow_start_s: int = 0
    deregistration_delay_s: int = 300


@dataclass(frozen=True)
class Condition:
    """One rule condition. `field` is AWS's Field; which of the other members apply depends on it:
    host-header / path-pattern / http-request-method: `values` (AWS wildcards * and ? in host and path);
    http-header: `header_name` + `values`; query-string: `pairs` of (key or None, value);
    source-ip: `values` are CIDRs."""

    field: Literal[
        "host-header", "path-pattern", "http-header", "http-request-method", "query-string", "source-ip"
    ]
    values: tuple[str, ...] = ()
    header_name: str | None = None
    pairs: tuple[tuple[str | None, str], ...] = ()


@dataclass(frozen=True)
class WeightedGroup:
    target_group_key: str
    weight: int = 1


@dataclass(frozen=True)
class ForwardAction:
    groups: tuple[WeightedGroup, ...]
    group_stickiness_s: int | None = None  # TargetGroupStickinessConfig: Enabled with DurationSeconds


@dataclass(frozen=True)
class RedirectAction:
    """AWS's redirect: each part may hold #{protocol}, #{host}, #{port}, #{path}, #{query}."""

    protocol: str = "#{protocol}"
    host: str = "#{host}"
    port: str = "#{port}"
    path: str = "/#{path}"
    query: str = "#{query}"
    status_code: Literal["HTTP_301", "HTTP_302"] = "HTTP_301"


@dataclass(frozen=True)
class FixedResponseAction:
    status_code: int
    content_type: str | None = None
    body: str = ""


Action = ForwardAction | RedirectAction | FixedResponseAction


@dataclass(frozen=True)
class Rule:
    priority: int  # lower wins; the listener's default action is not a Rule
    conditions: tuple[Condition, ...]
    action: Action


@dataclass(frozen=True)
class Certificate:
    """A PEM file holding certificate, chain and private key (as HAProxy's `crt` wants it)."""

    pem_path: str
    server_names: tuple[str, ...] = ()  # names the certificate covers (for SNI selection)
    arn: str = ""  # ACM's ARN (access logs name the chosen certificate)


@dataclass(frozen=True)
class Listener:
    key: str
    port: int
    protocol: Protocol
    default_action: Action
    rules: tuple[Rule, ...] = ()
    certificates: tuple[Certificate, ...] = ()  # HTTPS: the first one is the default certificate


@dataclass(frozen=True)
class VpcAddress:
    """A private address of the balancer in its VPC (one per subnet), inside the network namespace
    that holds the balancer's interface there: every listener binds it too."""

    namespace: str
    address: str
    zone: str | None = None


@dataclass(frozen=True)
class LoadBalancerSpec:
    key: str  # process and file names: e.g. "alb_my-lb_0123456789abcdef"
    arn: str
    name: str
    dns_name: str  # e.g. "my-lb-0123456789.us-east-1.elb.localhost"
    address: str  # the balancer's own loopback address (127.x.y.z) its listeners bind to
    listeners: tuple[Listener, ...] = ()
    target_groups: tuple[TargetGroup, ...] = ()  # every group any listener or rule forwards to
    idle_timeout_s: int = 60
    internal: bool = False
    vpc_addresses: tuple[VpcAddress, ...] = ()
    access_log: bool = False  # log every request to the daemon's collector (access_log.py)
