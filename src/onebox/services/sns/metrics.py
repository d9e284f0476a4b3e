"""SNS's own CloudWatch metrics (namespace AWS/SNS, dimension TopicName), as AWS publishes them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from onebox.runtime import Runtime

log = logging.getLogger("onebox.sns.metrics")


def emit(runtime: Runtime, topic_arn: str, values: dict[str, tuple[float, str]]) -> None:
    """Record {metric name: (value, unit)} for a topic now; never fails the caller."""
    from onebox.services.sns.model import topic_location

    account, region, name = topic_location(topic_arn)
    now = datetime.fromtimestamp(runtime.clock.time(), UTC)
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "TopicName", "Value": name}],
            "Timestamp": now,
            "Value": value,
            "Unit": unit,
        }
        for metric, (value, unit) in values.items()
    ]
    try:
        from onebox.services.cloudwatch import ingest  # lazily: SNS works without CloudWatch loaded

        ingest.put_metric_data(runtime, account, region, "AWS/SNS", data)
    except Exception:
        log.exception("could not record SNS metrics for %s", topic_arn)
