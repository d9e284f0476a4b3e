"""Requests per second of simple signed API calls through onebox and moto_server, driven by wrk."""

from __future__ import annotations

import re
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.peers import moto_server, onebox

DURATION_SECONDS = 5
CONNECTIONS = 16
THREADS = 1  # wrk on one core, the server on the other


@dataclass(frozen=True)
class Call:
    name: str
    service: str  # SigV4 scope
    body: str


CALLS = (
    Call("sts GetCallerIdentity", "sts", "Action=GetCallerIdentity&Version=2011-06-15"),
    Call("ec2 DescribeAvailabilityZones", "ec2", "Action=DescribeAvailabilityZones&Version=2016-11-15"),
)


def signed_headers(endpoint: str, call: Call) -> dict[str, str]:
    request = AWSRequest(
        method="POST",
        url=endpoint + "/",
        data=call.body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials("test", "test"), call.service, "us-east-1").add_auth(request)
    return {key: value for key, value in request.headers.items()}


def check(endpoint: str, call: Call) -> None:
    request = urllib.request.Request(
        endpoint + "/", data=call.body.encode(), headers=signed_headers(endpoint, call), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status


def wrk(endpoint: str, call: Call) -> float:
    headers = signed_headers(endpoint, call)
    lines = ['wrk.method = "POST"', f'wrk.body = "{call.body}"']
    lines += [f'wrk.headers["{key}"] = "{value}"' for key, value in headers.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        result = subprocess.run(
            [
                "wrk",
                "-t",
                str(THREADS),
                "-c",
                str(CONNECTIONS),
                "-d",
                f"{DURATION_SECONDS}s",
                "-s",
                script.name,
                endpoint + "/",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        Path(script.name).unlink()
    if "Non-2xx" in result.stdout:
        raise RuntimeError(f"non-2xx answers while benchmarking {call.name} at {endpoint}:\n{result.stdout}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if not match:
        raise RuntimeError(result.stdout + result.stderr)
    return float(match.group(1))


def run() -> None:
    print(f"API throughput (wrk, {CONNECTIONS} connections, {DURATION_SECONDS} s, signed SigV4 POSTs)")
    results: dict[str, dict[str, float]] = {}
    with onebox() as (endpoint, _):
        for call in CALLS:
            check(endpoint, call)
            wrk(endpoint, call)  # warm-up: model loading and first-call caches
            results.setdefault(call.name, {})["onebox"] = wrk(endpoint, call)
    with moto_server() as (endpoint, _):
        for call in CALLS:
            check(endpoint, call)
            wrk(endpoint, call)
            results[call.name]["moto"] = wrk(endpoint, call)
    for name, figures in results.items():
        ratio = figures["onebox"] / figures["moto"]
        print(
            f"  {name:<32} onebox {figures['onebox']:9.0f}/s   moto {figures['moto']:9.0f}/s   "
            f"ratio {ratio:5.1f}x  (goal: 5x)"
        )
