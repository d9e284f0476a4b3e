"""An acknowledged Publish is not lost when the daemon is killed: the retry comes from the next daemon."""

from __future__ import annotations

import json
import os
import signal
import urllib.request

from tests.conftest import process_gone
from tests.integration.test_sns_live import Subscriber, verify


def test_pending_delivery_survives_kill_9(fresh_onebox) -> None:
    box = fresh_onebox
    subscriber = Subscriber()
    try:
        sns = box.client("sns")
        topic = sns.create_topic(Name="durable")["TopicArn"]
        policy = {"healthyRetryPolicy": {"numRetries": 3, "minDelayTarget": 2, "maxDelayTarget": 2}}
        sns.subscribe(
            TopicArn=topic,
            Protocol="http",
            Endpoint=subscriber.url,
            Attributes={"DeliveryPolicy": json.dumps(policy)},
        )
        _, confirmation = subscriber.next()
        urllib.request.urlopen(confirmation["SubscribeURL"], timeout=10).read()

        subscriber.statuses = [500]  # the first attempt fails, so a retry is pending on disk
        message_id = sns.publish(TopicArn=topic, Message="must not be lost")["MessageId"]
        _, first = subscriber.next()
        assert first["MessageId"] == message_id
        daemon_pid = int((box.state_dir / "run" / "daemon.pid").read_text())
        os.kill(daemon_pid, signal.SIGKILL)
        assert process_gone(daemon_pid)

        box.cli("up", "--detach")
        headers, retried = subscriber.next()
        assert retried["MessageId"] == message_id and retried["Message"] == "must not be lost"
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert verify(retried)  # the signing key and certificate survived the restart too
        assert retried["Signature"] == first["Signature"]
    finally:
        subscriber.server.shutdown()
        subscriber.server.server_close()
