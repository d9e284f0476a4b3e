"""S3: small-object throughput against moto, large-object throughput against nginx, the daemon's
peak memory during a 5 GiB upload, and ListObjectsV2 over 100,000 keys.

- 4 KiB PUT and GET per second, 16 connections (wrk replaying one SigV4-signed request; S3 lets a
  signature be reused for 15 minutes), onebox vs moto_server.
- 1 GiB PUT and GET over loopback with curl, onebox (presigned URLs, so the client hashes nothing)
  vs nginx (Debian's package, WebDAV PUT into a directory, then a static GET of the same file).
- Peak RSS of the daemon while a 5 GiB object streams in (goal: under 200 MB).
- ListObjectsV2 over 100,000 keys (1,000 per page), keys written by wrk through anonymous PUTs a
  bucket policy allows. onebox only: moto takes over ten minutes just to be filled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from bench.peers import free_port, moto_server, onebox, wait_http

CONNECTIONS = 16
DURATION_SECONDS = 5
SMALL = 4096
LARGE = 1024**3
HUGE = 5 * 1024**3
LIST_KEYS = 100_000
BUCKET = "bench-bucket"


def _client(endpoint: str):  # noqa: ANN202 - boto3 clients are untyped
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def _signed(method: str, url: str, body: bytes) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=body, headers={})
    request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    S3SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def _wrk(url: str, lua: str, duration: int = DURATION_SECONDS) -> float:
    """Successful (2xx) requests per second: moto answers some concurrent PUTs with 500s."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    try:
        result = subprocess.run(
            ["wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{duration}s", "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        Path(script.name).unlink()
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", result.stdout)
    if not total:
        raise RuntimeError(result.stdout + result.stderr)
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    seconds = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    return (int(total.group(1)) - (int(failed.group(1)) if failed else 0)) / seconds


KEYS = 64  # requests rotate over this many keys, each signed once, so writers rarely collide


def _rotating_lua(method: str, endpoint: str, body: bytes, body_file: Path | None) -> str:
    """A wrk script cycling through KEYS pre-signed requests (one per key)."""
    lines = ["local requests = {}", "local counter = 0"]
    if body_file is not None:
        lines.append(f'local f = io.open("{body_file}", "rb"); local body = f:read("*all"); f:close()')
    else:
        lines.append("local body = nil")
    lines.append("init = function(args)")
    for index in range(KEYS):
        path = f"/{BUCKET}/small-{index:03d}"
        headers = _signed(method, endpoint + path, body)
        table = ", ".join(f'["{key}"] = "{value}"' for key, value in headers.items())
        lines.append(f'  requests[{index}] = wrk.format("{method}", "{path}", {{{table}}}, body)')
    lines.append("end")
    lines.append(f"request = function() counter = counter + 1; return requests[counter % {KEYS}] end")
    return "\n".join(lines) + "\n"


def small_objects(endpoint: str, body_file: Path) -> tuple[float, float]:
    """(PUT/s, GET/s) of 4 KiB objects, 16 connections."""
    body = body_file.read_bytes()
    put = _rotating_lua("PUT", endpoint, body, body_file)
    get = _rotating_lua("GET", endpoint, b"", None)
    _wrk(endpoint + "/", put, 2)  # warm-up, and every key exists before the GETs
    put_rate = _wrk(endpoint + "/", put)
    _wrk(endpoint + "/", get, 2)
    get_rate = _wrk(endpoint + "/", get)
    return put_rate, get_rate


def _curl_seconds(*args: str) -> float:
    started = time.monotonic()
    result = subprocess.run(["curl", "-s", "-f", "-o", "/dev/null", *args], capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"curl {args} failed: {result.stderr!r}")
    return time.monotonic() - started


def large_object_onebox(endpoint: str, path: Path, key: str) -> tuple[float, float]:
    client = _client(endpoint)
    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600
    )
    get_url = client.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600
    )
    put = _curl_seconds("-X", "PUT", "-H", "Content-Type:", "-T", str(path), put_url)
    get = _curl_seconds(get_url)
    return put, get


@contextmanager
def nginx() -> Iterator[tuple[str, Path]]:
    """nginx serving and accepting (WebDAV PUT) files in a temp directory, on loopback."""
    with tempfile.TemporaryDirectory() as root:
        port = free_port()
        data = Path(root, "data")
        data.mkdir()
        config = Path(root, "nginx.conf")
        config.write_text(
            f"""
daemon off;
user root;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {root}/body;
    client_max_body_size 0;
    server {{
        listen 127.0.0.1:{port};
        root {data};
        location / {{ dav_methods PUT; create_full_put_path on; }}
    }}
}}
"""
        )
        process = subprocess.Popen(["nginx", "-c", str(config), "-p", root], stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}/")
            yield f"http://127.0.0.1:{port}", data
        finally:
            process.terminate()
            process.wait(timeout=30)


def large_object_nginx(path: Path) -> tuple[float, float]:
    with nginx() as (endpoint, _):
        put = _curl_seconds("-X", "PUT", "-T", str(path), f"{endpoint}/large.bin")
        get = _curl_seconds(f"{endpoint}/large.bin")
    return put, get


