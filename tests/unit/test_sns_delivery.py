"""SNS delivery driven by a ManualClock: the handshake with a local HTTP subscriber, signatures checked
independently with `cryptography`, retries with backoff, durability across a worker restart, email,
HTTPS against a local TLS server, and delivery status logged to CloudWatch Logs."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from onebox.aws.credentials import CredentialStore
from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.clock import ManualClock
from onebox.config import Config
from onebox.runtime import Runtime
from onebox.services.logs.model import events
from onebox.services.sns import api as sns_api
from onebox.services.sns import delivery, mailbox, routes, signing
from onebox.services.sns.model import DELIVERY
from onebox.services.sns.worker import DeliveryWorker, delivery_changes, retry_delay
from onebox.store import Store


class Subscriber:
    """A local HTTP endpoint that records every POST and answers with the next queued status."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], str]] = []
        self.statuses: list[int] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                owner.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = owner.statuses.pop(0) if owner.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    server = Subscriber()
    yield server
    server.close()


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    clock = ManualClock()
    store = Store.open(tmp_path / "onebox.db", clock, synchronous="NORMAL")
    yield Runtime(
        config=Config(state_dir=tmp_path, port=4599), clock=clock, store=store, credentials=CredentialStore()
    )
    store.close()


def call(runtime: Runtime, operation: str, **params: Any) -> dict[str, Any]:
    ctx = RequestContext(
        runtime, "sns", operation, "000000000000", "us-east-1", "req", HttpRequest("POST", "/")
    )
    return asyncio.run(sns_api.api.call(ctx, params))


def verify_independently(cert_pem: bytes, message: dict[str, Any]) -> bool:
    """AWS's documented verification, written here from the docs rather than imported."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
    digest = hashes.SHA256() if message["SignatureVersion"] == "2" else hashes.SHA1()
    key = x509.load_pem_x509_certificate(cert_pem).public_key()
    try:
        key.verify(base64.b64decode(message["Signature"]), text.encode(), padding.PKCS1v15(), digest)  # type: ignore[call-arg,arg-type,union-attr]
    except Exception:
        return False
    return True


class Running:
    """The delivery worker on a private loop in a thread, as the daemon runs it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.loop = asyncio.new_event_loop()
        self.worker = DeliveryWorker(runtime)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        ready = threading.Event()

        async def start() -> None:
            changes = runtime.store.changes.subscribe([DELIVERY])
            self.task = asyncio.ensure_future(self.worker.run(delivery_changes(changes)))
            ready.set()

        asyncio.run_coroutine_threadsafe(start(), self.loop)
        ready.wait(5)

    def advance(self, seconds: float) -> None:
        clock = self.runtime.clock
        assert isinstance(clock, ManualClock)
        self.loop.call_soon_threadsafe(clock.advance, seconds)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.worker.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[Running]:
    running = Running(runtime)
    yield running
    running.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        pause.wait(0.01)


def link(runtime: Runtime, url: str) -> int:
    parts = urlsplit(url)
    response = asyncio.run(routes.link(runtime, HttpRequest("GET", parts.path, parts.query)))
    return response.status


def pending(runtime: Runtime) -> list[Any]:
    return runtime.store.list_all(DELIVERY)


