"""Durability: acknowledged PUTs survive kill -9 whole, nothing partial is ever visible, and
concurrent PUTs to one key leave exactly one whole winner."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from botocore.config import Config

from tests.conftest import process_gone

MIB = 1024 * 1024


def _body(tag: str, size: int) -> bytes:
    seed = hashlib.sha256(tag.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def test_concurrent_puts_to_one_key_leave_one_whole_winner(onebox) -> None:
    s3 = onebox.client("s3", config=Config(max_pool_connections=16, retries={"max_attempts": 1}))
    bucket = f"race-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    bodies = {_body(f"writer-{i}", 64 * 1024 + i * 4099) for i in range(16)}
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda body: s3.put_object(Bucket=bucket, Key="contended", Body=body), bodies))
    got = s3.get_object(Bucket=bucket, Key="contended")["Body"].read()
    assert got in bodies
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["contended"]


def test_kill_9_during_concurrent_uploads_keeps_every_acknowledged_object_whole(fresh_onebox) -> None:
    box = fresh_onebox
    s3 = box.client(
        "s3", config=Config(max_pool_connections=8, retries={"max_attempts": 1}, connect_timeout=5)
    )
    bucket = "durable-bucket"
    s3.create_bucket(Bucket=bucket)
    acknowledged: dict[str, str] = {}
    attempted: dict[str, set[str]] = {}
    lock = threading.Lock()
    enough = threading.Event()
    stop = threading.Event()

    def writer(worker: int) -> None:
        number = 0
        while not stop.is_set():
            number += 1
            # Small bodies stay in memory; every third one is large enough to stream to disk.
            size = 2 * MIB + number if number % 3 == 0 else 10_000 + worker * 7 + number
            key = f"w{worker}/obj-{number}" if number % 4 else "shared"
            body = _body(f"{worker}-{number}", size)
            digest = hashlib.md5(body).hexdigest()
            with lock:
                attempted.setdefault(key, set()).add(digest)
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
            except Exception:
                return  # the daemon is gone
            with lock:
                acknowledged[key] = digest
                if len(acknowledged) >= 40:
                    enough.set()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    assert enough.wait(120)
    daemon_pid = int((box.state_dir / "run" / "daemon.pid").read_text())
    os.kill(daemon_pid, signal.SIGKILL)
    assert process_gone(daemon_pid)
    stop.set()
    for thread in threads:
        thread.join(60)

    result = box.cli("up", "--detach", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    s3 = box.client("s3")
    listed = {
        o["Key"]: o
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    }
    # Every acknowledged object is there and whole.
    for key, digest in acknowledged.items():
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if key == "shared":
            assert hashlib.md5(body).hexdigest() in attempted[key]
        else:
            assert hashlib.md5(body).hexdigest() == digest, key
    # Nothing else is visible but whole objects someone tried to write.
    for key, entry in listed.items():
        assert key in attempted, key
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.md5(body).hexdigest() in attempted[key], key
        assert entry["ETag"].strip('"') == hashlib.md5(body).hexdigest()
    # Half-written temporary files of the killed daemon were swept, never adopted.
    assert not any((box.state_dir / "s3" / "tmp").iterdir())
