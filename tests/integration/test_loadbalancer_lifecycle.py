"""A balancer's life: health checks and AWS's target states, fail-open, draining, rejected changes,
hitless reloads under load, idempotent applies, and a daemon that dies while HAProxy keeps serving."""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from onebox.clock import Clock
from onebox.host.loadbalancer import ConfigRejected, apply, read_health, read_stats, remove
from onebox.host.loadbalancer.balancer import process_name
from onebox.host.loadbalancer.spec import (
    Certificate,
    Condition,
    FixedResponseAction,
    ForwardAction,
    HealthCheck,
    Listener,
    LoadBalancerSpec,
    Rule,
    Target,
    TargetGroup,
    WeightedGroup,
)
from onebox.host.supervisor import Supervisor
from tests.loadbalancer_support import Backend, LoopThread, backends, data_plane, free_port, request, wait_for

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs Debian's haproxy")

FAST = HealthCheck(interval_s=1, timeout_s=1, healthy_threshold=2, unhealthy_threshold=2, path="/health")


def spec_for(
    key: str, address: str, port: int, *targets: Backend, rules: tuple[Rule, ...] = (), **group_kw: object
) -> LoadBalancerSpec:
    members = tuple(Target(f"t{b.name}", f"i-{b.name}", "127.0.0.1", b.port) for b in targets)
    group_kw.setdefault("health_check", FAST)
    group = TargetGroup(key="g", arn="arn:g", name="g", targets=members, **group_kw)  # type: ignore[arg-type]
    return LoadBalancerSpec(
        key=key,
        arn=f"arn:{key}",
        name=key,
        dns_name=f"{key}-1.us-east-1.elb.localhost",
        address=address,
        listeners=(Listener("web", port, "HTTP", ForwardAction((WeightedGroup("g"),)), rules=rules),),
        target_groups=(group,),
    )


def states(loop: LoopThread, runtime: object, key: str) -> dict[str, str]:
    return {t: h.state for t, h in loop.run(read_health(runtime, key))["g"].items()}  # type: ignore[arg-type]


@pytest.fixture
def plane(tmp_path) -> Iterator[tuple[LoopThread, object]]:
    with data_plane(tmp_path) as pair:
        yield pair