def test_handshake_notification_and_signatures(
    runtime: Runtime, worker: Running, subscriber: Subscriber
) -> None:
    topic = call(runtime, "CreateTopic", Name="alerts")["TopicArn"]
    answer = call(runtime, "Subscribe", TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
    assert answer["SubscriptionArn"] == "pending confirmation"
    wait_for(lambda: len(subscriber.received) == 1)
    headers, body = subscriber.received[0]
    confirmation = json.loads(body)
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert headers["x-amz-sns-topic-arn"] == topic
    assert headers["user-agent"] == "Amazon Simple Notification Service Agent"
    assert list(confirmation) == [
        "Type",
        "MessageId",
        "Token",
        "TopicArn",
        "Message",
        "SubscribeURL",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    ]
    _, cert = signing.signing_material(runtime.config.state_dir)
    assert confirmation["SigningCertURL"] == "http://localhost:4599" + signing.CERT_PATH
    assert verify_independently(cert, confirmation)
    listed = call(runtime, "ListSubscriptionsByTopic", TopicArn=topic)["Subscriptions"]
    assert listed[0]["SubscriptionArn"] == "PendingConfirmation"
    # Nothing is delivered to a pending subscription.
    call(runtime, "Publish", TopicArn=topic, Message="too early")
    assert link(runtime, confirmation["SubscribeURL"]) == 200
    sub_arn = call(runtime, "ListSubscriptionsByTopic", TopicArn=topic)["Subscriptions"][0]["SubscriptionArn"]
    assert sub_arn.startswith(topic + ":")

    message_id = call(
        runtime,
        "Publish",
        TopicArn=topic,
        Message="CPU high",
        Subject="ALARM",
        MessageAttributes={
            "level": {"DataType": "String", "StringValue": "crit"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )["MessageId"]
    wait_for(lambda: len(subscriber.received) == 2)
    headers, body = subscriber.received[1]
    note = json.loads(body)
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == message_id
    assert headers["x-amz-sns-subscription-arn"] == sub_arn
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    assert list(note) == [
        "Type",
        "MessageId",
        "TopicArn",
        "Subject",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
        "UnsubscribeURL",
        "MessageAttributes",
    ]
    assert note["Message"] == "CPU high" and note["Subject"] == "ALARM"
    assert note["Timestamp"] == "2027-01-15T08:00:00.000Z"
    assert note["MessageAttributes"] == {
        "level": {"Type": "String", "Value": "crit"},
        "blob": {"Type": "Binary", "Value": "AAE="},
    }
    assert verify_independently(cert, note)
    tampered = {**note, "Message": "CPU low"}
    assert not verify_independently(cert, tampered)
    assert '"Type" : "Notification"' in body  # AWS's layout
    wait_for(lambda: not pending(runtime))

    # Unsubscribing through the UnsubscribeURL tells the endpoint, as AWS does.
    assert link(runtime, note["UnsubscribeURL"]) == 200
    wait_for(lambda: len(subscriber.received) == 3)
    assert subscriber.received[2][0]["x-amz-sns-message-type"] == "UnsubscribeConfirmation"
    assert call(runtime, "ListSubscriptionsByTopic", TopicArn=topic)["Subscriptions"] == []


def test_signature_version_2_uses_sha256(runtime: Runtime, worker: Running, subscriber: Subscriber) -> None:
    topic = call(runtime, "CreateTopic", Name="v2", Attributes={"SignatureVersion": "2"})["TopicArn"]
    call(runtime, "Subscribe", TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
    wait_for(lambda: len(subscriber.received) == 1)
    message = json.loads(subscriber.received[0][1])
    assert message["SignatureVersion"] == "2"
    _, cert = signing.signing_material(runtime.config.state_dir)
    assert verify_independently(cert, message)
    assert not verify_independently(cert, {**message, "SignatureVersion": "1"})


def confirmed_http(
    runtime: Runtime, worker: Running, subscriber: Subscriber, topic: str, **attributes: str
) -> str:
    call(
        runtime, "Subscribe", TopicArn=topic, Protocol="http", Endpoint=subscriber.url, Attributes=attributes
    )
    wait_for(lambda: len(subscriber.received) >= 1)
    confirmation = json.loads(subscriber.received[-1][1])
    subscription = call(runtime, "ConfirmSubscription", TopicArn=topic, Token=confirmation["Token"])
    wait_for(lambda: not pending(runtime))
    subscriber.received.clear()
    return subscription["SubscriptionArn"]


def test_retries_follow_the_policy_on_the_clock(
    runtime: Runtime, worker: Running, subscriber: Subscriber
) -> None:
    topic = call(runtime, "CreateTopic", Name="flaky")["TopicArn"]
    confirmed_http(runtime, worker, subscriber, topic)
    subscriber.statuses = [500, 503]
    call(runtime, "Publish", TopicArn=topic, Message="hello")
    wait_for(lambda: len(subscriber.received) == 1)
    wait_for(lambda: pending(runtime) and pending(runtime)[0].status.get("Attempts") == 1)
    assert pending(runtime)[0].status["NextAttemptAt"] == runtime.clock.time() + 20
    worker.advance(19)
    assert len(subscriber.received) == 1  # not before the default 20 s
    worker.advance(1)
    wait_for(lambda: len(subscriber.received) == 2)
    wait_for(lambda: pending(runtime)[0].status.get("Attempts") == 2)
    worker.advance(20)
    wait_for(lambda: len(subscriber.received) == 3)
    wait_for(lambda: not pending(runtime))
    bodies = [json.loads(body)["MessageId"] for _, body in subscriber.received]
    assert len(set(bodies)) == 1  # the same message each time


def test_gives_up_after_num_retries_and_4xx_is_final(
    runtime: Runtime, worker: Running, subscriber: Subscriber
) -> None:
    topic = call(runtime, "CreateTopic", Name="down")["TopicArn"]
    policy = {"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 5, "maxDelayTarget": 5}}
    confirmed_http(runtime, worker, subscriber, topic, DeliveryPolicy=json.dumps(policy))
    subscriber.statuses = [500] * 10
    call(runtime, "Publish", TopicArn=topic, Message="x")
    for attempt in (1, 2):
        wait_for(
            lambda attempt=attempt: pending(runtime) and pending(runtime)[0].status.get("Attempts") == attempt
        )
        worker.advance(5)
    wait_for(lambda: len(subscriber.received) == 3 and not pending(runtime))
    subscriber.received.clear()
    subscriber.statuses = [404]
    call(runtime, "Publish", TopicArn=topic, Message="y")
    wait_for(lambda: len(subscriber.received) == 1 and not pending(runtime))


def test_acknowledged_publish_survives_a_restart(runtime: Runtime, subscriber: Subscriber) -> None:
    topic = call(runtime, "CreateTopic", Name="durable")["TopicArn"]
    first = Running(runtime)
    try:
        confirmed_http(runtime, first, subscriber, topic)
    finally:
        first.stop()
    message_id = delivery.publish(runtime, topic, "while down", "S")  # no worker runs
    assert len(pending(runtime)) == 1 and subscriber.received == []
    again = Running(runtime)  # the daemon restarted: its first resync finds the delivery
    try:
        wait_for(lambda: len(subscriber.received) == 1)
    finally:
        again.stop()
    assert json.loads(subscriber.received[0][1])["MessageId"] == message_id


def test_publish_errors(runtime: Runtime) -> None:
    with pytest.raises(AwsError) as error:
        delivery.publish(runtime, "arn:aws:sns:us-east-1:000000000000:missing", "m")
    assert (error.value.code, error.value.status, error.value.message) == (
        "NotFound",
        404,
        "Topic does not exist",
    )
    topic = call(runtime, "CreateTopic", Name="t")["TopicArn"]
    for kwargs, message in [
        ({"Message": ""}, "Invalid parameter: Empty message"),
        ({"Message": "x" * 262_145}, "Invalid parameter: Message too long"),
        ({"Message": "x", "Subject": "a\nb"}, "Invalid parameter: Subject"),
        (
            {"Message": "{}", "MessageStructure": "json"},
            "Invalid parameter: Message Structure - No default entry in JSON message body",
        ),
        (
            {"Message": "nope", "MessageStructure": "json"},
            "Invalid parameter: Message Structure - JSON message body failed to parse",
        ),
    ]:
        with pytest.raises(AwsError) as error:
            call(runtime, "Publish", TopicArn=topic, **kwargs)
        assert (error.value.code, error.value.message) == ("InvalidParameter", message)
    with pytest.raises(AwsError) as error:
        call(
            runtime,
            "Publish",
            TopicArn=topic,
            Message="m",
            MessageAttributes={"n": {"DataType": "Number", "StringValue": "abc"}},
        )
    assert error.value.code == "ParameterValueInvalid"


def test_structure_filter_policy_and_raw_delivery(
    runtime: Runtime, worker: Running, subscriber: Subscriber
) -> None:
    topic = call(runtime, "CreateTopic", Name="mixed")["TopicArn"]
    sub = confirmed_http(
        runtime,
        worker,
        subscriber,
        topic,
        FilterPolicy=json.dumps({"level": ["crit", {"prefix": "err"}], "n": [{"numeric": [">", 5]}]}),
    )
    call(
        runtime,
        "Publish",
        TopicArn=topic,
        Message=json.dumps({"default": "plain", "http": "for http"}),
        MessageStructure="json",
        MessageAttributes={
            "level": {"DataType": "String", "StringValue": "error-1"},
            "n": {"DataType": "Number", "StringValue": "7"},
        },
    )
    call(
        runtime,
        "Publish",
        TopicArn=topic,
        Message="filtered out",
        MessageAttributes={
            "level": {"DataType": "String", "StringValue": "info"},
            "n": {"DataType": "Number", "StringValue": "7"},
        },
    )
    wait_for(lambda: len(subscriber.received) == 1 and not pending(runtime))
    assert json.loads(subscriber.received[0][1])["Message"] == "for http"
    call(
        runtime,
        "SetSubscriptionAttributes",
        SubscriptionArn=sub,
        AttributeName="FilterPolicy",
        AttributeValue="",
    )
    call(
        runtime,
        "SetSubscriptionAttributes",
        SubscriptionArn=sub,
        AttributeName="RawMessageDelivery",
        AttributeValue="true",
    )
    call(runtime, "Publish", TopicArn=topic, Message="raw body")
    wait_for(lambda: len(subscriber.received) == 2)
    headers, body = subscriber.received[1]
    assert body == "raw body" and headers["x-amz-sns-rawdelivery"] == "true"


def test_email_goes_to_the_local_mailbox(runtime: Runtime, worker: Running) -> None:
    topic = call(runtime, "CreateTopic", Name="ops", Attributes={"DisplayName": "Ops"})["TopicArn"]
    call(runtime, "Subscribe", TopicArn=topic, Protocol="email", Endpoint="ops@example.com")
    call(runtime, "Subscribe", TopicArn=topic, Protocol="email-json", Endpoint="robot@example.com")
    wait_for(lambda: len(mailbox.read_all(runtime.config.state_dir)) == 2)
    mails = {m["To"]: m for m in mailbox.read_all(runtime.config.state_dir)}
    human = mailbox.format_message(mails["ops@example.com"])
    assert "Subject: AWS Notification - Subscription Confirmation" in human
    assert "From: Ops <no-reply@sns.amazonaws.com>" in human
    url = next(line for line in human.splitlines() if "Action=ConfirmSubscription" in line)
    assert link(runtime, url) == 200
    robot = json.loads(mails["robot@example.com"].get_payload(decode=True))
    assert robot["Type"] == "SubscriptionConfirmation"
    assert link(runtime, robot["SubscribeURL"]) == 200
    call(runtime, "Publish", TopicArn=topic, Message="disk full", Subject="ALARM: disk")
    wait_for(lambda: len(mailbox.read_all(runtime.config.state_dir)) == 4)
    latest = mailbox.read_all(runtime.config.state_dir)[2:]
    by_to = {m["To"]: m for m in latest}
    assert by_to["ops@example.com"]["Subject"] == "ALARM: disk"
    assert mailbox.format_message(by_to["ops@example.com"]).split("\n\n", 1)[1].startswith("disk full\n")
    assert json.loads(by_to["robot@example.com"].get_payload(decode=True))["Message"] == "disk full"


def test_retry_delays() -> None:
    default = {"minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3}
    assert [retry_delay(default, n) for n in (1, 2, 3)] == [20, 20, 20]
    policy = {
        "minDelayTarget": 1,
        "maxDelayTarget": 16,
        "numRetries": 7,
        "numNoDelayRetries": 1,
        "numMinDelayRetries": 1,
        "numMaxDelayRetries": 1,
        "backoffFunction": "exponential",
    }
    assert [round(retry_delay(policy, n), 3) for n in range(1, 8)] == [0, 1, 2, 4, 8, 16, 16]
    linear = {**policy, "backoffFunction": "linear"}
    assert [retry_delay(linear, n) for n in range(3, 7)] == [4.75, 8.5, 12.25, 16]


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_subscriber(tmp_path: Path) -> Iterator[tuple[Subscriber, Path]]:
    cert, key = self_signed(tmp_path)
    server = Subscriber()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    server.url = server.url.replace("http://127.0.0.1", "https://localhost")
    yield server, cert
    server.close()


def test_https_verifies_against_a_trusted_ca(runtime: Runtime, worker: Running, tls_subscriber) -> None:
    server, cert = tls_subscriber
    topic = call(runtime, "CreateTopic", Name="secure")["TopicArn"]
    call(runtime, "Subscribe", TopicArn=topic, Protocol="https", Endpoint=server.url)
    # The test server's certificate is not trusted yet: the attempt fails and waits for a retry.
    wait_for(lambda: pending(runtime) and pending(runtime)[0].status.get("Attempts") == 1)
    assert "CERTIFICATE_VERIFY_FAILED" in pending(runtime)[0].status["LastError"]
    (runtime.config.state_dir / "sns").mkdir(exist_ok=True)
    (runtime.config.state_dir / "sns" / "trusted-ca.pem").write_bytes(cert.read_bytes())
    worker.advance(20)
    wait_for(lambda: len(server.received) == 1 and not pending(runtime))
    assert json.loads(server.received[0][1])["Type"] == "SubscriptionConfirmation"


def test_https_verification_opt_out(
    runtime: Runtime,
    worker: Running,
    tls_subscriber,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = tls_subscriber
    monkeypatch.setenv("ONEBOX_SNS_VERIFY_TLS", "0")
    topic = call(runtime, "CreateTopic", Name="insecure")["TopicArn"]
    call(runtime, "Subscribe", TopicArn=topic, Protocol="https", Endpoint=server.url)
    wait_for(lambda: len(server.received) == 1)


def test_delivery_status_is_logged(runtime: Runtime, worker: Running) -> None:
    server = Subscriber()
    try:
        topic = call(
            runtime,
            "CreateTopic",
            Name="audited",
            Attributes={
                "HTTPSuccessFeedbackRoleArn": "arn:aws:iam::000000000000:role/SNSSuccessFeedback",
                "HTTPFailureFeedbackRoleArn": "arn:aws:iam::000000000000:role/SNSFailureFeedback",
            },
        )["TopicArn"]
        call(runtime, "Subscribe", TopicArn=topic, Protocol="http", Endpoint=server.url)
        wait_for(lambda: len(server.received) == 1)
        token = json.loads(server.received[0][1])["Token"]
        call(runtime, "ConfirmSubscription", TopicArn=topic, Token=token)
        message_id = call(runtime, "Publish", TopicArn=topic, Message="audited")["MessageId"]
        wait_for(lambda: len(server.received) == 2 and not runtime.store.list_all(DELIVERY))
        server.statuses = [400]
        call(runtime, "Publish", TopicArn=topic, Message="refused")
        wait_for(lambda: len(server.received) == 3 and not runtime.store.list_all(DELIVERY))
    finally:
        server.close()
    store = events(runtime)
    success = store.read("000000000000", "us-east-1", "sns/us-east-1/000000000000/audited")
    failure = store.read("000000000000", "us-east-1", "sns/us-east-1/000000000000/audited/Failure")
    assert len(success) == 1 and len(failure) == 1
    ok = json.loads(success[0].message)
    assert ok["status"] == "SUCCESS" and ok["notification"]["messageId"] == message_id
    assert ok["delivery"]["statusCode"] == 200 and ok["delivery"]["destination"] == server.url
    bad = json.loads(failure[0].message)
    assert bad["status"] == "FAILURE" and bad["delivery"]["statusCode"] == 400


def test_unconfirmed_subscriptions_expire_after_two_days(runtime: Runtime) -> None:
    from onebox.controllers import RequeueAfter
    from onebox.services.sns.worker import PendingSubscriptionSweeper

    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    topic = call(runtime, "CreateTopic", Name="patience")["TopicArn"]
    arn = call(
        runtime,
        "Subscribe",
        TopicArn=topic,
        Protocol="email",
        Endpoint="late@example.com",
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    token = runtime.store.get(*("sns:subscription", "000000000000", "us-east-1", arn.rsplit(":", 1)[1])).spec[
        "Token"
    ]
    sweeper = PendingSubscriptionSweeper(runtime)
    (key,) = asyncio.run(sweeper.list_keys())
    with pytest.raises(RequeueAfter) as wait:
        asyncio.run(sweeper.reconcile(key))
    assert wait.value.seconds == 2 * 86_400
    clock.advance(2 * 86_400 + 1)
    with pytest.raises(AwsError) as error:
        call(runtime, "ConfirmSubscription", TopicArn=topic, Token=token)
    assert error.value.message == "Invalid token"
    asyncio.run(sweeper.reconcile(key))
    assert call(runtime, "ListSubscriptionsByTopic", TopicArn=topic)["Subscriptions"] == []


def test_authenticated_confirmation_blocks_anonymous_unsubscribe(runtime: Runtime) -> None:
    topic = call(runtime, "CreateTopic", Name="guarded")["TopicArn"]
    arn = call(
        runtime,
        "Subscribe",
        TopicArn=topic,
        Protocol="email",
        Endpoint="a@example.com",
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    token = runtime.store.get("sns:subscription", "000000000000", "us-east-1", arn.rsplit(":", 1)[1]).spec[
        "Token"
    ]
    call(runtime, "ConfirmSubscription", TopicArn=topic, Token=token, AuthenticateOnUnsubscribe="true")
    attributes = call(runtime, "GetSubscriptionAttributes", SubscriptionArn=arn)["Attributes"]
    assert (
        attributes["ConfirmationWasAuthenticated"] == "true" and attributes["PendingConfirmation"] == "false"
    )
    unsubscribe_url = f"http://localhost:4599/_onebox/sns/?Action=Unsubscribe&SubscriptionArn={arn}"
    assert link(runtime, unsubscribe_url) == 403
    call(runtime, "Unsubscribe", SubscriptionArn=arn)  # the signed API call may
    assert call(runtime, "ListSubscriptionsByTopic", TopicArn=topic)["Subscriptions"] == []
