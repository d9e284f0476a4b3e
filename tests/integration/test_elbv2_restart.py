"""A balancer outlives its daemon: `kill -9` of the daemon fails no request, the next daemon adopts the
same HAProxy (no restart), applies changes made after it, and a deleted balancer stops answering."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from tests.conftest import free_port
from tests.integration.test_elbv2_live import Backend, Client, address_of, group, wait_active, wait_serving


def _haproxy_pid(state_dir: Path, lb_arn: str) -> int:
    record = json.loads((state_dir / "run" / f"elb-alb-{lb_arn.rsplit('/', 1)[1]}.json").read_text())
    return int(record["pid"])


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_balancer_survives_daemon_kill_and_is_adopted(fresh_onebox) -> None:  # noqa: ANN001
    box = fresh_onebox
    backend = Backend("kept")
    try:
        elb = box.client("elbv2")
        subnets = sorted(box.client("ec2").describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
        tg = group(elb, subnets[0]["VpcId"], "kept", [backend])
        lb = elb.create_load_balancer(Name="kept", Subnets=[s["SubnetId"] for s in subnets[:2]])[
            "LoadBalancers"
        ][0]
        port = free_port()
        listener = elb.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )["Listeners"][0]["ListenerArn"]
        wait_active(elb, lb["LoadBalancerArn"])
        client = Client(address_of(lb["DNSName"]), port, lb["DNSName"])
        wait_serving(client)
        pid = _haproxy_pid(box.state_dir, lb["LoadBalancerArn"])

        failures: list[object] = []
        served = 0
        stop = threading.Event()

        def traffic() -> None:
            nonlocal served
            while not stop.is_set():
                try:
                    status = client.request("/")[0]
                    if status != 200:
                        failures.append(status)
                    served += 1
                except OSError as error:
                    failures.append(error)
                time.sleep(0.01)

        worker = threading.Thread(target=traffic)
        worker.start()
        try:
            daemon_pid = int((box.state_dir / "run" / "daemon.pid").read_text())
            os.kill(daemon_pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{daemon_pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1)
            box.cli("up", "--detach")
            elb = box.client("elbv2")
            time.sleep(3)  # a few resyncs of the new daemon's controller
        finally:
            stop.set()
            worker.join()
        assert failures == [] and served > 50, (failures[:5], served)
        assert _haproxy_pid(box.state_dir, lb["LoadBalancerArn"]) == pid  # adopted, not restarted

        elb.create_rule(
            ListenerArn=listener,
            Priority=1,
            Conditions=[{"Field": "path-pattern", "Values": ["/after"]}],
            Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "202"}}],
        )
        wait_serving(client, "/after", 202)
        elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                client.request("/")
            except OSError:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the deleted balancer still answers")
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), Path(f"/proc/{pid}/status").read_text()
    finally:
        backend.stop()
