"""S3 event notifications to SNS against a live daemon: boto3 puts the configuration, a local HTTP
subscriber (confirmed through its SubscribeURL) receives the s3:TestEvent and then exactly the
signed event messages whose key matches the filter."""

from __future__ import annotations

import json
import queue
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_sns_live import Subscriber, verify


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    server = Subscriber()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _error(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = error.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def _confirmed_topic(onebox, subscriber: Subscriber) -> str:
    sns = onebox.client("sns")
    topic = sns.create_topic(Name=_name("s3-events"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
    headers, confirmation = subscriber.next()
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    with urllib.request.urlopen(confirmation["SubscribeURL"], timeout=10) as response:
        assert b"<SubscriptionArn>" in response.read()
    return topic


def _notification(subscriber: Subscriber) -> dict[str, Any]:
    headers, note = subscriber.next()
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert note["Subject"] == "Amazon S3 Notification"
    assert verify(note)
    return note


def test_events_reach_an_http_subscriber(onebox, subscriber: Subscriber) -> None:
    s3 = onebox.client("s3")
    sns = onebox.client("sns")
    topic = _confirmed_topic(onebox, subscriber)
    bucket = _name("events")
    s3.create_bucket(Bucket=bucket)
    configuration = {
        "TopicConfigurations": [
            {
                "Id": "uploads",
                "TopicArn": topic,
                "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
            }
        ]
    }
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)
    test_event = json.loads(_notification(subscriber)["Message"])
    assert test_event["Service"] == "Amazon S3" and test_event["Event"] == "s3:TestEvent"
    assert test_event["Bucket"] == bucket and test_event["Time"].endswith("Z")

    stored = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert stored["TopicConfigurations"] == [
        {
            "Id": "uploads",
            "TopicArn": topic,
            "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"],
            "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "uploads/"}]}},
        }
    ]

    s3.put_object(Bucket=bucket, Key="other/skip.txt", Body=b"not mine")
    put = s3.put_object(Bucket=bucket, Key="uploads/my photo=1.jpg", Body=b"hello events")
    s3.delete_object(Bucket=bucket, Key="other/skip.txt")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "uploads/my photo=1.jpg"}]})
    # A sentinel published after the S3 requests: everything S3 scheduled arrives before or with it.
    sns.publish(TopicArn=topic, Message="sentinel", Subject="Amazon S3 Notification")
    received: list[dict[str, Any]] = []
    while True:
        note = _notification(subscriber)
        if note["Message"] == "sentinel":
            break
        received.append(json.loads(note["Message"]))
    with pytest.raises(queue.Empty):
        subscriber.messages.get(timeout=0.5)

    assert [event["Records"][0]["eventName"] for event in received] == [
        "ObjectCreated:Put",
        "ObjectRemoved:Delete",
    ]
    created, removed = (event["Records"][0] for event in received)
    assert created["eventVersion"] == "2.1" and created["eventSource"] == "aws:s3"
    assert created["awsRegion"] == "us-east-1"
    assert created["eventTime"].endswith("Z")
    assert created["userIdentity"]["principalId"]
    assert created["requestParameters"]["sourceIPAddress"] == "127.0.0.1"
    assert created["responseElements"]["x-amz-request-id"] == put["ResponseMetadata"]["RequestId"]
    assert created["responseElements"]["x-amz-id-2"]
    assert created["s3"]["s3SchemaVersion"] == "1.0" and created["s3"]["configurationId"] == "uploads"
    assert created["s3"]["bucket"]["name"] == bucket
    assert created["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert created["s3"]["bucket"]["ownerIdentity"]["principalId"]
    obj = created["s3"]["object"]
    assert obj["key"] == "uploads/my+photo%3D1.jpg"
    assert obj["size"] == len(b"hello events") and f'"{obj["eTag"]}"' == put["ETag"]
    assert "versionId" not in obj  # an unversioned bucket's events carry none
    assert removed["s3"]["object"]["key"] == "uploads/my+photo%3D1.jpg"
    assert set(removed["s3"]["object"]) == {"key", "sequencer"}
    assert int(removed["s3"]["object"]["sequencer"], 16) > int(obj["sequencer"], 16)


def test_versioned_delete_marker_and_copy_events(onebox, subscriber: Subscriber) -> None:
    s3 = onebox.client("s3")
    topic = _confirmed_topic(onebox, subscriber)
    bucket = _name("events")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "TopicConfigurations": [
                {
                    "TopicArn": topic,
                    "Events": ["s3:ObjectCreated:Copy", "s3:ObjectRemoved:DeleteMarkerCreated"],
                }
            ]
        },
    )
    assert json.loads(_notification(subscriber)["Message"])["Event"] == "s3:TestEvent"
    generated_id = s3.get_bucket_notification_configuration(Bucket=bucket)["TopicConfigurations"][0]["Id"]
    assert generated_id

    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"a")  # ObjectCreated:Put is not configured
    copy = s3.copy_object(Bucket=bucket, Key="b.txt", CopySource={"Bucket": bucket, "Key": "a.txt"})
    copied = json.loads(_notification(subscriber)["Message"])["Records"][0]
    assert copied["eventName"] == "ObjectCreated:Copy"
    assert copied["s3"]["configurationId"] == generated_id
    assert copied["s3"]["object"]["versionId"] == copy["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="b.txt")
    deleted = json.loads(_notification(subscriber)["Message"])["Records"][0]
    assert deleted["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
    assert deleted["s3"]["object"]["versionId"] == marker["VersionId"]


def test_bad_configurations_are_refused(onebox) -> None:
    s3 = onebox.client("s3")
    sns = onebox.client("sns")
    bucket = _name("events")
    s3.create_bucket(Bucket=bucket)
    topic = sns.create_topic(Name=_name("s3-events"))["TopicArn"]
    missing = topic + "-missing"

    def put(configuration: dict[str, Any]) -> tuple[str, str, int]:
        with pytest.raises(ClientError) as error:
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)
        return _error(error)

    unable = ("InvalidArgument", "Unable to validate the following destination configurations", 400)
    assert put({"TopicConfigurations": [{"TopicArn": missing, "Events": ["s3:ObjectCreated:*"]}]}) == unable
    queue_arn = "arn:aws:sqs:us-east-1:000000000000:q"
    assert put({"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]}) == unable
    overlapping = {
        "TopicConfigurations": [
            {"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]},
            {
                "TopicArn": topic,
                "Events": ["s3:ObjectCreated:Put"],
                "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}},
            },
        ]
    }
    code, message, status = put(overlapping)
    assert (code, status) == ("InvalidArgument", 400) and message.startswith("Configurations overlap.")
    # Nothing was stored by the refused requests.
    assert "TopicConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)
    disjoint = {
        "TopicConfigurations": [
            {
                "TopicArn": topic,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "a/"}]}},
            },
            {
                "TopicArn": topic,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "b/"}]}},
            },
        ]
    }
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=disjoint)
    assert len(s3.get_bucket_notification_configuration(Bucket=bucket)["TopicConfigurations"]) == 2
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert "TopicConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)
