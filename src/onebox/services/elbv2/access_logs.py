"""Access logs to S3 (attributes access_logs.s3.enabled / bucket / prefix), as ALB delivers them: one
gzip file per balancer and 5-minute interval (on the clock), named and placed as AWS does:

    [prefix/]AWSLogs/ACCOUNT/elasticloadbalancing/REGION/yyyy/mm/dd/
        ACCOUNT_elasticloadbalancing_REGION_app.NAME.ID_YYYYMMDDTHHMMZ_IP_RANDOM.log.gz

HAProxy logs each request to the daemon (host/loadbalancer/access_log.py); the controller hands the
records here on every pass (`collect`), and `deliver` writes the files through S3's own PutObject
handler, as the bucket's owner (the bucket check happens at ModifyLoadBalancerAttributes, `check_bucket`).

Lines wait in memory: a daemon that dies loses at most its last interval. Touching the file
`STATE/elb/flush-access-logs` makes the controller deliver what it holds at once (for tests).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import secrets
import string
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.host.loadbalancer import access_log
from onebox.host.loadbalancer.paths import elb_dir
from onebox.host.loadbalancer.spec import LoadBalancerSpec
from onebox.runtime import Runtime
from onebox.store import Record
from onebox.store.ids import new_request_id

log = logging.getLogger(__name__)

INTERVAL = 300.0  # AWS delivers every 5 minutes
FLUSH_TRIGGER = "flush-access-logs"
_RANDOM = string.ascii_lowercase + string.digits


def trigger_path(state_dir: Path) -> Path:
    return elb_dir(state_dir) / FLUSH_TRIGGER


def denied(bucket: str) -> AwsError:
    return AwsError(
        "InvalidConfigurationRequest", f"Access Denied for bucket: {bucket}. Please check S3bucket permission"
    )


def _find_bucket(ctx: RequestContext, name: str) -> Record | None:
    try:
        from onebox.services.s3.common import find_bucket
    except ImportError:
        return None
    return find_bucket(ctx, name)


def check_bucket(ctx: RequestContext, bucket: str) -> None:
    """ModifyLoadBalancerAttributes: the bucket must exist, and one of another account must have a
    policy that lets the balancer put objects (AWS checks the policy; onebox checks it mentions
    s3:PutObject). A bucket of the balancer's own account is always writable."""
    record = _find_bucket(ctx, bucket)
    if record is None:
        raise denied(bucket)
    if record.account != ctx.account_id:
        policy = record.spec.get("Policy") or ""
        if "s3:PutObject" not in policy and "s3:*" not in policy:
            raise denied(bucket)


def object_key(lb: Record, interval_end: float, ip: str, prefix: str) -> str:
    end = datetime.fromtimestamp(interval_end, UTC)
    name = f"app.{lb.name}.{lb.id}"
    random = "".join(secrets.choice(_RANDOM) for _ in range(8))
    file = f"{lb.account}_elasticloadbalancing_{lb.region}_{name}_{end:%Y%m%dT%H%M}Z_{ip}_{random}.log.gz"
    path = f"AWSLogs/{lb.account}/elasticloadbalancing/{lb.region}/{end:%Y/%m/%d}/{file}"
    return f"{prefix.strip('/')}/{path}" if prefix.strip("/") else path


class AccessLogs:
    """Lines per balancer, waiting for their interval to end."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.collector: access_log.Collector | None = None
        self.lines: dict[str, list[tuple[float, str]]] = {}  # balancer key -> (time, line)
        self._trigger_seen: dict[str, float] = {}
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Listen for records before any balancer runs (records sent while nobody listens are lost)."""
        if self.collector is not None:
            return
        async with self._starting:
            if self.collector is None:
                try:
                    self.collector = await access_log.start_collector(self.runtime.config.state_dir)
                except OSError as error:
                    log.error("elbv2: cannot receive access logs: %s", error)

    async def collect(self, spec: LoadBalancerSpec) -> None:
        if self.collector is None:
            return
        records = self.collector.take(spec.key)
        if not records:
            return
        formatter = access_log.Formatter(spec)
        found = self.lines.setdefault(spec.key, [])
        for record in records:
            line = formatter.line(record)
            if line is not None:
                found.append(line)

    def _forced(self, key: str) -> bool:
        try:
            mtime = trigger_path(self.runtime.config.state_dir).stat().st_mtime
        except OSError:
            return False
        if self._trigger_seen.get(key) == mtime:
            return False
        self._trigger_seen[key] = mtime
        return True

    async def deliver(self, lb: Record, spec: LoadBalancerSpec, now: float) -> None:
        """Deliver the lines of every interval that has ended (all of them when asked to flush)."""
        forced = self._forced(spec.key)
        pending = self.lines.get(spec.key)
        if not pending:
            return
        attributes = lb.spec["Attributes"]
        by_interval: dict[float, list[str]] = {}
        keep: list[tuple[float, str]] = []
        for when, line in sorted(pending):
            end = (when // INTERVAL + 1) * INTERVAL
            if end <= now or forced:
                by_interval.setdefault(end, []).append(line)
            else:
                keep.append((when, line))
        self.lines[spec.key] = keep
        if attributes.get("access_logs.s3.enabled") != "true":
            return  # turned off meanwhile: AWS stops delivering
        bucket = attributes.get("access_logs.s3.bucket") or ""
        prefix = attributes.get("access_logs.s3.prefix") or ""
        ip = spec.vpc_addresses[0].address if spec.vpc_addresses else spec.address
        for end, lines in sorted(by_interval.items()):
            body = gzip.compress(("\n".join(lines) + "\n").encode())
            key = object_key(lb, end, ip, prefix)
            try:
                await _put(self.runtime, lb, bucket, key, body)
            except AwsError as error:
                log.warning("elbv2: access log %s to s3://%s not delivered: %s", key, bucket, error.message)

    def forget(self, key: str) -> None:
        self.lines.pop(key, None)
        self._trigger_seen.pop(key, None)
        if self.collector is not None:
            self.collector.take(key)

    def close(self) -> None:
        if self.collector is not None:
            self.collector.close()
            self.collector = None


async def _put(runtime: Runtime, lb: Record, bucket: str, key: str, body: bytes) -> None:
    """S3's PutObject, as the bucket's owner (ELB's delivery was allowed when the logs were enabled)."""
    from onebox.services.s3 import objects
    from onebox.services.s3.common import find_bucket

    context = RequestContext(
        runtime=runtime,
        service="s3",
        operation="PutObject",
        account_id=lb.account,
        region=lb.region,
        request_id=new_request_id(),
        request=HttpRequest("PUT", f"/{bucket}/{key}"),
    )
    record = find_bucket(context, bucket)
    if record is None:
        raise AwsError("NoSuchBucket", "The specified bucket does not exist", 404)
    context.account_id = record.account
    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body, "ContentType": "application/x-gzip"}
    await objects.put_object(context, params)
