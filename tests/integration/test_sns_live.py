"""SNS against a live daemon: boto3 and the AWS CLI, a local HTTP subscriber that confirms through the
SubscribeURL, fetches the SigningCertURL and verifies each signature, and email read by `onebox mail`."""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding


class Subscriber:
    def __init__(self) -> None:
        self.messages: queue.Queue[tuple[dict[str, str], str]] = queue.Queue()
        self.statuses: list[int] = []  # answers for the next POSTs (then 200)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                owner.messages.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(owner.statuses.pop(0) if owner.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sns"

    def next(self) -> tuple[dict[str, str], dict[str, Any]]:
        headers, body = self.messages.get(timeout=20)
        return headers, json.loads(body)


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    server = Subscriber()
    yield server
    server.server.shutdown()
    server.server.server_close()


def verify(message: dict[str, Any]) -> bool:
    """A subscriber's check, as AWS documents it: fetch the certificate, rebuild the string, verify."""
    with urllib.request.urlopen(message["SigningCertURL"], timeout=10) as response:
        certificate = x509.load_pem_x509_certificate(response.read())
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{name}\n{message[name]}\n" for name in names if name in message)
    digest = hashes.SHA256() if message["SignatureVersion"] == "2" else hashes.SHA1()
    try:
        certificate.public_key().verify(  # type: ignore[call-arg,union-attr]
            base64.b64decode(message["Signature"]),
            text.encode(),
            padding.PKCS1v15(),
            digest,  # type: ignore[arg-type]
        )
    except Exception:
        return False
    return True


def test_http_subscriber_confirms_and_verifies(onebox, subscriber: Subscriber) -> None:
    sns = onebox.client("sns")
    topic = sns.create_topic(Name="myapp-devops-alert")["TopicArn"]
    assert topic == "arn:aws:sns:us-east-1:000000000000:myapp-devops-alert"
    assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)["SubscriptionArn"] == (
        "pending confirmation"
    )
    headers, confirmation = subscriber.next()
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert verify(confirmation)
    with urllib.request.urlopen(confirmation["SubscribeURL"], timeout=10) as response:
        assert b"<SubscriptionArn>" in response.read()
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["SubscriptionsConfirmed"] == "1" and attributes["SubscriptionsPending"] == "0"

    message_id = sns.publish(
        TopicArn=topic,
        Message="ALARM: my-app-cpu",
        Subject="ALARM",
        MessageAttributes={"severity": {"DataType": "String", "StringValue": "high"}},
    )["MessageId"]
    headers, note = subscriber.next()
    assert headers["x-amz-sns-message-id"] == message_id == note["MessageId"]
    assert note["Message"] == "ALARM: my-app-cpu" and note["Subject"] == "ALARM"
    assert note["MessageAttributes"] == {"severity": {"Type": "String", "Value": "high"}}
    assert verify(note)
    assert not verify({**note, "Subject": "OK"})

    # The same through the AWS CLI, with SignatureVersion 2.
    onebox.aws(
        "sns",
        "set-topic-attributes",
        "--topic-arn",
        topic,
        "--attribute-name",
        "SignatureVersion",
        "--attribute-value",
        "2",
    )
    published = json.loads(
        onebox.aws("sns", "publish", "--topic-arn", topic, "--message", "from the cli").stdout
    )
    _, note = subscriber.next()
    assert note["MessageId"] == published["MessageId"] and note["SignatureVersion"] == "2"
    assert verify(note)
    # SNS's own metrics reach CloudWatch (AWS/SNS, TopicName).
    stats = onebox.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SNS",
        MetricName="NumberOfMessagesPublished",
        Dimensions=[{"Name": "TopicName", "Value": "myapp-devops-alert"}],
        StartTime=datetime.now(UTC) - timedelta(minutes=5),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=3600,
        Statistics=["Sum"],
    )
    assert sum(point["Sum"] for point in stats["Datapoints"]) == 2.0
    sns.delete_topic(TopicArn=topic)


