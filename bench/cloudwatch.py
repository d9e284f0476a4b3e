"""CloudWatch: PutMetricData datapoints per second, and GetMetricData over one week of one-minute data
with the p95 statistic, onebox vs moto_server in the same run, through boto3 (its default protocol).

moto computes no percentiles (a p95 query is a 500 Internal Server Error in moto 5.2), so moto is
measured with the Maximum statistic over the same week and the same period: the cheapest work it can
do for the same question; onebox's figure is with p95.
"""

from __future__ import annotations

import http.client
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore import serialize
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.session import get_session

from bench.peers import moto_server, onebox

PUT_ROUNDS = 8
ROUND_REQUESTS = 10
DATUMS_PER_REQUEST = 1000
WEEK_MINUTES = 7 * 24 * 60
QUERY_SECONDS = 5.0


def _client(endpoint: str) -> Any:
    return boto3.client(
        "cloudwatch",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def _signed_put(endpoint: str, batch: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    """One PutMetricData request serialized in the JSON protocol (what boto3 speaks to CloudWatch) and
    signed once, so the figure measures the server, not botocore serializing 1000 datums per call."""
    model = get_session().get_service_model("cloudwatch")
    operation = model.operation_model("PutMetricData")
    serialized = serialize.create_serializer("json").serialize_to_request(
        {"Namespace": "BenchPut", "MetricData": batch}, operation
    )
    body = serialized["body"]
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=dict(serialized["headers"]))
    SigV4Auth(Credentials("test", "test"), "monitoring", "us-east-1").add_auth(request)
    return body, dict(request.headers.items())


class PutRounds:
    """PutMetricData against one peer in timed rounds: each round sends ROUND_REQUESTS pre-signed
    1000-datum requests on one connection and ends with a ListMetrics call, which returns only once
    the peer has stored every point (onebox flushes its write buffer to disk for any read), so a
    round's rate includes persistence, not just the answers."""

    def __init__(self, endpoint: str) -> None:
        now = datetime.now(UTC)
        batch = [
            {
                "MetricName": f"M{i % 10}",
                "Dimensions": [{"Name": "Host", "Value": f"h{i % 7}"}],
                "Timestamp": now - timedelta(seconds=i),
                "Value": float(i + 1),
            }
            for i in range(DATUMS_PER_REQUEST)
        ]
        self.body, self.headers = _signed_put(endpoint, batch)
        self.cw = _client(endpoint)
        self.connection = http.client.HTTPConnection(urlsplit(endpoint).netloc, timeout=60)
        self.rates: list[float] = []
        self._send()  # warm-up
        self.cw.list_metrics(Namespace="BenchPut")

    def _send(self) -> None:
        self.connection.request("POST", "/", body=self.body, headers=self.headers)
        response = self.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"PutMetricData answered {response.status}: {answer[:300]!r}")

    def round(self) -> None:
        started = time.perf_counter()
        for _ in range(ROUND_REQUESTS):
            self._send()
        self.cw.list_metrics(Namespace="BenchPut")
        self.rates.append(ROUND_REQUESTS * DATUMS_PER_REQUEST / (time.perf_counter() - started))

    def close(self) -> None:
        self.connection.close()


def load_week(endpoint: str) -> tuple[datetime, datetime]:
    cw = _client(endpoint)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(minutes=WEEK_MINUTES)
    data = [
        {
            "MetricName": "Latency",
            "Timestamp": start + timedelta(minutes=minute),
            "Value": float(1 + (minute * 7) % 500),  # moto loses a value of 0
        }
        for minute in range(WEEK_MINUTES)
    ]
    for chunk in range(0, len(data), DATUMS_PER_REQUEST):
        cw.put_metric_data(Namespace="BenchWeek", MetricData=data[chunk : chunk + DATUMS_PER_REQUEST])
    return start, end


def query_rate(endpoint: str, start: datetime, end: datetime, stat: str) -> tuple[float, int]:
    """GetMetricData calls per second for the week at a 1-hour period; and values returned."""
    cw = _client(endpoint)
    query = [
        {
            "Id": "p",
            "MetricStat": {
                "Metric": {"Namespace": "BenchWeek", "MetricName": "Latency"},
                "Period": 3600,
                "Stat": stat,
            },
        }
    ]
    result = cw.get_metric_data(MetricDataQueries=query, StartTime=start, EndTime=end)
    values = len(result["MetricDataResults"][0]["Values"])
    calls = 0
    started = time.perf_counter()
    while time.perf_counter() - started < QUERY_SECONDS or calls < 2:
        cw.get_metric_data(MetricDataQueries=query, StartTime=start, EndTime=end)
        calls += 1
    return calls / (time.perf_counter() - started), values


def run() -> None:
    print("CloudWatch (one connection, sequential calls; PutMetricData pre-signed, GetMetricData via boto3)")
    figures: dict[str, dict[str, float]] = {"put": {}, "get": {}}
    returned: dict[str, int] = {}
    with onebox() as (onebox_endpoint, _), moto_server() as (moto_endpoint, _):
        endpoints = {"onebox": onebox_endpoint, "moto": moto_endpoint}
        # Rounds alternate between the peers, so a burst of load from elsewhere on the machine hits
        # both; each peer's figure is its best round.
        rounds = {peer: PutRounds(endpoint) for peer, endpoint in endpoints.items()}
        for _ in range(PUT_ROUNDS):
            for peer_rounds in rounds.values():
                peer_rounds.round()
        for peer, peer_rounds in rounds.items():
            peer_rounds.close()
            figures["put"][peer] = max(peer_rounds.rates)
        for peer, endpoint in endpoints.items():
            start, end = load_week(endpoint)
            stat = "p95" if peer == "onebox" else "Maximum"
            figures["get"][peer], returned[peer] = query_rate(endpoint, start, end, stat)
    put, get = figures["put"], figures["get"]
    print(
        f"  {'PutMetricData datapoints':<32} onebox {put['onebox']:9.0f}/s   moto {put['moto']:9.0f}/s   "
        f"ratio {put['onebox'] / put['moto']:5.1f}x  (goal: 5x; best of {PUT_ROUNDS} alternating rounds)"
    )
    print(
        f"  {'GetMetricData week p95 (1 h)':<32} onebox {get['onebox']:9.1f}/s   moto {get['moto']:9.1f}/s   "
        f"ratio {get['onebox'] / get['moto']:5.1f}x  (goal: 5x; moto with Maximum, it has no p95; values "
        f"returned: onebox {returned['onebox']}, moto {returned['moto']})"
    )


if __name__ == "__main__":
    run()