class Load:
    """Clients sending requests in a loop until stopped; counts every reply that is not a 200."""

    def __init__(self, address: str, port: int, clients: int = 4) -> None:
        self.address, self.port = address, port
        self.ok = 0
        self.failures: Counter[str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(clients)
        self._futures = [self._pool.submit(self._run) for _ in range(clients)]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                reply = request(self.address, self.port, "/load", timeout=5)
                outcome = "ok" if reply.status == 200 else str(reply.status)
            except OSError as exc:
                outcome = type(exc).__name__
            with self._lock:
                if outcome == "ok":
                    self.ok += 1
                else:
                    self.failures[outcome] += 1

    def stop(self) -> None:
        self._stop.set()
        for future in self._futures:
            future.result(10)
        self._pool.shutdown()


def test_health_checks_fail_open_and_failover_without_errors(plane) -> None:
    loop, runtime = plane
    port = free_port()
    with backends("a", "b") as (a, b):
        spec = spec_for("health", "127.0.0.71", port, a, b)
        loop.run(apply(runtime, spec))
        wait_for(
            lambda: states(loop, runtime, "health") == {"ta": "healthy", "tb": "healthy"},
            15,
            message="healthy",
        )

        # A wrong status code: unhealthy with AWS's reason, after the unhealthy threshold.
        b.health_status = 404
        wait_for(lambda: states(loop, runtime, "health")["tb"] == "unhealthy", 15, message="tb unhealthy")
        health = loop.run(read_health(runtime, "health"))["g"]["tb"]
        assert (health.reason, health.description) == (
            "Target.ResponseCodeMismatch",
            "Health checks failed with these codes: [404]",
        )
        assert {request("127.0.0.71", port).backend for _ in range(10)} == {"a"}

        # Health survives a reload (the server-state file): no flip back to initial or healthy.
        loop.run(apply(runtime, dataclasses.replace(spec, idle_timeout_s=30)))
        assert states(loop, runtime, "health") == {"ta": "healthy", "tb": "unhealthy"}

        # No healthy target at all: ALB fails open and routes to every target.
        a.health_status = 500
        wait_for(lambda: states(loop, runtime, "health")["ta"] == "unhealthy", 15, message="ta unhealthy")
        assert {request("127.0.0.71", port).backend for _ in range(20)} == {"a", "b"}

        # Recovery, then a target whose server stops: refused checks, then no failed request.
        a.health_status = b.health_status = 200
        wait_for(
            lambda: states(loop, runtime, "health") == {"ta": "healthy", "tb": "healthy"},
            15,
            message="recovered",
        )
        b.stop()
        wait_for(lambda: states(loop, runtime, "health")["tb"] == "unhealthy", 15, message="tb down")
        assert loop.run(read_health(runtime, "health"))["g"]["tb"].reason == "Target.FailedHealthChecks"
        replies = [request("127.0.0.71", port) for _ in range(100)]
        assert Counter(r.status for r in replies) == {200: 100}
        stats = loop.run(read_stats(runtime, "health"))
        assert stats.listeners["web"].requests >= 100
        assert stats.targets["g"]["ta"].responses["2xx"] >= 100
        loop.run(remove(runtime, "health"))


def test_new_target_gets_traffic_only_once_healthy(plane) -> None:
    loop, runtime = plane
    port = free_port()
    with backends("a", "b") as (a, b):
        spec = spec_for("join", "127.0.0.76", port, a)
        loop.run(apply(runtime, spec))
        assert states(loop, runtime, "join") == {"ta": "initial"}
        assert request("127.0.0.76", port).backend == "a"  # none healthy yet: fail-open
        wait_for(lambda: states(loop, runtime, "join") == {"ta": "healthy"}, 15, message="healthy")
        b.health_status = 500
        loop.run(apply(runtime, spec_for("join", "127.0.0.76", port, a, b)))
        assert states(loop, runtime, "join") == {"ta": "healthy", "tb": "initial"}
        wait_for(lambda: states(loop, runtime, "join")["tb"] == "unhealthy", 15, message="tb unhealthy")
        assert b.requests == []  # a registered target that never passed its checks gets nothing
        b.health_status = 200
        wait_for(lambda: states(loop, runtime, "join")["tb"] == "healthy", 15, message="tb healthy")
        assert {request("127.0.0.76", port).backend for _ in range(10)} == {"a", "b"}
        loop.run(remove(runtime, "join"))


def test_draining_target_finishes_in_flight_requests(plane) -> None:
    loop, runtime = plane
    port = free_port()
    with backends("a", "b") as (a, b):
        spec = spec_for("drain", "127.0.0.72", port, a, b)
        loop.run(apply(runtime, spec))
        wait_for(
            lambda: states(loop, runtime, "drain") == {"ta": "healthy", "tb": "healthy"},
            15,
            message="healthy",
        )
        with ThreadPoolExecutor(4) as pool:
            slow = [pool.submit(request, "127.0.0.72", port, "/slow") for _ in range(4)]
            wait_for(lambda: sum(1 for r in b.requests if r["path"] == "/slow") >= 2, 10, 0.02, "in flight")
            group = spec.target_groups[0]
            draining = dataclasses.replace(
                group, targets=(group.targets[0], dataclasses.replace(group.targets[1], draining=True))
            )
            loop.run(apply(runtime, dataclasses.replace(spec, target_groups=(draining,))))
            assert states(loop, runtime, "drain")["tb"] == "draining"
            assert {request("127.0.0.72", port).backend for _ in range(10)} == {"a"}  # no new requests
            finished = [f.result(15) for f in slow]
        assert [r.status for r in finished] == [200] * 4
        assert {r.backend for r in finished} == {"a", "b"}
        loop.run(remove(runtime, "drain"))


def test_rejected_change_keeps_the_running_balancer(plane, tmp_path) -> None:
    loop, runtime = plane
    port = free_port()
    with backends("a") as (a,):
        spec = spec_for("keep", "127.0.0.73", port, a)
        assert loop.run(apply(runtime, spec)) is True
        assert loop.run(apply(runtime, spec)) is False  # idempotent
        config = (tmp_path / "elb" / "keep" / "haproxy.cfg").read_text()
        bad = dataclasses.replace(
            spec,
            listeners=spec.listeners
            + (
                Listener(
                    "tls",
                    free_port(),
                    "HTTPS",
                    ForwardAction((WeightedGroup("g"),)),
                    certificates=(Certificate(str(tmp_path / "missing.pem")),),
                ),
            ),
        )
        with pytest.raises(ConfigRejected, match="missing.pem"):
            loop.run(apply(runtime, bad))
        assert (tmp_path / "elb" / "keep" / "haproxy.cfg").read_text() == config
        assert request("127.0.0.73", port).backend == "a"
        assert loop.run(apply(runtime, spec)) is False
        loop.run(remove(runtime, "keep"))
        assert not (tmp_path / "elb" / "keep").exists()
        with pytest.raises(OSError):
            request("127.0.0.73", port, timeout=2)


def test_reloads_under_load_fail_no_request(plane) -> None:
    loop, runtime = plane
    port = free_port()
    with backends("a", "b") as (a, b):
        spec = spec_for("reload", "127.0.0.74", port, a, b)
        loop.run(apply(runtime, spec))
        wait_for(
            lambda: states(loop, runtime, "reload") == {"ta": "healthy", "tb": "healthy"},
            15,
            message="healthy",
        )
        load = Load("127.0.0.74", port)
        try:
            for n in range(15):
                rule = Rule(
                    1,
                    (Condition("path-pattern", (f"/changed-{n}",)),),
                    FixedResponseAction(200, "text/plain", str(n)),
                )
                assert loop.run(
                    apply(
                        runtime,
                        dataclasses.replace(
                            spec, listeners=(dataclasses.replace(spec.listeners[0], rules=(rule,)),)
                        ),
                    )
                )
                assert request("127.0.0.74", port, f"/changed-{n}").body == str(n).encode()
        finally:
            load.stop()
        assert load.ok > 100
        assert not load.failures, load.failures
        loop.run(remove(runtime, "reload"))


def test_haproxy_outlives_the_daemon_and_is_adopted(tmp_path) -> None:
    port = free_port()
    with backends("a") as (a,):
        spec = spec_for("adopt", "127.0.0.75", port, a)
        with data_plane(tmp_path) as (loop, runtime):
            loop.run(apply(runtime, spec))
            pid = runtime.supervisor.get(process_name("adopt")).pid
            loop.run(runtime.supervisor.detach())  # the daemon goes away (as after kill -9)
            assert request("127.0.0.75", port).backend == "a"  # still serving
            adopter = Supervisor(runtime.config.run_dir, runtime.config.log_dir, Clock(), poll_interval=0.05)
            assert process_name("adopt") in loop.run(adopter.start())
            runtime.supervisor = adopter
            assert adopter.get(process_name("adopt")).pid == pid
            assert loop.run(apply(runtime, spec)) is False  # nothing to do: same spec, adopted process
            changed = dataclasses.replace(spec, idle_timeout_s=20)
            try:
                assert loop.run(apply(runtime, changed)) is True  # reload through the adopted master
                assert request("127.0.0.75", port).backend == "a"
            finally:
                loop.run(adopter.stop_all())
                loop.run(adopter.detach())


def test_a_balancer_that_cannot_bind_fails_clearly_and_stays_stopped(plane) -> None:
    import socket

    from onebox.host.loadbalancer import LoadBalancerError
    from onebox.host.supervisor import ProcessState

    loop, runtime = plane
    port = free_port()
    with backends("a") as (a,), socket.socket() as squatter:
        squatter.bind(("127.0.0.77", port))
        squatter.listen()
        with pytest.raises(LoadBalancerError, match="did not start"):
            loop.run(apply(runtime, spec_for("nobind", "127.0.0.77", port, a)))
        assert runtime.supervisor.get(process_name("nobind")).state is ProcessState.STOPPED
    loop.run(remove(runtime, "nobind"))
