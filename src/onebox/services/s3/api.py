"""S3's handler table, composed from one module per area, and its lifecycle sweeper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from onebox.aws.dispatch import ServiceApi
from onebox.services.s3 import (
    bucket_access,
    buckets,
    cors,
    lifecycle,
    listing,
    multipart,
    notifications,
    objects,
    website,
)

if TYPE_CHECKING:
    from onebox.controllers import Controller
    from onebox.runtime import Runtime

api = ServiceApi("s3").include(
    buckets.api,
    objects.api,
    listing.api,
    multipart.api,
    bucket_access.api,
    cors.api,
    website.api,
    lifecycle.api,
    notifications.api,
)


def controllers(runtime: Runtime) -> list[tuple[Controller[Any], AsyncIterator[Any] | None]]:
    return [(lifecycle.LifecycleSweeper(runtime), lifecycle.bucket_changes(runtime))]
