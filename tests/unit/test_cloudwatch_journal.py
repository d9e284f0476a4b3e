"""Acknowledged metric points survive a crash of the daemon: the metric store's journal is replayed
exactly once (nothing lost, nothing counted twice), whatever point of a flush the crash hit."""

from __future__ import annotations

from pathlib import Path

from onebox.services.cloudwatch.metric_store import MetricKey, MetricStore, Sample

KEY: MetricKey = ("000000000000", "us-east-1", "App", "Latency", "[]")
OTHER: MetricKey = ("000000000000", "us-east-1", "App", "Errors", '[["Host","a"]]')


def _points(store: MetricStore, key: MetricKey) -> list[float]:
    buckets, _ = store.buckets(key, 0, 10_000, 10_000)
    # Each raw value with its count: a point replayed twice would show up twice.
    return sorted(v for b in buckets.values() for v, count in b.values.items() for _ in range(int(count)))


def _add(store: MetricStore, key: MetricKey, values: list[float], ts: int = 60) -> None:
    store.add([Sample(key, 60, ts, "None", v, 1.0, v, v, v) for v in values], now=100.0)


def test_points_never_flushed_are_replayed_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "metrics.db"
    crashed = MetricStore(path)
    _add(crashed, KEY, [1.0, 2.0])
    _add(crashed, OTHER, [7.0])
    # The process dies here: no flush, no close. A new daemon opens the same files.
    reopened = MetricStore(path)
    assert _points(reopened, KEY) == [1.0, 2.0]
    assert _points(reopened, OTHER) == [7.0]
    assert {m.name for m in reopened.metrics("000000000000", "us-east-1")} == {"Latency", "Errors"}
    reopened.close()


def test_flushed_points_are_not_replayed_twice(tmp_path: Path) -> None:
    path = tmp_path / "metrics.db"
    first = MetricStore(path)
    _add(first, KEY, [1.0])
    first.flush()
    _add(first, KEY, [2.0])  # in the journal only
    second = MetricStore(path)  # crash of `first`
    assert _points(second, KEY) == [1.0, 2.0]
    _add(second, KEY, [3.0])
    third = MetricStore(path)  # crash of `second` after its flush (the read above flushed)
    assert _points(third, KEY) == [1.0, 2.0, 3.0]
    third.close()
    assert sorted(p.name for p in tmp_path.iterdir() if ".journal." in p.name) == []


def test_a_record_cut_short_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "metrics.db"
    crashed = MetricStore(path)
    _add(crashed, KEY, [5.0])
    journal = next(p for p in tmp_path.iterdir() if ".journal." in p.name)
    with journal.open("ab") as f:
        f.write(b"\x40\x00\x00\x00partial")  # a write the crash interrupted: never acknowledged
    reopened = MetricStore(path)
    assert _points(reopened, KEY) == [5.0]
    reopened.close()


def test_in_memory_store_has_no_journal(tmp_path: Path) -> None:
    store = MetricStore(None)
    _add(store, KEY, [1.0])
    assert _points(store, KEY) == [1.0]
    store.close()
