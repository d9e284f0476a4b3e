"""Lifecycle expiration, driven by a manual clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from onebox.clock import ManualClock
from onebox.services.s3.common import storage
from onebox.services.s3.lifecycle import DAY, due, sweep_bucket
from onebox.services.s3.storage import NULL_VERSION, Upload, Version
from onebox.store import Record

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _bucket(rules: list[dict], versioning: str = "") -> Record:
    now = datetime.now(UTC)
    spec = {"Id": "lifecycle-bucket", "Region": "us-east-1", "Lifecycle": rules, "Versioning": versioning}
    return Record("s3:bucket", "000000000000", "", "b", "arn:aws:s3:::b", "b", spec, {}, {}, 1, now, now)


@pytest.fixture
def runtime(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(config=SimpleNamespace(state_dir=tmp_path), clock=ManualClock(START))


def _put(
    runtime: SimpleNamespace, key: str, versioning: str = "", version_id: str = NULL_VERSION, **tags: str
) -> None:
    version = Version(
        "lifecycle-bucket",
        key,
        version_id,
        True,
        False,
        None,
        1,
        '"e"',
        runtime.clock.time(),
        {},
        tags,
        data=b"x",
    )
    storage(runtime).put(version, versioning)


def _keys(runtime: SimpleNamespace) -> list[str]:
    return [v.key for v in storage(runtime).list_latest("lifecycle-bucket", "", "", 100)]


def test_due_rounds_up_to_midnight_utc() -> None:
    assert due(START, 1) == (START // DAY + 2) * DAY
    assert due(3 * DAY, 1) == 4 * DAY


def test_expiration_days_with_prefix_and_tag_filters(runtime: SimpleNamespace) -> None:
    rules = [
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 1}},
        {
            "ID": "tmp",
            "Status": "Enabled",
            "Filter": {"Tag": {"Key": "tmp", "Value": "yes"}},
            "Expiration": {"Days": 3},
        },
        {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}},
    ]
    bucket = _bucket(rules)
    _put(runtime, "logs/a")
    _put(runtime, "keep")
    _put(runtime, "scratch", tmp="yes")
    runtime.clock.advance(DAY)  # not yet past the next midnight after a full day
    assert sweep_bucket(runtime, bucket) == 0
    runtime.clock.advance(DAY)
    assert sweep_bucket(runtime, bucket) == 1
    assert _keys(runtime) == ["keep", "scratch"]
    runtime.clock.advance(2 * DAY)
    sweep_bucket(runtime, bucket)
    assert _keys(runtime) == ["keep"]


def test_versioned_expiration_leaves_a_marker_then_noncurrent_expiry_and_marker_cleanup(
    runtime: SimpleNamespace,
) -> None:
    rules = [
        {
            "ID": "all",
            "Status": "Enabled",
            "Filter": {},
            "Expiration": {"Days": 1},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
        {
            "ID": "markers",
            "Status": "Enabled",
            "Filter": {},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
    ]
    bucket = _bucket(rules, "Enabled")
    _put(runtime, "k", "Enabled", "v1")
    runtime.clock.advance(2 * DAY)
    sweep_bucket(runtime, bucket)  # current expires: a delete marker on top of v1
    versions = storage(runtime).list_versions("lifecycle-bucket", "", None, "", 10)
    assert [(v.is_marker, v.is_latest) for v in versions] == [(True, True), (False, False)]
    runtime.clock.advance(2 * DAY)
    sweep_bucket(runtime, bucket)  # v1 noncurrent for a day: gone; the lone marker: removed
    assert storage(runtime).list_versions("lifecycle-bucket", "", None, "", 10) == []


def test_expiration_date_and_abort_incomplete_uploads(runtime: SimpleNamespace) -> None:
    midnight = (START // DAY + 1) * DAY
    rules = [
        {"ID": "date", "Status": "Enabled", "Prefix": "old/", "Expiration": {"Date": midnight}},
        {
            "ID": "mpu",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
    ]
    bucket = _bucket(rules)
    _put(runtime, "old/x")
    storage(runtime).create_upload(Upload("upload-1", "lifecycle-bucket", "big", runtime.clock.time(), {}))
    assert sweep_bucket(runtime, bucket) == 0
    runtime.clock.advance(midnight - START)
    sweep_bucket(runtime, bucket)
    assert _keys(runtime) == []
    assert storage(runtime).get_upload("upload-1") is not None
    runtime.clock.advance(DAY)
    sweep_bucket(runtime, bucket)
    assert storage(runtime).get_upload("upload-1") is None
