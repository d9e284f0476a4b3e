"""Delivery status: what happened to each delivery, as AWS's delivery status logging records it.

When a topic has HTTPSuccessFeedbackRoleArn (or HTTPFailureFeedbackRoleArn) set, each HTTP/S delivery's
outcome is written to CloudWatch Logs, in the log groups AWS uses: `sns/REGION/ACCOUNT/TOPIC` for
successes and `sns/REGION/ACCOUNT/TOPIC/Failure` for failures, one JSON event per delivery.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING

from onebox.runtime import Runtime
from onebox.services.sns import metrics
from onebox.services.sns.model import TOPIC, topic_location
from onebox.store import Record

if TYPE_CHECKING:
    from onebox.services.sns.transport import Outcome

log = logging.getLogger("onebox.sns.feedback")


def record(runtime: Runtime, delivery: Record, outcome: Outcome, attempts: int) -> None:
    spec = delivery.spec
    document = spec["Document"]
    log.info(
        "sns delivery %s of %s to %s %s after %d attempt(s)",
        document["MessageId"],
        document["Type"],
        spec["Endpoint"],
        "succeeded" if outcome.delivered else f"failed ({outcome.error})",
        attempts,
    )
    if document["Type"] != "Notification":
        return
    metric = "NumberOfNotificationsDelivered" if outcome.delivered else "NumberOfNotificationsFailed"
    metrics.emit(runtime, spec["TopicArn"], {metric: (1.0, "Count")})
    if spec["Protocol"] not in ("http", "https"):
        return
    account, region, name = topic_location(spec["TopicArn"])
    topic = runtime.store.get(TOPIC, account, region, name)
    if topic is None:
        return
    attributes = topic.spec.get("Attributes", {})
    role = attributes.get("HTTPSuccessFeedbackRoleArn" if outcome.delivered else "HTTPFailureFeedbackRoleArn")
    if not role:
        return
    now = runtime.clock.time()
    event = {
        "notification": {
            "messageId": document["MessageId"],
            "topicArn": spec["TopicArn"],
            "timestamp": document.get("Timestamp"),
        },
        "delivery": {
            "deliveryId": str(uuid.uuid4()),
            "destination": spec["Endpoint"],
            "providerResponse": outcome.error or "OK",
            "dwellTimeMs": 0,
            "attempts": attempts,
            "statusCode": outcome.status_code,
        },
        "status": "SUCCESS" if outcome.delivered else "FAILURE",
    }
    group = f"sns/{region}/{account}/{name}" + ("" if outcome.delivered else "/Failure")
    from onebox.services.logs import ingest  # lazily: SNS works without Logs loaded

    ingest.put_internal_events(
        runtime, account, region, group, str(uuid.uuid4()), [(int(now * 1000), json.dumps(event))]
    )
