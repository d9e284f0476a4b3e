"""What every S3 handler module shares: the storage singleton, bucket lookup, owners, errors."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.services.s3.storage import Storage
from onebox.store import NameScope, Record

if TYPE_CHECKING:
    from onebox.runtime import Runtime

BUCKET = "s3:bucket"
ANONYMOUS = "anonymous"

_storages: dict[str, Storage] = {}
_storages_lock = threading.Lock()

T = TypeVar("T")


def storage(runtime: Runtime) -> Storage:
    """The one Storage of this daemon's state directory (opened on first use)."""
    root = str(runtime.config.state_dir / "s3")
    found = _storages.get(root)
    if found is None:
        with _storages_lock:
            found = _storages.get(root)
            if found is None:
                found = Storage(runtime.config.state_dir / "s3")
                _storages[root] = found
    return found


# Blocking file and index work runs here, off the event loop. Most of it waits on fsync or on a
# group commit, so many threads let concurrent writes overlap (and share commits).
_io = ThreadPoolExecutor(max_workers=64, thread_name_prefix="s3-io")


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_io, function, *args)


def canonical_user_id(account: str) -> str:
    """S3 names owners by a 64-hex canonical user id; onebox derives it from the account id."""
    return hashlib.sha256(f"onebox-canonical-user:{account}".encode()).hexdigest()


def owner(account: str) -> dict[str, str]:
    return {"DisplayName": f"onebox-{account}", "ID": canonical_user_id(account)}


def now(ctx: RequestContext) -> float:
    return ctx.runtime.clock.time()


def timestamp(seconds: float) -> datetime:
    # S3 reports times to the second in headers and to the millisecond in listings.
    return datetime.fromtimestamp(int(seconds * 1000) / 1000, UTC)


def no_such_bucket(name: str) -> AwsError:
    return AwsError("NoSuchBucket", "The specified bucket does not exist", 404, fields={"BucketName": name})


def no_such_key(key: str) -> AwsError:
    return AwsError("NoSuchKey", "The specified key does not exist.", 404, fields={"Key": key})


def access_denied() -> AwsError:
    return AwsError("AccessDenied", "Access Denied", 403)


# Bucket records by name, per store. Every bucket write goes through this module's callers in this
# process (remember_bucket/forget_bucket), so the cache never serves a stale record; it saves a
# store read on every object request.
_buckets: dict[int, dict[str, Record]] = {}


def find_bucket(ctx: RequestContext, name: str) -> Record | None:
    cache = _buckets.setdefault(id(ctx.runtime.store), {})
    record = cache.get(name)
    if record is None:
        record = ctx.runtime.store.get_by_name(BUCKET, "", "", name, scope=NameScope.GLOBAL)
        if record is not None:
            cache[name] = record
    return record


def remember_bucket(ctx: RequestContext, record: Record) -> None:
    _buckets.setdefault(id(ctx.runtime.store), {})[record.id] = record


def forget_bucket(ctx: RequestContext, name: str) -> None:
    _buckets.get(id(ctx.runtime.store), {}).pop(name, None)


def bucket_for(ctx: RequestContext, name: str, action: str, key: str | None = None) -> Record:
    """The bucket a request names, once the caller may perform `action` (s3:GetObject...) on it."""
    record = find_bucket(ctx, name)
    if record is None:
        raise no_such_bucket(name)
    # Imported here: access imports this module.
    from onebox.services.s3 import access

    access.authorize(ctx, record, action, key)
    return record


def versioning_state(bucket: Record) -> str:
    """ "Enabled", "Suspended", or "" for a bucket that was never versioned."""
    return str(bucket.spec.get("Versioning") or "")


_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def check_bucket_name(name: str) -> None:
    """AWS's general-purpose bucket naming rules."""
    if (
        not _BUCKET_NAME.match(name)
        or ".." in name
        or ".-" in name
        or "-." in name
        or _IP_ADDRESS.match(name)
        or name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))
    ):
        raise AwsError(
            "InvalidBucketName", "The specified bucket is not valid.", 400, fields={"BucketName": name}
        )


def check_key(key: str) -> None:
    if len(key.encode("utf-8")) > 1024:
        raise AwsError(
            "KeyTooLongError", "Your key is too long", 400, fields={"Size": str(len(key.encode()))}
        )
    if key == "":
        raise AwsError("InvalidArgument", "Invalid argument: key is empty", 400)


def quote_etag(md5_hex: str) -> str:
    return f'"{md5_hex}"'