def _daemon_pid(endpoint: str) -> int:
    with urllib.request.urlopen(f"{endpoint}/_onebox/health", timeout=5) as response:
        return int(json.loads(response.read())["pid"])


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def huge_upload_peak_rss(endpoint: str, path: Path) -> tuple[float, float]:
    """(peak RSS in MiB during the upload, the RSS before it)."""
    pid = _daemon_pid(endpoint)
    before = _peak_rss_mib(pid)
    # Reset the high-water mark so the figure is the upload's own peak.
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    large_object_onebox(endpoint, path, "huge.bin")
    return _peak_rss_mib(pid), before


def _allow_anonymous_puts(endpoint: str) -> None:
    client = _client(endpoint)
    try:
        client.delete_public_access_block(Bucket=BUCKET)
    except client.exceptions.ClientError:
        pass
    client.put_bucket_policy(
        Bucket=BUCKET,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{BUCKET}/*",
                    }
                ],
            }
        ),
    )


def fill_keys(endpoint: str, count: int) -> int:
    """About `count` distinct small keys, written by wrk as anonymous PUTs, in runs of a few
    seconds (wrk cannot stop after N requests); returns how many PUTs completed."""
    done = 0
    rate = 500.0
    while done < count:
        seconds = max(1, min(10, round((count - done) / rate)))
        lua = f"""
local counter = 0
init = function(args) counter = tonumber(args[1]) end
wrk.method = "PUT"
wrk.body = "x"
request = function()
  counter = counter + 1
  return wrk.format(nil, string.format("/{BUCKET}/dir-%03d/key-%07d", counter % 100, counter))
end
"""
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(lua)
        try:
            result = subprocess.run(
                ["wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{seconds}s", "-s", script.name]
                + [f"{endpoint}/", "--", str(done)],
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            Path(script.name).unlink()
        match = re.search(r"(\d+) requests in", result.stdout)
        if not match or "Non-2xx" in result.stdout:
            raise RuntimeError(result.stdout + result.stderr)
        completed = int(match.group(1))
        rate = max(completed / seconds, 1.0)
        # Requests still in flight when wrk stopped may have been written too: skip past them.
        done += completed + CONNECTIONS
    return done


def list_all(endpoint: str) -> tuple[int, float]:
    client = _client(endpoint)
    started = time.monotonic()
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        count += len(page.get("Contents", []))
    return count, time.monotonic() - started


def run() -> None:
    print("S3", flush=True)
    mib = LARGE / 1024**2
    with tempfile.TemporaryDirectory() as scratch:
        small = Path(scratch, "small.bin")
        small.write_bytes(os.urandom(SMALL))
        large = Path(scratch, "large.bin")
        with large.open("wb") as out:
            block = os.urandom(1024 * 1024)
            for _ in range(LARGE // len(block)):
                out.write(block)
        huge = Path(scratch, "huge.bin")
        with huge.open("wb") as out:
            out.truncate(HUGE)  # sparse: reads as zeros, costs no disk until onebox writes it

        with moto_server() as (endpoint, _):
            _client(endpoint).create_bucket(Bucket=BUCKET)
            moto_put, moto_get = small_objects(endpoint, small)
        nginx_put, nginx_get = large_object_nginx(large)
        with onebox() as (endpoint, _):
            _client(endpoint).create_bucket(Bucket=BUCKET)
            put, get = small_objects(endpoint, small)
            print(
                f"  4 KiB PUT ({CONNECTIONS} conns)  onebox {put:8.0f}/s   moto {moto_put:8.0f}/s"
                f"   ratio {put / moto_put:5.1f}x  (goal: 5x)",
                flush=True,
            )
            print(
                f"  4 KiB GET ({CONNECTIONS} conns)  onebox {get:8.0f}/s   moto {moto_get:8.0f}/s"
                f"   ratio {get / moto_get:5.1f}x  (goal: 5x)",
                flush=True,
            )
            large_put, large_get = large_object_onebox(endpoint, large, "large.bin")
            print(
                f"  1 GiB PUT             onebox {mib / large_put:8.0f} MiB/s   nginx {mib / nginx_put:8.0f} MiB/s"
                f"   ratio {nginx_put / large_put:5.2f}x",
                flush=True,
            )
            print(
                f"  1 GiB GET             onebox {mib / large_get:8.0f} MiB/s   nginx {mib / nginx_get:8.0f} MiB/s"
                f"   ratio {nginx_get / large_get:5.2f}x  (goal: 0.5x)",
                flush=True,
            )
            rss, idle = huge_upload_peak_rss(endpoint, huge)
            print(
                f"  5 GiB PUT peak RSS    {rss:8.0f} MiB (idle daemon {idle:.0f} MiB)  (goal: under 200 MB)",
                flush=True,
            )
            _client(endpoint).delete_object(Bucket=BUCKET, Key="huge.bin")
            _allow_anonymous_puts(endpoint)
            started = time.monotonic()
            fill_keys(endpoint, LIST_KEYS)
            filled = time.monotonic() - started
            listed, seconds = list_all(endpoint)
            print(
                f"  ListObjectsV2         {listed} keys in {seconds:.2f} s ({listed / seconds:,.0f} keys/s,"
                f" 1,000 per page; written in {filled:.0f} s by anonymous PUTs)",
                flush=True,
            )


if __name__ == "__main__":
    run()
