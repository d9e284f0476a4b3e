"""The S3 storage layer: versioning rules, durable blobs, inline objects, listing order."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from onebox.services.s3 import bodies
from onebox.services.s3.storage import NULL_VERSION, Storage, Version


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    store = Storage(tmp_path / "s3")
    yield store
    store.close()


def _version(key: str, version_id: str = NULL_VERSION, marker: bool = False, data: bytes = b"x") -> Version:
    return Version(
        "bucket",
        key,
        version_id,
        True,
        marker,
        None,
        len(data),
        '"e"',
        1.0,
        {},
        {},
        data=None if marker else data,
    )


def _ids(storage: Storage, key: str) -> list[tuple[str, bool, bool]]:
    return [
        (v.version_id, v.is_latest, v.is_marker)
        for v in storage.list_versions("bucket", "", None, key, 100)
        if v.key == key
    ]


def test_unversioned_puts_replace_the_null_version(storage: Storage) -> None:
    storage.put(_version("k", data=b"1"), "")
    storage.put(_version("k", data=b"2"), "")
    assert _ids(storage, "k") == [("null", True, False)]
    current = storage.get("bucket", "k")
    assert current is not None and storage.inline_data(current.seq) == b"2"


def test_enabled_keeps_versions_and_suspended_has_one_null(storage: Storage) -> None:
    storage.put(_version("k"), "")
    storage.put(_version("k", "v1"), "Enabled")
    storage.put(_version("k", "m1", marker=True), "Enabled")
    assert _ids(storage, "k") == [("m1", True, True), ("v1", False, False), ("null", False, False)]
    storage.put(_version("k", marker=True), "Suspended")  # replaces the null version
    storage.put(_version("k", marker=True), "Suspended")  # and keeps a single null marker
    assert _ids(storage, "k") == [("null", True, True), ("m1", False, True), ("v1", False, False)]
    removed, _ = storage.delete_version("bucket", "k", "null")
    assert removed is not None and removed.is_marker
    assert _ids(storage, "k") == [("m1", True, True), ("v1", False, False)]
    storage.delete_version("bucket", "k", "m1")
    assert _ids(storage, "k") == [("v1", True, False)]


def test_blobs_are_named_by_id_never_by_key(storage: Storage, tmp_path: Path) -> None:
    blob = bodies.write_bytes(storage, b"y" * 100_000, ("crc32", "sha256"))
    assert blob.blob_id is not None
    path = storage.blob_path(blob.blob_id)
    assert path.read_bytes() == b"y" * 100_000
    assert path.resolve().is_relative_to((tmp_path / "s3").resolve())
    assert set(blob.checksums) == {"crc32", "sha256"}
    assert not any(storage.tmp_dir.iterdir())


def test_leftover_temporary_files_are_swept_at_open(tmp_path: Path) -> None:
    first = Storage(tmp_path / "s3")
    writer = first.writer()
    writer.write(b"never committed")
    first.close()
    assert any(first.tmp_dir.iterdir())
    second = Storage(tmp_path / "s3")
    assert not any(second.tmp_dir.iterdir())
    second.close()


def test_listing_is_in_utf8_byte_order_with_prefix(storage: Storage) -> None:
    for key in ["b", "a/2", "a/1", "é", "z", "a"]:
        storage.put(_version(key), "")
    assert [v.key for v in storage.list_latest("bucket", "", "", 100)] == ["a", "a/1", "a/2", "b", "z", "é"]
    assert [v.key for v in storage.list_latest("bucket", "", "a/", 100)] == ["a/1", "a/2"]
    assert [v.key for v in storage.list_latest("bucket", "a/1", "a/", 100)] == ["a/2"]


def test_group_commit_isolates_a_failing_write(storage: Storage) -> None:
    errors: list[BaseException] = []

    def refuse(current: Version | None) -> None:
        raise ValueError("refused")

    def writer(index: int) -> None:
        try:
            if index % 5 == 0:
                storage.put_if(_version(f"k{index}"), "", refuse)
            else:
                storage.put(_version(f"k{index}"), "")
        except ValueError as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 10
    keys = {v.key for v in storage.list_latest("bucket", "", "", 1000)}
    assert keys == {f"k{i}" for i in range(50) if i % 5}
