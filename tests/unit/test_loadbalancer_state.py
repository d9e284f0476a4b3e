"""The server-state file written before a reload: targets HAProxy has not seen start down (ALB's
`initial`), known ones keep the state the running worker dumped."""

from __future__ import annotations

from pathlib import Path

from onebox.host.loadbalancer.paths import balancer_paths
from onebox.host.loadbalancer.process import CheckedServer, _add_new_servers, read_pending
from onebox.host.loadbalancer.render import checked_servers
from onebox.host.loadbalancer.spec import HealthCheck, LoadBalancerSpec, Target, TargetGroup

DUMP = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state ...\n"
    "5 hc_g.old 1 old 127.0.0.1 2 0 1 1 120 15 3 4 6 0 0 0 - 8080 - 0 0 - - 0\n"
)


def test_new_servers_start_stopped_and_known_ones_keep_their_state(tmp_path: Path) -> None:
    paths = balancer_paths(tmp_path, "lb")
    paths.make()
    paths.server_state.write_text(DUMP)
    _add_new_servers(
        paths,
        [
            CheckedServer("hc_g.old", "old", "127.0.0.1", 8080, 60),
            CheckedServer("hc_g.new", "new", "10.0.0.5", 80, 60),
        ],
    )
    lines = paths.server_state.read_text().splitlines()
    assert lines[2] == DUMP.splitlines()[2]  # untouched
    new = lines[3].split()
    assert len(new) == len(lines[2].split()) == 25
    assert (new[1], new[3], new[4], new[5], new[12], new[18]) == (
        "hc_g.new",
        "new",
        "10.0.0.5",
        "0",
        "0",
        "80",
    )
    assert read_pending(paths) == {"hc_g.new/new": 60}

    # Applied again (the dump now knows it): nothing added, still pending until seen healthy/unhealthy.
    _add_new_servers(paths, [CheckedServer("hc_g.new", "new", "10.0.0.5", 80, 60)])
    assert len(paths.server_state.read_text().splitlines()) == 4
    assert read_pending(paths) == {"hc_g.new/new": 60}
    # A target that is gone leaves the pending list.
    _add_new_servers(paths, [])
    assert read_pending(paths) == {}


def test_checked_servers_are_the_non_draining_targets_of_checked_groups() -> None:
    checked = TargetGroup(
        "g",
        "arn:g",
        "g",
        targets=(Target("a", "i-a", "10.0.0.1", 80), Target("b", "i-b", "10.0.0.2", 80, draining=True)),
        health_check=HealthCheck(interval_s=10, unhealthy_threshold=3),
    )
    unchecked = TargetGroup(
        "u",
        "arn:u",
        "u",
        targets=(Target("c", "i-c", "10.0.0.3", 80),),
        health_check=HealthCheck(enabled=False),
    )
    spec = LoadBalancerSpec(
        "lb", "arn", "lb", "lb.elb.localhost", "127.0.0.9", target_groups=(checked, unchecked)
    )
    assert checked_servers(spec) == [("hc_g.a", "a", "10.0.0.1", 80, 30)]
