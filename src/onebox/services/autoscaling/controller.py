"""The group controller: keeps each Auto Scaling group's instances equal to its desired capacity.

Level-triggered, one key per group. A reconcile: runs due scheduled actions; moves every member
through its lifecycle (Pending -> [Pending:Wait] -> InService; Terminating -> deregister and drain ->
[Terminating:Wait] -> terminate; Detaching; EnteringStandby); replaces unhealthy instances; drives
an instance refresh; launches (balanced across AZs, rebalancing launch-before-terminate) or terminates
(AZ balance, then termination policies) to reach desired; records when the group settles (cooldowns);
and publishes group metrics. Instances are launched and terminated through EC2's own handlers.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from onebox.aws.errors import AwsError
from onebox.controllers import Controller, RequeueAfter
from onebox.services.autoscaling import target_groups, termination
from onebox.services.autoscaling.common import (
    ACTIVITY,
    GROUP,
    GROUP_TAG,
    INSTANCE_REFRESH,
    LIFECYCLE_HOOK,
    MEMBER,
    PENDING_STATES,
    SCHEDULED_ACTION,
    TERMINATING_STATES,
    finish_activity,
    internal_context,
    iso,
    new_uuid,
    progress_activity,
    start_activity,
)
from onebox.services.autoscaling.group_settings import publish_notification
from onebox.services.autoscaling.lifecycle_hooks import hooks_for, notify_hook
from onebox.services.autoscaling.schedule import next_run

if TYPE_CHECKING:
    from onebox.runtime import Runtime
    from onebox.store import Record

log = logging.getLogger(__name__)
Key = tuple[str, str, str]  # account, region, group name
EC2_INSTANCE = "ec2:instance"
BUSY_POLL = 1.0
LAUNCH_RETRY = 10.0
METRICS_PERIOD = 60.0
GONE = ("terminated", "shutting-down", "stopped", "stopping")
ACTIVE_STATES = (*PENDING_STATES, "InService")
_CHANGE = re.compile(r"changing the desired capacity from (\d+) to (\d+)\.$")


def _suspended(group: Record, process: str) -> bool:
    return any(p == process for p, _ in group.spec.get("SuspendedProcesses") or [])


class GroupController(Controller[Key]):
    name = "autoscaling-groups"
    resync_interval = 5.0
    concurrency = 4

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime
        self.store = runtime.store

    async def list_keys(self) -> Iterable[Key]:
        return [(r.account, r.region, r.id) for r in self.store.list_all(GROUP)]

    # -- the reconcile -------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> None:
        account, region, name = key
        group = self.store.get(GROUP, account, region, name)
        if group is None:
            return
        now = self.clock.time()
        wake: list[float] = []
        if not group.spec.get("Deleting") and not _suspended(group, "ScheduledActions"):
            due = self._scheduled(group, now)
            if due is not None:
                wake.append(due)
            group = self.store.get(GROUP, account, region, name) or group
        for member in self._members(group):
            self._advance(group, member, now)
        if group.spec.get("Deleting"):
            if self._delete(group, now):
                return
            raise RequeueAfter(BUSY_POLL)
        self._sync_target_groups(group)
        self._health(group, now)
        surge, surge_zone = self._refresh(group, now)
        self._scale(group, now, surge, surge_zone)
        busy = self._settle(group, now)
        self._metrics(group, now)
        if busy or self._refresh_active(group):
            raise RequeueAfter(BUSY_POLL)
        if wake:
            raise RequeueAfter(max(min(wake) - self.clock.time(), 0.5))

    # -- helpers -------------------------------------------------------------------------------------

    def _members(self, group: Record) -> list[Record]:
        return [
            m for m in self.store.list(MEMBER, group.account, group.region) if m.spec.get("Group") == group.id
        ]

    def _instance(self, group: Record, instance_id: str) -> Record | None:
        return self.store.get(EC2_INSTANCE, group.account, group.region, instance_id)

    def _move(self, member: Record, **changes: Any) -> Record | None:
        with self.store.transaction():
            current = self.store.get(MEMBER, member.account, member.region, member.id)
            if current is None:
                return None
            return self.store.update(current, spec={**current.spec, **changes})

    def _all_target_groups(self, group: Record) -> list[str]:
        return list(
            dict.fromkeys(
                list(group.spec.get("TargetGroupARNs") or [])
                + list(group.spec.get("DetachingTargetGroups") or [])
            )
        )

    def _target_states(
        self, group: Record, instance_id: str, arns: list[str] | None = None
    ) -> dict[str, str]:
        return {
            arn: target_groups.states(self.runtime, group.account, group.region, arn).get(
                instance_id, "unused"
            )
            for arn in (arns if arns is not None else group.spec.get("TargetGroupARNs") or [])
        }

    def _source(self, group: Record) -> dict[str, Any]:
        """The group's launch source with the launch template version resolved to a number."""
        template = group.spec.get("LaunchTemplate")
        if template:
            from onebox.services.ec2.launch_templates import LAUNCH_TEMPLATE, _version

            record = self.store.get(
                LAUNCH_TEMPLATE, group.account, group.region, template["LaunchTemplateId"]
            )
            if record is None:
                return {"LaunchTemplate": dict(template)}
            try:
                number = _version(record, template.get("Version"))["VersionNumber"]
            except AwsError:
                return {"LaunchTemplate": dict(template)}
            return {"LaunchTemplate": {**template, "Version": str(number)}}
        return {"LaunchConfigurationName": group.spec.get("LaunchConfigurationName")}

    def _matches_source(self, member: Record, source: dict[str, Any]) -> bool:
        if "LaunchTemplate" in source:
            mine = member.spec.get("LaunchTemplate") or {}
            return mine.get("LaunchTemplateId") == source["LaunchTemplate"].get("LaunchTemplateId") and str(
                mine.get("Version")
            ) == str(source["LaunchTemplate"].get("Version"))
        return member.spec.get("LaunchConfigurationName") == source.get("LaunchConfigurationName")

    # -- scheduled actions ---------------------------------------------------------------------------

    def _scheduled(self, group: Record, now: float) -> float | None:
        upcoming: list[float] = []
        actions = [
            r
            for r in self.store.list(SCHEDULED_ACTION, group.account, group.region)
            if r.spec["Group"] == group.id
        ]
        actions.sort(key=lambda r: (r.status.get("NextRun") or math.inf, r.seq))
        for action in actions:
            due = action.status.get("NextRun")
            if due is None:
                self.store.delete_by_id(SCHEDULED_ACTION, action.account, action.region, action.id)
                continue
            if due > now:
                upcoming.append(due)
                continue
            self._run_scheduled(group, action, now)
            spec = action.spec
            following = next_run(
                after=now,
                start_time=spec.get("StartTime"),
                end_time=spec.get("EndTime"),
                recurrence=spec.get("Recurrence"),
                time_zone=spec.get("TimeZone"),
                last_run=max(due, now - 1) if spec.get("Recurrence") else due,
            )
            if following is None:
                self.store.delete_by_id(SCHEDULED_ACTION, action.account, action.region, action.id)
            else:
                self.store.update_status(
                    SCHEDULED_ACTION,
                    action.account,
                    action.region,
                    action.id,
                    {"NextRun": following, "LastRun": now},
                )
                upcoming.append(following)
        return min(upcoming) if upcoming else None

    def _run_scheduled(self, group: Record, action: Record, now: float) -> None:
        spec = action.spec
        with self.store.transaction():
            current = self.store.get(GROUP, group.account, group.region, group.id)
            if current is None:
                return
            g = dict(current.spec)
            min_size = spec["MinSize"] if spec.get("MinSize") is not None else g["MinSize"]
            max_size = spec["MaxSize"] if spec.get("MaxSize") is not None else g["MaxSize"]
            desired = (
                spec["DesiredCapacity"] if spec.get("DesiredCapacity") is not None else g["DesiredCapacity"]
            )
            desired = max(min_size, min(max_size, desired))
            old = int(g["DesiredCapacity"])
            g.update({"MinSize": min_size, "MaxSize": max_size, "DesiredCapacity": desired})
            if desired != old:
                g["DesiredCause"] = (
                    f"At {iso(now)} a scheduled action update of AutoScalingGroup constraints to min: {min_size}, "
                    f"max: {max_size}, desired: {desired} changing the desired capacity from {old} to {desired}."
                )
                g["DesiredChangedAt"] = now
            self.store.update(current, spec=g)
        log.info("autoscaling: scheduled action %s ran for %s", spec["ScheduledActionName"], group.id)

    # -- member lifecycle ----------------------------------------------------------------------------

    def _advance(self, group: Record, member: Record, now: float) -> None:
        state = member.spec.get("LifecycleState")
        instance = self._instance(group, member.id)
        instance_state = instance.status.get("State") if instance is not None else "terminated"
        if state in PENDING_STATES:
            self._advance_pending(group, member, instance_state, now)
        elif state in TERMINATING_STATES:
            self._advance_terminating(group, member, instance, instance_state, now)
        elif state == "Detaching":
            if self._drained(group, member, now):
                if instance is not None:
                    tags = {k: v for k, v in instance.tags.items() if k != GROUP_TAG}
                    try:
                        self.store.update(instance, tags=tags)
                    except Exception:  # a concurrent EC2 write: the tag goes on the next pass
                        return
                self.store.delete_by_id(MEMBER, member.account, member.region, member.id)
                finish_activity(self.runtime, group.account, group.region, member.spec.get("ActivityId"))
        elif state == "EnteringStandby":
            if self._drained(group, member, now):
                self._move(member, LifecycleState="Standby", Registered=False)
                finish_activity(self.runtime, group.account, group.region, member.spec.get("ActivityId"))

    def _advance_pending(self, group: Record, member: Record, instance_state: str, now: float) -> None:
        if instance_state in GONE:
            message = "Instance failed to start: it is " + instance_state
            finish_activity(
                self.runtime,
                group.account,
                group.region,
                member.spec.get("ActivityId"),
                status="Failed",
                message=message,
            )
            self.store.delete_by_id(MEMBER, member.account, member.region, member.id)
            publish_notification(
                self.runtime,
                group,
                "autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
                {
                    "EC2InstanceId": member.id,
                    "ActivityId": member.spec.get("ActivityId", ""),
                    "StatusCode": "Failed",
                    "StatusMessage": message,
                },
            )
            return
        if instance_state != "running":
            return
        state = member.spec["LifecycleState"]
        if state == "Pending:Wait":
            outcome = self._hook_outcome(member, now)
            if outcome is None:
                return
            if outcome == "ABANDON":
                self._start_termination(group, member, now, reason="abandon")
                return
            member = (
                self._move(member, LifecycleState="Pending:Proceed", Hook=None, LaunchHookDone=True) or member
            )
            state = "Pending:Proceed"
        if state == "Pending" and not member.spec.get("LaunchHookDone"):
            hooks = hooks_for(
                self.runtime, group.account, group.region, group.id, "autoscaling:EC2_INSTANCE_LAUNCHING"
            )
            if hooks:
                self._wait_on_hook(group, member, hooks[0], "Pending:Wait", now)
                return
        arns = list(group.spec.get("TargetGroupARNs") or [])
        if arns and not member.spec.get("Registered") and not _suspended(group, "AddToLoadBalancer"):
            for arn in arns:
                target_groups.register(self.runtime, group.account, group.region, arn, [member.id])
            member = self._move(member, Registered=True, RegisteredAt=now) or member
            progress_activity(
                self.runtime,
                group.account,
                group.region,
                member.spec.get("ActivityId"),
                50,
                "MidLifecycleAction",
            )
        if group.spec.get("HealthCheckType") == "ELB" and arns:
            states = self._target_states(group, member.id, arns)
            if not all(s == "healthy" for s in states.values()):
                return
        self._move(member, LifecycleState="InService", InServiceAt=now)
        finish_activity(self.runtime, group.account, group.region, member.spec.get("ActivityId"))
        publish_notification(
            self.runtime,
            group,
            "autoscaling:EC2_INSTANCE_LAUNCH",
            {
                "EC2InstanceId": member.id,
                "ActivityId": member.spec.get("ActivityId", ""),
                "StatusCode": "InProgress",
            },
        )

    def _hook_outcome(self, member: Record, now: float) -> str | None:
        hook = member.spec.get("Hook") or {}
        if hook.get("Result"):
            return str(hook["Result"])
        if now >= float(hook.get("Deadline", 0)):
            return str(hook.get("Default", "ABANDON"))
        return None

    def _wait_on_hook(self, group: Record, member: Record, hook: Record, state: str, now: float) -> None:
        token = new_uuid()
        heartbeat = int(hook.spec["HeartbeatTimeout"])
        self._move(
            member,
            LifecycleState=state,
            Hook={
                "Name": hook.spec["LifecycleHookName"],
                "Token": token,
                "Heartbeat": heartbeat,
                "Deadline": now + heartbeat,
                "GlobalDeadline": now + int(hook.spec["GlobalTimeout"]),
                "Default": hook.spec["DefaultResult"],
                "Result": None,
            },
        )
        notify_hook(self.runtime, group, hook, member.id, token)

    def _drained(self, group: Record, member: Record, now: float) -> bool:
        """Deregister from every target group once, then True when no target group still drains it."""
        arns = self._all_target_groups(group)
        if not arns or not member.spec.get("Registered"):
            return True
        if not member.spec.get("Deregistered"):
            for arn in arns:
                target_groups.deregister(self.runtime, group.account, group.region, arn, [member.id])
            self._move(member, Deregistered=True, DeregisteredAt=now)
            return False
        states = self._target_states(group, member.id, arns)
        return not any(s == "draining" for s in states.values())

    def _start_termination(
        self, group: Record, member: Record, now: float, *, reason: str, cause: str | None = None
    ) -> None:
        activity_id = start_activity(
            self.runtime,
            group,
            description=f"Terminating EC2 instance: {member.id}",
            cause=cause or f"At {iso(now)} instance {member.id} was taken out of service.",
            details={
                "Subnet ID": member.spec.get("SubnetId") or "",
                "Availability Zone": member.spec.get("AvailabilityZone") or "",
            },
        )
        finish_activity(
            self.runtime,
            group.account,
            group.region,
            member.spec.get("ActivityId"),
            status="Failed" if reason == "abandon" else "Successful",
            message="Lifecycle action abandoned" if reason == "abandon" else None,
        )
        self._move(member, LifecycleState="Terminating", ActivityId=activity_id, Reason=reason, Hook=None)

    def _advance_terminating(
        self, group: Record, member: Record, instance: Record | None, instance_state: str, now: float
    ) -> None:
        state = member.spec["LifecycleState"]
        if state == "Terminating":
            if not self._drained(group, member, now):
                return
            if not member.spec.get("TerminateHookDone") and member.spec.get("Reason") not in (
                "abandon",
                "delete",
            ):
                hooks = hooks_for(
                    self.runtime,
                    group.account,
                    group.region,
                    group.id,
                    "autoscaling:EC2_INSTANCE_TERMINATING",
                )
                if hooks and instance_state not in GONE:
                    self._wait_on_hook(group, member, hooks[0], "Terminating:Wait", now)
                    return
            member = self._move(member, LifecycleState="Terminating:Proceed") or member
            state = "Terminating:Proceed"
        if state == "Terminating:Wait":
            if self._hook_outcome(member, now) is None and instance_state not in GONE:
                return
            member = (
                self._move(member, LifecycleState="Terminating:Proceed", Hook=None, TerminateHookDone=True)
                or member
            )
            state = "Terminating:Proceed"
        if instance is None or instance_state == "terminated":
            self.store.delete_by_id(MEMBER, member.account, member.region, member.id)
            finish_activity(self.runtime, group.account, group.region, member.spec.get("ActivityId"))
            with self.store.transaction():
                current = self.store.get(GROUP, group.account, group.region, group.id)
                if current is not None:
                    self.store.update_status(
                        GROUP,
                        group.account,
                        group.region,
                        group.id,
                        {**current.status, "LastActivityEnd": now},
                    )
            publish_notification(
                self.runtime,
                group,
                "autoscaling:EC2_INSTANCE_TERMINATE",
                {
                    "EC2InstanceId": member.id,
                    "ActivityId": member.spec.get("ActivityId", ""),
                    "StatusCode": "InProgress",
                },
            )
            return
        if not member.spec.get("TerminateCalled") or instance_state not in ("shutting-down", "terminated"):
            from onebox.services.ec2.instances import terminate_instances

            ctx = internal_context(self.runtime, "ec2", "TerminateInstances", group.account, group.region)
            try:
                terminate_instances(ctx, {"InstanceIds": [member.id]})
            except AwsError as error:
                if error.code != "InvalidInstanceID.NotFound":
                    log.info("autoscaling: terminating %s failed: %s", member.id, error.message)
                    finish_activity(
                        self.runtime,
                        group.account,
                        group.region,
                        member.spec.get("ActivityId"),
                        status="Failed",
                        message=error.message,
                    )
                    return
            if not member.spec.get("TerminateCalled"):
                self._move(member, TerminateCalled=True)
                progress_activity(
                    self.runtime, group.account, group.region, member.spec.get("ActivityId"), 50, "InProgress"
                )

    # -- target groups attached or detached after launch -------------------------------------------

    def _sync_target_groups(self, group: Record) -> None:
        """Register InService members with target groups attached later; deregister every member from
        detached ones and forget those once nothing drains there."""
        attached = list(group.spec.get("TargetGroupARNs") or [])
        detaching = list(group.spec.get("DetachingTargetGroups") or [])
        if not attached and not detaching:
            return
        members = [m for m in self._members(group) if m.spec.get("LifecycleState") == "InService"]
        if not _suspended(group, "AddToLoadBalancer"):
            for arn in attached:
                states = target_groups.states(self.runtime, group.account, group.region, arn)
                missing = [m for m in members if m.id not in states]
                if missing:
                    target_groups.register(
                        self.runtime, group.account, group.region, arn, [m.id for m in missing]
                    )
                    for member in missing:
                        if not member.spec.get("Registered"):
                            self._move(member, Registered=True)
        finished = []
        for arn in detaching:
            states = target_groups.states(self.runtime, group.account, group.region, arn)
            ours = {m.id for m in self._members(group)}
            registered = [i for i, state in states.items() if i in ours and state != "draining"]
            if registered:
                target_groups.deregister(self.runtime, group.account, group.region, arn, registered)
            elif not any(i in ours for i in states):
                finished.append(arn)
        if finished:
            with self.store.transaction():
                current = self.store.get(GROUP, group.account, group.region, group.id)
                if current is not None:
                    left = [a for a in current.spec.get("DetachingTargetGroups") or [] if a not in finished]
                    self.store.update(current, spec={**current.spec, "DetachingTargetGroups": left})

    # -- health --------------------------------------------------------------------------------------

    def _health(self, group: Record, now: float) -> None:
        if _suspended(group, "HealthCheck") and _suspended(group, "ReplaceUnhealthy"):
            return
        grace = int(group.spec.get("HealthCheckGracePeriod") or 0)
        arns = list(group.spec.get("TargetGroupARNs") or [])
        members = self._members(group)
        # AWS replaces ELB-unhealthy instances at most 10 % of desired capacity at a time (one at least):
        # a balancer that fails every check at once must not take the whole group down.
        elb_budget = max(1, int(group.spec["DesiredCapacity"]) // 10) - sum(
            1
            for m in members
            if (m.spec.get("Reason") == "elb-health" and m.spec.get("LifecycleState") in TERMINATING_STATES)
            or m.spec.get("LifecycleState") in PENDING_STATES
        )
        for member in members:
            if member.spec.get("LifecycleState") != "InService":
                continue
            instance = self._instance(group, member.id)
            state = instance.status.get("State") if instance is not None else "terminated"
            cause = None
            in_grace = now < float(member.spec.get("LaunchedAt", 0)) + grace
            if state != "running":
                cause = "an EC2 health check indicating it has been terminated or stopped"
            elif member.spec.get("HealthStatus") == "Unhealthy":
                if not (member.spec.get("RespectGrace") and in_grace):
                    cause = "a user health-check"
            elif (
                group.spec.get("HealthCheckType") == "ELB"
                and arns
                and not in_grace
                and not _suspended(group, "HealthCheck")
                and any(s == "unhealthy" for s in self._target_states(group, member.id, arns).values())
            ):
                cause = "an ELB system health check failure"
                if elb_budget <= 0:
                    continue
                elb_budget -= 1
            if cause is None:
                continue
            if _suspended(group, "ReplaceUnhealthy"):
                if member.spec.get("HealthStatus") != "Unhealthy":
                    self._move(member, HealthStatus="Unhealthy")
                continue
            self._move(member, HealthStatus="Unhealthy")
            text = f"At {iso(now)} an instance was taken out of service in response to {cause}."
            reason = "elb-health" if cause.startswith("an ELB") else "health"
            self._start_termination(group, member, now, reason=reason, cause=text)

    # -- instance refresh ----------------------------------------------------------------------------

    def _refresh_record(self, group: Record) -> Record | None:
        from onebox.services.autoscaling.instance_refresh import active_refresh

        return active_refresh(self.runtime, group.account, group.region, group.id)

    def _refresh_active(self, group: Record) -> bool:
        return self._refresh_record(group) is not None

    def _refresh(self, group: Record, now: float) -> tuple[int, str | None]:
        """Advance the group's instance refresh; returns how many extra instances it may launch now,
        and the AZ to launch them in."""
        record = self._refresh_record(group)
        if record is None:
            return 0, None
        status = dict(record.status)
        prefs = record.spec["Preferences"]
        members = self._members(group)
        active = [m for m in members if m.spec.get("LifecycleState") in ACTIVE_STATES]
        if status.get("Status") == "Cancelling":
            status.update(
                {
                    "Status": "Cancelled",
                    "EndTime": now,
                    "Surge": 0,
                    "StatusReason": "Cancelled due to user request.",
                }
            )
            self.store.update_status(INSTANCE_REFRESH, record.account, record.region, record.id, status)
            return 0, None
        if _suspended(group, "InstanceRefresh"):
            return int(status.get("Surge", 0)), status.get("SurgeZone")
        source = self._source(group)
        if status.get("Status") == "Pending":
            if prefs.get("SkipMatching"):
                to_replace = [m.id for m in active if not self._matches_source(m, source)]
            else:
                to_replace = [m.id for m in active]
            if prefs.get("ScaleInProtectedInstances") == "Ignore":
                to_replace = [
                    i
                    for i in to_replace
                    if not next(m for m in active if m.id == i).spec.get("ProtectedFromScaleIn")
                ]
            status.update({"Status": "InProgress", "StartTime": now, "ToReplace": to_replace, "Surge": 0})
        original = list(status.get("ToReplace") or [])
        by_id = {m.id: m for m in members}
        remaining = [
            i for i in original if i in by_id and by_id[i].spec.get("LifecycleState") in ACTIVE_STATES
        ]
        outstanding = [i for i in original if i in by_id]  # still in the group, terminating or not
        warmup = prefs.get("InstanceWarmup")
        if warmup is None:
            warmup = group.spec.get("DefaultInstanceWarmup")
        if warmup is None:
            warmup = group.spec.get("HealthCheckGracePeriod") or 0
        arns = list(group.spec.get("TargetGroupARNs") or [])

        def healthy(member: Record) -> bool:
            if (
                member.spec.get("LifecycleState") != "InService"
                or member.spec.get("HealthStatus") == "Unhealthy"
            ):
                return False
            if member.id not in original and now < float(member.spec.get("InServiceAt") or now) + float(
                warmup
            ):
                return False
            return not arns or all(
                s == "healthy" for s in self._target_states(group, member.id, arns).values()
            )

        healthy_count = sum(1 for m in active if healthy(m))
        in_flight = [m for m in active if m.id not in original and not healthy(m)]
        desired = int(group.spec["DesiredCapacity"])
        min_healthy = math.ceil(desired * int(prefs.get("MinHealthyPercentage", 90)) / 100)
        surge = int(status.get("Surge", 0))
        if not remaining:
            surge = 0
            if not in_flight and not outstanding:
                status.update(
                    {
                        "Status": "Successful",
                        "EndTime": now,
                        "PercentageComplete": 100,
                        "InstancesToUpdate": 0,
                    }
                )
        elif not in_flight:
            # AZ balance first (as termination does), then oldest; a surge launches into the AZ of the
            # next instance to go, so replacing never unbalances the group.
            per_zone = Counter(m.spec.get("AvailabilityZone", "") for m in active)

            def order(instance_id: str) -> tuple[int, float]:
                member = by_id[instance_id]
                return (
                    -per_zone[member.spec.get("AvailabilityZone", "")],
                    float(member.spec.get("LaunchedAt", 0)),
                )

            ordered = sorted(remaining, key=order)
            status["SurgeZone"] = by_id[ordered[0]].spec.get("AvailabilityZone")
            can_remove = healthy_count - min_healthy
            if can_remove >= 1:
                victims = ordered[:can_remove]
                for instance_id in victims:
                    text = (
                        f"At {iso(now)} an instance was taken out of service in response to an instance refresh.  "
                        f"At {iso(now)} instance {instance_id} was selected for termination."
                    )
                    self._start_termination(group, by_id[instance_id], now, reason="refresh", cause=text)
                surge = 0
            elif int(group.spec["MaxSize"]) + max(1, math.ceil(int(group.spec["MaxSize"]) * 0.1)) > len(
                active
            ):
                surge = 1  # launch a replacement before taking one out of service
        total = max(len(original), 1)
        done = len(original) - len(outstanding)
        if status.get("Status") == "InProgress":
            status["PercentageComplete"] = int(done * 100 / total) if original else 100
            status["InstancesToUpdate"] = len(outstanding)
        status["Surge"] = surge
        if status != record.status:
            self.store.update_status(INSTANCE_REFRESH, record.account, record.region, record.id, status)
        if status.get("Status") != "InProgress":
            return 0, None
        return surge, status.get("SurgeZone")

    # -- scaling -------------------------------------------------------------------------------------

    def _scale(self, group: Record, now: float, surge: int, surge_zone: str | None = None) -> None:
        group = self.store.get(GROUP, group.account, group.region, group.id) or group
        members = self._members(group)
        active = [m for m in members if m.spec.get("LifecycleState") in ACTIVE_STATES]
        desired = int(group.spec["DesiredCapacity"]) + surge
        zones = list(group.spec.get("AvailabilityZones") or [])
        counts: dict[str, int] = {}
        for member in active:
            counts[member.spec.get("AvailabilityZone", "")] = (
                counts.get(member.spec.get("AvailabilityZone", ""), 0) + 1
            )
        if len(active) < desired:
            if _suspended(group, "Launch"):
                return
            if now < float(group.status.get("LaunchRetryAt", 0)):
                return
            for index in range(desired - len(active)):
                zone = termination.zone_for_launch(zones, counts)
                if surge and index == 0 and surge_zone in zones:
                    zone = surge_zone
                if not self._launch(group, zone, now, len(active) + index, len(active) + index + 1):
                    break
                counts[zone] = counts.get(zone, 0) + 1
            return
        if len(active) > desired:
            if _suspended(group, "Terminate"):
                return
            if any(
                m.spec.get("Rebalance") and m.spec.get("LifecycleState") in PENDING_STATES for m in active
            ):
                return  # rebalancing launches before it terminates
            candidates = [m for m in active if not m.spec.get("ProtectedFromScaleIn")]
            source = self._source(group)
            chosen = termination.choose(
                [
                    termination.Candidate(
                        instance_id=m.id,
                        zone=m.spec.get("AvailabilityZone", ""),
                        launched_at=float(m.spec.get("LaunchedAt", 0)),
                        uses_launch_configuration=bool(m.spec.get("LaunchConfigurationName")),
                        outdated=not self._matches_source(m, source),
                        source_version=int((m.spec.get("LaunchTemplate") or {}).get("Version") or 0)
                        if str((m.spec.get("LaunchTemplate") or {}).get("Version") or "0").isdigit()
                        else 0,
                    )
                    for m in candidates
                ],
                len(active) - desired,
                list(group.spec.get("TerminationPolicies") or ["Default"]),
                now,
            )
            by_id = {m.id: m for m in active}
            size = len(active)
            for instance_id in chosen:
                text = (
                    f"{self._desired_cause(group, growing=False)}At {iso(now)} an instance was taken out of service in response to a "
                    f"difference between desired and actual capacity, shrinking the capacity from {size} to {size - 1}.  "
                    f"At {iso(now)} instance {instance_id} was selected for termination."
                )
                self._start_termination(group, by_id[instance_id], now, reason="scale-in", cause=text)
                size -= 1
            return
        if (
            surge == 0
            and active
            and all(m.spec.get("LifecycleState") == "InService" for m in active)
            and termination.imbalanced(zones, counts)
            and not _suspended(group, "AZRebalance")
            and not _suspended(group, "Launch")
            and not self._refresh_active(group)
        ):
            zone = termination.zone_for_launch(zones, counts)
            self._launch(group, zone, now, len(active), len(active) + 1, rebalance=True)

    def _desired_cause(self, group: Record, *, growing: bool) -> str:
        """The cause of the desired-capacity change an activity answers: quoted while that change is
        the latest and points the same way (a launch answers an increase, a termination a decrease)."""
        cause = str(group.spec.get("DesiredCause") or "")
        found = _CHANGE.search(cause)
        if not found:
            return ""
        old, new = int(found.group(1)), int(found.group(2))
        if (new > old) != growing or new == old:
            return ""
        if float(group.spec.get("DesiredChangedAt") or 0) < float(group.status.get("LastActivityEnd") or 0):
            return ""
        return cause + "  "

    def _launch_params(self, group: Record, zone: str) -> dict[str, Any]:
        params: dict[str, Any] = {"MinCount": 1, "MaxCount": 1}
        template = group.spec.get("LaunchTemplate")
        if template:
            params["LaunchTemplate"] = {
                "LaunchTemplateId": template["LaunchTemplateId"],
                "Version": template.get("Version") or "$Default",
            }
        else:
            lc = self.store.get(
                "autoscaling:launch-configuration",
                group.account,
                group.region,
                group.spec.get("LaunchConfigurationName") or "",
            )
            if lc is None:
                raise AwsError(
                    "ValidationError",
                    f"Launch configuration {group.spec.get('LaunchConfigurationName')} not found",
                )
            params.update(
                {
                    "ImageId": lc.spec["ImageId"],
                    "InstanceType": lc.spec["InstanceType"],
                    "Monitoring": {
                        "Enabled": bool((lc.spec.get("InstanceMonitoring") or {}).get("Enabled", True))
                    },
                }
            )
            if lc.spec.get("KeyName"):
                params["KeyName"] = lc.spec["KeyName"]
            if lc.spec.get("UserData"):
                params["UserData"] = lc.spec["UserData"]
            groups = lc.spec.get("SecurityGroups") or []
            if groups and all(g.startswith("sg-") for g in groups):
                params["SecurityGroupIds"] = groups
            elif groups:
                params["SecurityGroups"] = groups
        subnets = [s for s in group.spec.get("Subnets") or [] if self._subnet_zone(group, s) == zone]
        if subnets:
            params["SubnetId"] = secrets.choice(subnets)
        else:
            params["Placement"] = {"AvailabilityZone": zone}
        tags = [
            {"Key": t["Key"], "Value": t["Value"]}
            for t in group.spec.get("Tags") or []
            if t.get("PropagateAtLaunch")
        ]
        if tags:
            params["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
        return params

    def _subnet_zone(self, group: Record, subnet_id: str) -> str | None:
        record = self.store.get("ec2:subnet", group.account, group.region, subnet_id)
        return record.spec.get("AvailabilityZone") if record is not None else None

    def _launch(
        self, group: Record, zone: str, now: float, before: int, after: int, *, rebalance: bool = False
    ) -> bool:
        from onebox.services.ec2.instances import run_instances

        if rebalance:
            cause = (
                f"At {iso(now)} an instance was launched to rebalance the Availability Zones of the group, "
                f"increasing the capacity from {before} to {after}."
            )
        else:
            cause = (
                f"{self._desired_cause(group, growing=True)}At {iso(now)} an instance was started in response to a difference "
                f"between desired and actual capacity, increasing the capacity from {before} to {after}."
            )
        ctx = internal_context(self.runtime, "ec2", "RunInstances", group.account, group.region)
        try:
            params = self._launch_params(group, zone)
            with self.store.transaction():
                reservation = run_instances(ctx, params)
                instance_view = reservation["Instances"][0]
                instance_id = instance_view["InstanceId"]
                instance = self._instance(group, instance_id)
                assert instance is not None
                self.store.update(instance, tags={**instance.tags, GROUP_TAG: group.id})
                activity_id = start_activity(
                    self.runtime,
                    group,
                    description=f"Launching a new EC2 instance: {instance_id}",
                    cause=cause,
                    progress=20,
                    status="PreInService",
                    details={
                        "Subnet ID": instance.spec.get("SubnetId") or "",
                        "Availability Zone": instance.spec["AvailabilityZone"],
                    },
                )
                launched_from = instance.spec.get("LaunchTemplate")
                spec: dict[str, Any] = {
                    "Group": group.id,
                    "LifecycleState": "Pending",
                    "HealthStatus": "Healthy",
                    "InstanceType": instance.spec["InstanceType"],
                    "AvailabilityZone": instance.spec["AvailabilityZone"],
                    "SubnetId": instance.spec.get("SubnetId"),
                    "LaunchedAt": now,
                    "ProtectedFromScaleIn": bool(group.spec.get("NewInstancesProtectedFromScaleIn")),
                    "ActivityId": activity_id,
                    "Rebalance": rebalance,
                    "ImageId": instance.spec.get("ImageId"),
                }
                if launched_from:
                    spec["LaunchTemplate"] = {
                        "LaunchTemplateId": launched_from["LaunchTemplateId"],
                        "LaunchTemplateName": launched_from["LaunchTemplateName"],
                        "Version": str(launched_from["Version"]),
                    }
                else:
                    spec["LaunchConfigurationName"] = group.spec.get("LaunchConfigurationName")
                self.store.create(
                    MEMBER, group.account, group.region, instance_id, arn=instance.arn, spec=spec
                )
        except AwsError as error:
            log.info("autoscaling: launch for %s failed: %s", group.id, error.message)
            start_activity(
                self.runtime,
                group,
                description=f"Launching a new EC2 instance.  Status Reason: {error.message}. Launching EC2 instance failed.",
                cause=cause,
                status="Failed",
            )
            with self.store.transaction():
                current = self.store.get(GROUP, group.account, group.region, group.id)
                if current is not None:
                    self.store.update_status(
                        GROUP,
                        group.account,
                        group.region,
                        group.id,
                        {**current.status, "LaunchRetryAt": now + LAUNCH_RETRY},
                    )
            publish_notification(
                self.runtime,
                group,
                "autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
                {"StatusCode": "Failed", "StatusMessage": error.message},
            )
            return False
        return True

    # -- settling, metrics, deletion -----------------------------------------------------------------

    def _settle(self, group: Record, now: float) -> bool:
        members = self._members(group)
        busy = any(
            m.spec.get("LifecycleState")
            in (*PENDING_STATES, *TERMINATING_STATES, "Detaching", "EnteringStandby")
            for m in members
        )
        with self.store.transaction():
            current = self.store.get(GROUP, group.account, group.region, group.id)
            if current is None:
                return busy
            status = dict(current.status)
            if status.get("Busy", False) and not busy:
                status["LastActivityEnd"] = now
            status["Busy"] = busy
            if status != current.status:
                self.store.update_status(GROUP, group.account, group.region, group.id, status)
        return busy

    def _metrics(self, group: Record, now: float) -> None:
        enabled = list(group.spec.get("EnabledMetrics") or [])
        if not enabled:
            return
        current = self.store.get(GROUP, group.account, group.region, group.id)
        if current is None or now - float(current.status.get("MetricsAt", 0)) < METRICS_PERIOD:
            return
        states = [m.spec.get("LifecycleState") for m in self._members(group)]
        counts = {
            "GroupMinSize": group.spec["MinSize"],
            "GroupMaxSize": group.spec["MaxSize"],
            "GroupDesiredCapacity": group.spec["DesiredCapacity"],
            "GroupInServiceInstances": sum(1 for s in states if s == "InService"),
            "GroupPendingInstances": sum(1 for s in states if s in PENDING_STATES),
            "GroupStandbyInstances": sum(1 for s in states if s in ("Standby", "EnteringStandby")),
            "GroupTerminatingInstances": sum(1 for s in states if s in TERMINATING_STATES),
            "GroupTotalInstances": len(states),
        }
        for name in list(counts):
            if name.endswith("Instances"):
                counts[name.replace("Instances", "Capacity")] = counts[name]
        data = [
            {
                "MetricName": name,
                "Dimensions": [{"Name": "AutoScalingGroupName", "Value": group.id}],
                "Value": float(value),
                "Unit": "None",
            }
            for name, value in counts.items()
            if name in enabled
        ]
        try:
            from onebox.services.cloudwatch.ingest import put_metric_data

            if data:
                put_metric_data(self.runtime, group.account, group.region, "AWS/AutoScaling", data)
        except ImportError:
            return
        with self.store.transaction():
            current = self.store.get(GROUP, group.account, group.region, group.id)
            if current is not None:
                status = {**current.status, "MetricsAt": now}
                self.store.update_status(GROUP, group.account, group.region, group.id, status)

    def _delete(self, group: Record, now: float) -> bool:
        """Terminate everything for a deleted group; True once the group record is gone."""
        members = self._members(group)
        for member in members:
            if member.spec.get("LifecycleState") not in TERMINATING_STATES:
                text = f"At {iso(now)} an instance was taken out of service in response to a user request to delete the group."
                self._start_termination(group, member, now, reason="delete", cause=text)
        if self._members(group):
            return False
        for kind in (LIFECYCLE_HOOK, INSTANCE_REFRESH):
            for record in self.store.list(kind, group.account, group.region):
                if record.spec.get("Group") == group.id:
                    self.store.delete_by_id(kind, group.account, group.region, record.id)
        self.store.delete_by_id(GROUP, group.account, group.region, group.id)
        # Activities stay for DescribeScalingActivities(IncludeDeletedGroups=True).
        _ = ACTIVITY
        return True


async def group_changes(runtime: Runtime) -> AsyncIterator[Key]:
    """Groups to reconcile: their own spec changes, their members', and their instances' EC2 state."""
    subscription = runtime.store.changes.subscribe(
        [GROUP, MEMBER, EC2_INSTANCE, INSTANCE_REFRESH, SCHEDULED_ACTION]
    )
    async for change in subscription:
        if change.kind == GROUP:
            if not change.status_only:
                yield (change.account, change.region, change.id)
            continue
        if change.kind == EC2_INSTANCE:
            member = runtime.store.get(MEMBER, change.account, change.region, change.id)
            if member is not None:
                yield (change.account, change.region, member.spec["Group"])
            continue
        if change.deleted:
            continue
        record = runtime.store.get(change.kind, change.account, change.region, change.id)
        if record is not None and record.spec.get("Group"):
            yield (change.account, change.region, record.spec["Group"])
