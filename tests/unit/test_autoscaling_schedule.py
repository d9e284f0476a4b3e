"""Scheduled actions' timing: 5-field cron in UTC or an IANA time zone (DST honoured), StartTime first,
EndTime as the end; and the group controller running a due action on a ManualClock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from onebox.aws.errors import AwsError
from onebox.services.autoscaling.schedule import next_cron_time, next_run, parse_cron


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_weekly_recurrence_in_utc() -> None:
    # "Weekend Traffic": Saturdays at 08:00 UTC. 2026-11-27 is a Friday.
    after = ts("2026-11-27T10:00:00")
    assert next_cron_time("0 8 * * 6", after) == ts("2026-11-28T08:00:00")
    assert next_cron_time("0 8 * * SAT", ts("2026-11-28T08:00:00")) == ts("2026-12-05T08:00:00")
    assert next_cron_time("*/15 * * * *", ts("2026-11-27T10:07:00")) == ts("2026-11-27T10:15:00")
    assert next_cron_time("30 9 1 jan *", after) == ts("2027-01-01T09:30:00")
    assert next_cron_time("0 0 29 2 *", after) == ts("2028-02-29T00:00:00")


def test_time_zone_and_daylight_saving() -> None:
    # 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
    assert next_cron_time("0 9 * * *", ts("2026-01-10T00:00:00"), "America/New_York") == ts(
        "2026-01-10T14:00:00"
    )
    assert next_cron_time("0 9 * * *", ts("2026-07-10T00:00:00"), "America/New_York") == ts(
        "2026-07-10T13:00:00"
    )


def test_bad_recurrence_and_zone_are_validation_errors() -> None:
    for bad in ("0 8 * *", "61 * * * *", "0 25 * * *", "x * * * *"):
        with pytest.raises(AwsError) as error:
            parse_cron(bad)
        assert error.value.code == "ValidationError"
    with pytest.raises(AwsError):
        next_cron_time("0 8 * * *", 0, "Mars/Olympus")


def test_start_time_first_then_recurrence_until_end_time() -> None:
    created = ts("2026-11-27T10:00:00")
    start = ts("2026-11-27T12:00:00")
    end = ts("2026-12-06T00:00:00")
    first = next_run(
        after=created, start_time=start, end_time=end, recurrence="0 8 * * 6", time_zone=None, last_run=None
    )
    assert first == start
    second = next_run(
        after=start, start_time=start, end_time=end, recurrence="0 8 * * 6", time_zone=None, last_run=start
    )
    assert second == ts("2026-11-28T08:00:00")
    third = next_run(
        after=second, start_time=start, end_time=end, recurrence="0 8 * * 6", time_zone=None, last_run=second
    )
    assert third == ts("2026-12-05T08:00:00")
    assert (
        next_run(
            after=third,
            start_time=start,
            end_time=end,
            recurrence="0 8 * * 6",
            time_zone=None,
            last_run=third,
        )
        is None
    )
    # One-off: runs once at its time.
    assert (
        next_run(
            after=created, start_time=start, end_time=None, recurrence=None, time_zone=None, last_run=None
        )
        == start
    )
    assert (
        next_run(
            after=start, start_time=start, end_time=None, recurrence=None, time_zone=None, last_run=start
        )
        is None
    )


def test_the_group_controller_runs_a_due_action_on_the_clock() -> None:
    from types import SimpleNamespace

    from onebox.clock import ManualClock
    from onebox.controllers import RequeueAfter
    from onebox.services.autoscaling.common import GROUP, SCHEDULED_ACTION
    from onebox.services.autoscaling.controller import GroupController
    from onebox.store import Store

    clock = ManualClock(ts("2026-11-27T10:00:00"))
    store = Store.memory(clock)
    runtime = SimpleNamespace(clock=clock, store=store)
    account, region = "000000000000", "us-east-1"
    store.create(
        GROUP,
        account,
        region,
        "web",
        arn="arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:x:autoScalingGroupName/web",
        spec={
            "MinSize": 1,
            "MaxSize": 4,
            "DesiredCapacity": 1,
            "DefaultCooldown": 300,
            "AvailabilityZones": ["us-east-1a"],
            "Subnets": [],
            "SuspendedProcesses": [["Launch", clock.time()], ["Terminate", clock.time()]],
        },
    )
    due = ts("2026-11-28T08:00:00")
    store.create(
        SCHEDULED_ACTION,
        account,
        region,
        "web/weekend",
        arn="arn",
        spec={
            "Group": "web",
            "ScheduledActionName": "weekend",
            "Recurrence": "0 8 * * 6",
            "MinSize": 2,
            "MaxSize": 10,
            "DesiredCapacity": 6,
        },
        status={"NextRun": due},
    )
    controller = GroupController(runtime)  # type: ignore[arg-type]

    def reconcile() -> float:
        with pytest.raises(RequeueAfter) as requeue:
            asyncio.run(controller.reconcile((account, region, "web")))
        return requeue.value.seconds

    assert reconcile() == pytest.approx(due - clock.time())  # it wakes when the action is due
    assert store.get(GROUP, account, region, "web").spec["DesiredCapacity"] == 1
    clock.advance(due - clock.time())
    reconcile()
    spec = store.get(GROUP, account, region, "web").spec
    assert (spec["MinSize"], spec["MaxSize"], spec["DesiredCapacity"]) == (2, 10, 6)
    assert (
        "a scheduled action update of AutoScalingGroup constraints to min: 2, max: 10, desired: 6"
        in spec["DesiredCause"]
    )
    assert store.get(SCHEDULED_ACTION, account, region, "web/weekend").status["NextRun"] == ts(
        "2026-12-05T08:00:00"
    )
