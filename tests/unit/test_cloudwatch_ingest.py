"""PutMetricData's fast path (plain single-value datums, also as unconverted awsJson) stores exactly
what the general path stores, and declines everything else so the general path answers it."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from onebox.aws import specs
from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.aws.protocols import get_protocol
from onebox.aws.validate import gateway_validates, takes_raw_json, validate_input
from onebox.clock import ManualClock
from onebox.config import Config
from onebox.runtime import Runtime
from onebox.services.cloudwatch import ingest
from onebox.services.cloudwatch.metric_store import close_metric_store, metric_store
from onebox.services.cloudwatch.metrics_api import put_metric_data_handler
from onebox.store import Store

ACCOUNT, REGION = "000000000000", "us-east-1"
START = 1_800_000_000.0  # a multiple of 60


@pytest.fixture
def runtimes(tmp_path: Path):
    """Two independent runtimes on the same clock: one takes the fast path, one the general path."""
    clock = ManualClock(START)
    boxes = []
    for name in ("fast", "general"):
        store = Store.memory(clock)
        boxes.append(
            Runtime(config=Config(state_dir=tmp_path / name), clock=clock, store=store, credentials=None)  # type: ignore[arg-type]
        )
    yield boxes
    for box in boxes:
        close_metric_store(box)
        box.store.close()


def stored(runtime: Runtime) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every sample row (by metric key, not id) and every metric row, sorted."""
    store = metric_store(runtime)
    store.flush()
    db = store._db
    samples = db.execute(
        "SELECT m.account, m.region, m.namespace, m.name, m.dims, s.res, s.ts, s.unit, s.value, s.count,"
        " s.sum, s.min, s.max FROM samples s JOIN metrics m ON m.id = s.metric"
    ).fetchall()
    metrics = db.execute("SELECT account, region, namespace, name, dims, last_put FROM metrics").fetchall()
    return sorted(samples, key=repr), sorted(metrics)


def plain_data() -> list[dict[str, Any]]:
    when = datetime.fromtimestamp(START - 3600, UTC)
    data: list[dict[str, Any]] = []
    for i in range(300):
        datum: dict[str, Any] = {"MetricName": f"M{i % 4}", "Value": float(i) * 1.5 - 20}
        if i % 3:
            datum["Dimensions"] = [{"Name": "Host", "Value": f"h{i % 5}"}]
        if i % 7 == 0:
            datum["Dimensions"] = [{"Name": "B", "Value": "2"}, {"Name": "A", "Value": "1"}]
        if i % 2:
            datum["Timestamp"] = when + timedelta(seconds=i * 7.25)
        elif i % 5 == 0:
            datum["Timestamp"] = START - i * 11.5  # epoch seconds, as internal producers pass them
        if i % 6 == 0:
            datum["StorageResolution"] = 1
        elif i % 6 == 1:
            datum["StorageResolution"] = 60
        if i % 4 == 0:
            datum["Unit"] = "Milliseconds"
        if i % 9 == 0:
            datum["Value"] = i  # an int
        data.append(datum)
    data.append({"MetricName": "Zero", "Value": 0.0, "Dimensions": []})
    return data


def test_fast_path_stores_what_the_general_path_stores(runtimes: list[Runtime]) -> None:
    fast, general = runtimes
    data = plain_data()
    assert ingest.put_simple_metric_data(fast, ACCOUNT, REGION, "App", data)
    ingest._put_metric_data(general, ACCOUNT, REGION, "App", data)
    fast_rows, general_rows = stored(fast), stored(general)
    assert len(fast_rows[0]) == len(data) and len(fast_rows[1]) == 29  # 4 names x 7 dimension sets + Zero
    assert fast_rows == general_rows


def test_fast_path_wakes_the_alarm_listeners(runtimes: list[Runtime]) -> None:
    fast, _ = runtimes
    seen: list[set[Any]] = []
    ingest.add_listener(lambda runtime, keys: seen.append(keys) if runtime is fast else None)
    try:
        assert ingest.put_simple_metric_data(
            fast, ACCOUNT, REGION, "App", [{"MetricName": "M", "Value": 1.0}]
        )
    finally:
        ingest._listeners.pop()
    assert seen == [{(ACCOUNT, REGION, "App", "M", "[]")}]


