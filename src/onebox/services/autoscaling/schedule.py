"""When a scheduled action runs: StartTime, then a 5-field Unix cron `Recurrence` (UTC, or an IANA
TimeZone with its daylight-saving changes), until EndTime. Pure functions over epoch seconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from onebox.aws.errors import AwsError

_MONTHS = {name: i for i, name in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_DAYS = {name: i for i, name in enumerate("sun mon tue wed thu fri sat".split())}
_MAX_DAYS = 366 * 5  # far enough to find "29 Feb on a Monday"-style rare dates


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day-of-month field was *
    any_weekday: bool  # day-of-week field was *


def _invalid(recurrence: str) -> AwsError:
    return AwsError("ValidationError", f"Given recurrence string: {recurrence} is invalid")


def _field(text: str, low: int, high: int, names: dict[str, int], recurrence: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) < 1:
                raise _invalid(recurrence)
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _value(first, names, recurrence), _value(last, names, recurrence)
        else:
            start = _value(part, names, recurrence)
            end = high if step > 1 else start
        if start < low or end > high or start > end:
            raise _invalid(recurrence)
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int], recurrence: str) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    if not text.isdigit():
        raise _invalid(recurrence)
    return int(text)


def parse_cron(recurrence: str) -> Cron:
    fields = recurrence.split()
    if len(fields) != 5:
        raise _invalid(recurrence)
    minute, hour, day, month, weekday = fields
    weekdays = _field(weekday, 0, 7, _DAYS, recurrence)
    return Cron(
        minutes=_field(minute, 0, 59, {}, recurrence),
        hours=_field(hour, 0, 23, {}, recurrence),
        days=_field(day, 1, 31, {}, recurrence),
        months=_field(month, 1, 12, _MONTHS, recurrence),
        weekdays=frozenset(d % 7 for d in weekdays),  # 7 is Sunday too
        any_day=day in ("*", "?"),
        any_weekday=weekday in ("*", "?"),
    )


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise AwsError("ValidationError", f"Given time zone: {name} is invalid") from None


def _day_matches(cron: Cron, day: datetime) -> bool:
    if day.month not in cron.months:
        return False
    weekday = (day.weekday() + 1) % 7
    in_month = day.day in cron.days
    in_week = weekday in cron.weekdays
    if cron.any_day and cron.any_weekday:
        return True
    if cron.any_day:
        return in_week
    if cron.any_weekday:
        return in_month
    return in_month or in_week  # Unix cron: either field restricts, either may match


def next_cron_time(recurrence: str, after: float, time_zone: str | None = None) -> float | None:
    """The first time strictly after `after` (epoch seconds) that the recurrence names."""
    cron = parse_cron(recurrence)
    tz = zone(time_zone)
    local = datetime.fromtimestamp(after, UTC).astimezone(tz)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    for _ in range(_MAX_DAYS):
        if _day_matches(cron, day):
            for hour in sorted(cron.hours):
                for minute in sorted(cron.minutes):
                    moment = day.replace(hour=hour, minute=minute).replace(tzinfo=tz)
                    # A wall time skipped by a DST change does not exist: it maps past the gap.
                    epoch = moment.astimezone(UTC).timestamp()
                    if epoch > after:
                        return epoch
        day += timedelta(days=1)
    return None


def next_run(
    *,
    after: float,
    start_time: float | None,
    end_time: float | None,
    recurrence: str | None,
    time_zone: str | None,
    last_run: float | None,
) -> float | None:
    """When the action runs next, given its last run (None: never ran); None once it is done.

    With a StartTime the first run is at StartTime, then on the recurrence (AWS's PutScheduledUpdate-
    GroupAction); without one, the first recurrence after `after` (the action's creation)."""
    if last_run is None and start_time is not None:
        moment: float | None = start_time
    elif recurrence:
        moment = next_cron_time(recurrence, last_run if last_run is not None else after, time_zone)
    else:
        return None
    if moment is None or (end_time is not None and moment > end_time):
        return None
    return moment
