"""S3 notification configuration rules: event matching, key filters, overlaps, key encoding."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from onebox.aws.errors import AwsError
from onebox.clock import ManualClock
from onebox.services.s3 import lifecycle, notifications
from onebox.services.s3.common import storage
from onebox.services.s3.lifecycle import DAY
from onebox.services.s3.storage import Version
from onebox.store import Record


def _config(events: list[str], prefix: str | None = None, suffix: str | None = None) -> dict[str, Any]:
    rules = []
    if prefix is not None:
        rules.append({"Name": "prefix", "Value": prefix})
    if suffix is not None:
        rules.append({"Name": "suffix", "Value": suffix})
    item: dict[str, Any] = {"TopicArn": "arn:aws:sns:us-east-1:000000000000:t", "Events": events}
    if rules:
        item["Filter"] = {"Key": {"FilterRules": rules}}
    return notifications.normalized_topic_configuration(item)


def _bucket(configurations: list[dict[str, Any]]) -> Record:
    from datetime import UTC, datetime

    moment = datetime.now(UTC)
    return Record(
        kind="s3:bucket",
        account="000000000000",
        region="",
        id="b",
        arn="arn:aws:s3:::b",
        name="b",
        spec={"Region": "us-east-1", notifications.SPEC_KEY: configurations},
        status={},
        tags={},
        version=1,
        created_at=moment,
        updated_at=moment,
    )


def test_normalized_configuration_gets_an_id_and_aws_rule_names() -> None:
    config = _config(["s3:ObjectCreated:*"], prefix="in/", suffix=".jpg")
    assert config["Id"]
    assert config["Filter"]["Key"]["FilterRules"] == [
        {"Name": "Prefix", "Value": "in/"},
        {"Name": "Suffix", "Value": ".jpg"},
    ]
    assert notifications.key_filter(config) == ("in/", ".jpg")


def test_unknown_event_and_repeated_rules_are_invalid_arguments() -> None:
    with pytest.raises(AwsError) as error:
        _config(["s3:ObjectCreated:Whatever"])
    assert error.value.code == "InvalidArgument"
    with pytest.raises(AwsError) as error:
        notifications.normalized_topic_configuration(
            {
                "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "a"}] * 2}},
            }
        )
    assert error.value.message == "Cannot specify more than one prefix rule in a filter."


def test_matching_by_event_wildcard_prefix_and_suffix() -> None:
    bucket = _bucket(
        [
            _config(["s3:ObjectCreated:*"], prefix="in/"),
            _config(["s3:ObjectRemoved:DeleteMarkerCreated"], suffix=".jpg"),
        ]
    )
    assert len(notifications.matching_configurations(bucket, "ObjectCreated:Put", "in/a.txt")) == 1
    assert len(notifications.matching_configurations(bucket, "ObjectCreated:Copy", "in/a.txt")) == 1
    assert notifications.matching_configurations(bucket, "ObjectCreated:Put", "out/a.txt") == []
    assert notifications.matching_configurations(bucket, "ObjectRemoved:Delete", "in/a.jpg") == []
    assert (
        len(notifications.matching_configurations(bucket, "ObjectRemoved:DeleteMarkerCreated", "x.jpg")) == 1
    )


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ((["s3:ObjectCreated:*"], None, None), (["s3:ObjectCreated:Put"], None, ".jpg"), True),
        ((["s3:ObjectCreated:*"], "a/", None), (["s3:ObjectCreated:*"], "b/", None), False),
        ((["s3:ObjectCreated:*"], "a/", None), (["s3:ObjectCreated:*"], "a/b/", None), True),
        ((["s3:ObjectCreated:*"], None, ".jpg"), (["s3:ObjectCreated:*"], None, ".png"), False),
        ((["s3:ObjectCreated:Put"], None, None), (["s3:ObjectRemoved:*"], None, None), False),
        ((["s3:ObjectRemoved:*"], None, None), (["s3:ObjectRemoved:Delete"], "x", ".y"), True),
    ],
)
def test_overlapping_configurations(first: tuple, second: tuple, overlap: bool) -> None:
    configurations = [_config(*first), _config(*second)]
    if overlap:
        with pytest.raises(AwsError) as error:
            notifications.check_overlaps(configurations)
        assert error.value.code == "InvalidArgument"
    else:
        notifications.check_overlaps(configurations)


def test_keys_are_form_url_encoded_as_in_aws_events() -> None:
    assert notifications.encoded_key("photos/my photo.jpg") == "photos/my+photo.jpg"
    assert notifications.encoded_key("a=b&c+d") == "a%3Db%26c%2Bd"
    assert notifications.encoded_key("é.txt") == "%C3%A9.txt"


def test_lifecycle_expirations_become_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start = 1_800_000_000.0
    runtime = SimpleNamespace(config=SimpleNamespace(state_dir=tmp_path), clock=ManualClock(start))
    rules = [{"ID": "all", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}}]
    bucket = _bucket([_config(["s3:LifecycleExpiration:*"], prefix="logs/")])
    bucket.spec.update({"Id": "events-bucket", "Lifecycle": rules, "Versioning": "Enabled"})
    for key in ("logs/a b", "other"):
        version = Version("events-bucket", key, "v1", True, False, None, 1, '"e"', start, {}, {}, data=b"x")
        storage(runtime).put(version, "Enabled")
    runtime.clock.advance(3 * DAY)
    events: list[lifecycle.Expired] = []
    assert lifecycle.sweep_bucket(runtime, bucket, events) == 2
    assert [(event.name, event.key) for event in events] == [
        ("LifecycleExpiration:DeleteMarkerCreated", "logs/a b"),
        ("LifecycleExpiration:DeleteMarkerCreated", "other"),
    ]
    published: list[tuple[str, str]] = []
    monkeypatch.setattr(notifications, "_publish", lambda _, arn, message: published.append((arn, message)))
    for event in events:
        notifications.notify_from(
            runtime, bucket, event.name, event.key, notifications.S3_ORIGIN, version_id=event.version_id
        )
    assert len(published) == 1  # "other" is outside the prefix
    record = json.loads(published[0][1])["Records"][0]
    assert record["eventName"] == "LifecycleExpiration:DeleteMarkerCreated"
    assert record["userIdentity"] == {"principalId": "s3.amazonaws.com"}
    assert record["s3"]["object"] == {
        "key": "logs/a+b",
        "versionId": events[0].version_id,
        "sequencer": record["s3"]["object"]["sequencer"],
    }