UNUSUAL: list[tuple[str, Any]] = [
    ("values", {"MetricName": "M", "Values": [1.0, 2.0], "Counts": [1.0, 3.0]}),
    ("statistic set", {"MetricName": "M", "StatisticValues": {"SampleCount": 2, "Sum": 3, "Minimum": 1, "Maximum": 2}}),
    ("unknown member", {"MetricName": "M", "Value": 1.0, "Extra": 1}),
    ("null member", {"MetricName": "M", "Value": 1.0, "Unit": None}),
    ("bad unit", {"MetricName": "M", "Value": 1.0, "Unit": "Furlongs"}),
    ("empty unit", {"MetricName": "M", "Value": 1.0, "Unit": ""}),
    ("too old", {"MetricName": "M", "Value": 1.0, "Timestamp": START - 15 * 86400}),
    ("too new", {"MetricName": "M", "Value": 1.0, "Timestamp": START + 3 * 3600}),
    ("almost the next second", {"MetricName": "M", "Value": 1.0, "Timestamp": START - 60.0000002}),
    ("string timestamp", {"MetricName": "M", "Value": 1.0, "Timestamp": "2027-01-15T08:00:00Z"}),
    ("float resolution", {"MetricName": "M", "Value": 1.0, "StorageResolution": 60.0}),
    ("resolution 5", {"MetricName": "M", "Value": 1.0, "StorageResolution": 5}),
    ("NaN", {"MetricName": "M", "Value": float("nan")}),
    ("tiny", {"MetricName": "M", "Value": 2.0**-300}),
    ("bool", {"MetricName": "M", "Value": True}),
    ("string value", {"MetricName": "M", "Value": "1"}),
    ("empty name", {"MetricName": "", "Value": 1.0}),
    ("long name", {"MetricName": "x" * 256, "Value": 1.0}),
    ("no name", {"Value": 1.0}),
    ("duplicate dimensions", {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": "A", "Value": "1"}] * 2}),
    ("31 dimensions", {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": f"D{i}", "Value": "v"} for i in range(31)]}),
    ("empty dimension value", {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": "A", "Value": ""}]}),
    ("long dimension value", {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": "A", "Value": "v" * 1025}]}),
    ("dimension not a mapping", {"MetricName": "M", "Value": 1.0, "Dimensions": ["A"]}),
    ("unhashable dimension value", {"MetricName": "M", "Value": 1.0, "Dimensions": [{"Name": "A", "Value": ["x"]}]}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "datum"), UNUSUAL, ids=[case for case, _ in UNUSUAL])
def test_fast_path_declines_and_stores_nothing(runtimes: list[Runtime], case: str, datum: Any) -> None:
    fast, general = runtimes
    data = [{"MetricName": "First", "Value": 1.0}, datum]
    assert not ingest.put_simple_metric_data(fast, ACCOUNT, REGION, "App", data)
    assert stored(fast) == ([], [])
    # The public entry point then takes the general path: same outcome as the general path alone.
    outcome = []
    for box, put in ((fast, ingest.put_metric_data), (general, ingest._put_metric_data)):
        try:
            put(box, ACCOUNT, REGION, "App", data)
            outcome.append(stored(box))
        except (AwsError, ValueError, TypeError, AttributeError, KeyError) as error:
            outcome.append((type(error), getattr(error, "code", None), str(error)))
    assert outcome[0] == outcome[1]


@pytest.mark.parametrize("namespace", ["", ":colon", "n" * 256])
def test_fast_path_declines_bad_namespaces(runtimes: list[Runtime], namespace: str) -> None:
    assert not ingest.put_simple_metric_data(
        runtimes[0], ACCOUNT, REGION, namespace, [{"MetricName": "M", "Value": 1.0}]
    )


def test_units_are_the_models() -> None:
    shape = specs.service_model("cloudwatch").shape_for("StandardUnit")
    assert ingest.UNITS == frozenset(shape.enum)


# -- the handler with awsJson input before conversion (what the gateway gives it) ---------------------


def context(runtime: Runtime) -> RequestContext:
    request = HttpRequest(method="POST", path="/")
    return RequestContext(runtime, "cloudwatch", "PutMetricData", ACCOUNT, REGION, "rid", request)


def json_request(body: dict[str, Any] | bytes) -> HttpRequest:
    return HttpRequest(
        method="POST",
        path="/",
        headers={"x-amz-target": "GraniteServiceVersion20100801.PutMetricData"},
        body=body if isinstance(body, bytes) else json.dumps(body).encode(),
    )


def handle(runtime: Runtime, body: dict[str, Any] | bytes, raw: bool) -> Any:
    """PutMetricData as the gateway runs it: raw JSON for the fast handler, or the usual pipeline."""
    operation = specs.service_model("cloudwatch").operation_model("PutMetricData")
    protocol = get_protocol("json")
    try:
        if raw:
            params = protocol.parse_raw(operation, json_request(body))  # type: ignore[attr-defined]
        else:
            params = protocol.parse(operation, json_request(body))
            validate_input("cloudwatch", operation, params)
        put_metric_data_handler(context(runtime), params)
    except AwsError as error:
        return (error.code, error.message, error.status)
    return stored(runtime)


def test_gateway_gives_put_metric_data_raw_json_and_skips_validation() -> None:
    assert takes_raw_json("cloudwatch", "PutMetricData")
    assert not gateway_validates("cloudwatch", "PutMetricData")
    assert gateway_validates("cloudwatch", "GetMetricData") and not takes_raw_json(
        "cloudwatch", "GetMetricData"
    )


RAW_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("plain", {"Namespace": "App", "MetricData": plain_data()}),
    ("int timestamps", {"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": 2, "Timestamp": int(START) - 61}]}),
    # 0.9999996 s past a minute: the datetime conversion rounds it into the next minute.
    ("rounding", {"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": 1.0, "Timestamp": START - 60.0000004}]}),
    ("mixed", {"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": 1.0}, {"MetricName": "M", "Values": [1.0, 2.0]}]}),
    ("unknown member dropped", {"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": 1.0, "Future": {"x": 1}}]}),
    ("null members", {"Namespace": "App", "StrictEntityValidation": None, "MetricData": [{"MetricName": "M", "Value": 1.0, "Unit": None}]}),
    ("AWS namespace", {"Namespace": "AWS/EC2", "MetricData": [{"MetricName": "M", "Value": 1.0}]}),
    ("no data", {"Namespace": "App"}),
    ("no namespace", {"MetricData": [{"MetricName": "M", "Value": 1.0}]}),
    ("pattern", {"Namespace": ":x", "MetricData": [{"MetricName": "M", "Value": 1.0}]}),
    ("bad unit", {"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": 1.0, "Unit": "Furlongs"}]}),
    ("wrong type", {"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": "x"}]}),
    ("NaN string", {"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": "NaN"}]}),
    ("bad timestamp", {"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": 1.0, "Timestamp": 1e300}]}),
    ("long name", {"Namespace": "App", "MetricData": [{"MetricName": "x" * 256, "Value": 1.0}]}),
    ("too old", {"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": 1.0, "Timestamp": START - 15 * 86400}]}),
    ("resolution", {"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": 1.0, "StorageResolution": 0}]}),
    ("float resolution", {"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": 1.0, "StorageResolution": 1.0}]}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body"), RAW_BODIES, ids=[case for case, _ in RAW_BODIES])