def test_topics_attributes_tags_and_errors(onebox) -> None:
    sns = onebox.client("sns")
    arn = sns.create_topic(
        Name="tagged", Attributes={"DisplayName": "Tagged"}, Tags=[{"Key": "env", "Value": "dev"}]
    )["TopicArn"]
    # Idempotent with the same attributes; refused with different ones.
    assert sns.create_topic(Name="tagged", Attributes={"DisplayName": "Tagged"})["TopicArn"] == arn
    with pytest.raises(ClientError) as error:
        sns.create_topic(Name="tagged", Attributes={"DisplayName": "Other"})
    assert error.value.response["Error"]["Code"] == "InvalidParameter"
    with pytest.raises(ClientError) as error:
        sns.create_topic(Name="bad name!")
    assert error.value.response["Error"]["Message"] == "Invalid parameter: Topic Name"
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["DisplayName"] == "Tagged" and attributes["Owner"] == "000000000000"
    assert json.loads(attributes["Policy"])["Statement"][0]["Resource"] == arn
    assert (
        json.loads(attributes["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]["numRetries"]
        == 3
    )
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ops"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ops"}]
    missing = "arn:aws:sns:us-east-1:000000000000:nope"
    with pytest.raises(ClientError) as error:
        sns.get_topic_attributes(TopicArn=missing)
    assert error.value.response["Error"]["Code"] == "NotFound"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as error:
        sns.publish(TopicArn=missing, Message="x")
    assert error.value.response["Error"]["Code"] == "NotFound"
    with pytest.raises(ClientError) as error:
        sns.subscribe(TopicArn=arn, Protocol="carrier-pigeon", Endpoint="x")
    assert error.value.response["Error"]["Code"] == "InvalidParameter"
    with pytest.raises(ClientError) as error:
        sns.confirm_subscription(TopicArn=arn, Token="not-a-token")
    assert error.value.response["Error"]["Message"] == "Invalid token"
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # idempotent
    assert arn not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]


def test_list_topics_and_subscriptions_paginate(onebox) -> None:
    sns = onebox.client("sns", region_name="eu-west-1")
    created = [sns.create_topic(Name=f"page-{i:03d}")["TopicArn"] for i in range(105)]
    seen = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]
    first = sns.list_topics()
    assert len(first["Topics"]) == 100 and "NextToken" in first
    assert sorted(seen) == sorted(created)
    for i in range(3):
        sns.subscribe(TopicArn=created[0], Protocol="email", Endpoint=f"u{i}@example.com")
    listed = sns.list_subscriptions_by_topic(TopicArn=created[0])["Subscriptions"]
    assert [s["Endpoint"] for s in listed] == ["u0@example.com", "u1@example.com", "u2@example.com"]
    assert {s["SubscriptionArn"] for s in listed} == {"PendingConfirmation"}
    for arn in created:
        sns.delete_topic(TopicArn=arn)
    assert sns.list_subscriptions()["Subscriptions"] == []


def test_email_subscription_and_onebox_mail(onebox) -> None:
    sns = onebox.client("sns")
    topic = sns.create_topic(Name="mail-alerts")["TopicArn"]
    subscription = sns.subscribe(
        TopicArn=topic, Protocol="email", Endpoint="oncall@example.com", ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    assert subscription.startswith(topic + ":")

    def mail() -> str:
        return onebox.cli("mail", "--state-dir", str(onebox.state_dir)).stdout

    deadline = time.monotonic() + 20
    while f"TopicArn={topic}&" not in mail():
        assert time.monotonic() < deadline, "no confirmation email"
        time.sleep(0.05)
    link = next(line for line in mail().splitlines() if f"TopicArn={topic}&" in line)
    urllib.request.urlopen(link, timeout=10).read()
    assert (
        sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]["PendingConfirmation"]
        == "false"
    )
    sns.publish(TopicArn=topic, Message="The disk is full", Subject="ALARM: disk")
    while "The disk is full" not in mail():
        assert time.monotonic() < deadline, "no notification email"
        time.sleep(0.05)
    text = mail()
    assert "Subject: ALARM: disk" in text and "To: oncall@example.com" in text
    sns.unsubscribe(SubscriptionArn=subscription)
    sns.delete_topic(TopicArn=topic)


def test_publish_batch(onebox, subscriber: Subscriber) -> None:
    sns = onebox.client("sns")
    topic = sns.create_topic(Name="batched")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
    _, confirmation = subscriber.next()
    sns.confirm_subscription(TopicArn=topic, Token=confirmation["Token"])
    result = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "one", "Message": "first"},
            {"Id": "two", "Message": "", "Subject": "empty"},
            {"Id": "three", "Message": "third", "Subject": "S"},
        ],
    )
    assert [entry["Id"] for entry in result["Successful"]] == ["one", "three"]
    assert result["Failed"] == [
        {
            "Id": "two",
            "Code": "InvalidParameter",
            "Message": "Invalid parameter: Empty message",
            "SenderFault": True,
        }
    ]
    received = sorted(subscriber.next()[1]["Message"] for _ in range(2))
    assert received == ["first", "third"]
    with pytest.raises(ClientError) as error:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "a", "Message": "x"}] * 2)
    assert error.value.response["Error"]["Code"] == "BatchEntryIdsNotDistinct"
    with pytest.raises(ClientError) as error:
        sns.publish_batch(
            TopicArn=topic, PublishBatchRequestEntries=[{"Id": f"m{i}", "Message": "x"} for i in range(11)]
        )
    assert error.value.response["Error"]["Code"] == "TooManyEntriesInBatchRequest"
    sns.delete_topic(TopicArn=topic)
