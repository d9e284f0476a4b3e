"""Access-log rendering and ALB's line format; merging counters across a reload; AWS's log object keys."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shlex
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from onebox.host.loadbalancer import render
from onebox.host.loadbalancer.access_log import Formatter, socket_path
from onebox.host.loadbalancer.paths import balancer_paths
from onebox.host.loadbalancer.process import check_config
from onebox.host.loadbalancer.spec import (
    FixedResponseAction,
    ForwardAction,
    Listener,
    LoadBalancerSpec,
    Rule,
    Target,
    TargetGroup,
    VpcAddress,
    WeightedGroup,
)
from onebox.services.elbv2 import metrics
from onebox.services.elbv2.access_logs import object_key

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/0123456789abcdef"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/fedcba9876543210"


def spec(**changes: object) -> LoadBalancerSpec:
    group = TargetGroup("tg-1", TG_ARN, "tg", targets=(Target("t1", "10.0.0.5", "10.0.0.5", 80),))
    listener = Listener(
        "l1",
        8080,
        "HTTP",
        ForwardAction((WeightedGroup("tg-1"),)),
        rules=(Rule(7, (), FixedResponseAction(200, "text/plain", "x")),),
    )
    base = LoadBalancerSpec(
        "alb-1", ARN, "web", "web.elb.localhost", "127.210.0.9", (listener,), (group,), access_log=True
    )
    return dataclasses.replace(base, **changes)


def record(**changes: object) -> list[object]:
    fields = {
        "frontend": "listener_l1", "major": 1, "date": 1767225600, "us": 123456, "ci": "10.0.1.9",
        "cp": 51000, "accepted": 1767225600, "backend": "tg_tg-1", "server": "t1", "si": "10.0.0.5",
        "sp": "80", "TR": 0, "Tw": 0, "Tc": 1, "Tr": 12, "Ta": 14, "ST": 200, "U": 90, "B": 300,
        "method": "GET", "uri": "/a?b=1", "ver": "HTTP/1.1", "host": "web.example.com",
        "agent": 'curl/8 "x"', "cipher": "-", "protocol": "-", "trace": "Root=1-abc", "sni": "-",
        "rule": "-", "location": "-",
    }  # fmt: skip
    fields.update(changes)
    return list(fields.values())


def test_a_forwarded_request_becomes_albs_line() -> None:
    when, line = Formatter(spec()).line(record()) or (0, "")
    fields = shlex.split(line)
    assert when == pytest.approx(1767225600.123456)
    assert len(fields) == 30
    assert fields[:12] == [
        "http", "2026-01-01T00:00:00.123456Z", "app/web/0123456789abcdef", "10.0.1.9:51000",
        "10.0.0.5:80", "0.001", "0.012", "0.000", "200", "200", "90", "300",
    ]  # fmt: skip
    assert fields[12] == "GET http://web.example.com:8080/a?b=1 HTTP/1.1"
    assert fields[13] == 'curl/8 "x"'
    assert fields[14:17] == ["-", "-", TG_ARN]
    assert fields[17:22] == ["Root=1-abc", "-", "-", "0", "2026-01-01T00:00:00.109456Z"]
    assert fields[22:29] == ["forward", "-", "-", "10.0.0.5:80", "200", "-", "-"]
    assert re.fullmatch(r"TID_[0-9a-f]{32}", fields[29])


def test_a_fixed_response_of_a_rule_has_no_target() -> None:
    _, line = Formatter(spec()).line(
        record(backend="listener_l1", server="<NOSRV>", si="-", sp="-", Tc=-1, Tr=-1, rule="1")
    ) or (0, "")
    fields = shlex.split(line)
    assert fields[4:10] == ["-", "-1", "-1", "-1", "200", "-"]
    assert fields[16] == "-" and fields[20] == "7" and fields[22] == "fixed-response"


def test_records_that_are_not_requests_are_skipped() -> None:
    assert Formatter(spec()).line(["Proxy stopped"]) is None
    assert Formatter(spec()).line(record(frontend="listener_gone")) is None


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs Debian's haproxy")
def test_logging_and_vpc_binds_render_to_a_valid_configuration(tmp_path: Path) -> None:
    paths = balancer_paths(tmp_path, "alb-1")
    paths.make()
    text = render(spec(), paths)
    assert f"log {socket_path(tmp_path)} len 16384 format raw local0 info" in text
    assert 'log-format \'["alb-1",' in text
    paths.candidate.write_text(text)
    asyncio.run(check_config(paths.candidate))
    quiet = render(spec(access_log=False, vpc_addresses=(VpcAddress("obelb-x", "10.0.0.20"),)), paths)
    assert "log-format" not in quiet and "set-var(txn.ua)" not in quiet
    assert "    bind 10.0.0.20:8080 namespace obelb-x" in quiet


def test_counters_of_a_replaced_worker_add_up() -> None:
    before = metrics.Reading(requests=3, new_connections=3, target_responses={"2xx": 3})
    before.groups["g"] = metrics.GroupReading(requests=3, target_responses={"2xx": 3}, response_time_ms=10)
    after = metrics.Reading(requests=1, new_connections=1, active_connections=2, elb_responses={"5xx": 1})
    after.groups["g"] = metrics.GroupReading(requests=1, target_responses={"2xx": 1}, response_time_ms=30)
    merged = metrics.merge(before, after)
    assert (merged.requests, merged.new_connections, merged.active_connections) == (4, 4, 2)
    assert merged.target_responses == {"2xx": 3} and merged.elb_responses == {"5xx": 1}
    assert merged.groups["g"].requests == 4 and merged.groups["g"].response_time_ms == pytest.approx(15)


def test_log_objects_are_named_as_aws_names_them() -> None:
    lb = SimpleNamespace(account="123456789012", region="eu-west-1", name="web", id="0123456789abcdef")
    key = object_key(lb, 1767225900, "10.0.1.4", "/logs/")  # type: ignore[arg-type]
    assert re.fullmatch(
        r"logs/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/01/01/"
        r"123456789012_elasticloadbalancing_eu-west-1_app\.web\.0123456789abcdef_20260101T0005Z_10\.0\.1\.4_"
        r"[a-z0-9]{8}\.log\.gz",
        key,
    )
    assert object_key(lb, 1767225900, "10.0.1.4", "").startswith("AWSLogs/")  # type: ignore[arg-type]