def test_raw_json_handler_matches_the_usual_pipeline(
    runtimes: list[Runtime], case: str, body: dict[str, Any]
) -> None:
    fast, general = runtimes
    assert handle(fast, as_json(body), raw=True) == handle(general, as_json(body), raw=False)


def as_json(body: dict[str, Any]) -> dict[str, Any]:
    """What botocore's JSON serializer sends: datetimes as epoch seconds."""
    return json.loads(json.dumps(body, default=lambda value: value.timestamp()))


def test_a_large_buffer_is_written_in_the_background_and_reads_see_everything(
    runtimes: list[Runtime],
) -> None:
    fast, _ = runtimes
    store = metric_store(fast)
    data = [
        {"MetricName": "Bulk", "Value": float(i), "Timestamp": START - 3600 + i % 3000} for i in range(1000)
    ]
    for _ in range(12):  # 12,000 points: past the threshold twice
        assert ingest.put_simple_metric_data(fast, ACCOUNT, REGION, "App", data)
    key = (ACCOUNT, REGION, "App", "Bulk", "[]")
    assert dict(store.resolutions(key)) == {60: 12_000}  # a read waits for a write in progress
    assert store._pending == []


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"", b"\xff\xfe", b'{"Namespace": 5}'])
def test_raw_json_handler_gives_the_body_errors_of_the_usual_pipeline(
    runtimes: list[Runtime], body: bytes
) -> None:
    fast, general = runtimes
    assert handle(fast, body, raw=True) == handle(general, body, raw=False)
    assert gc.isenabled()


def test_garbage_collector_is_paused_only_while_the_raw_body_is_handled(runtimes: list[Runtime]) -> None:
    seen: list[bool] = []
    ingest.add_listener(lambda runtime, keys: seen.append(gc.isenabled()))
    try:
        handle(runtimes[0], {"Namespace": "App", "MetricData": [{"MetricName": "M", "Value": 1.0}]}, raw=True)
    finally:
        ingest._listeners.pop()
    assert seen == [False] and gc.isenabled()
