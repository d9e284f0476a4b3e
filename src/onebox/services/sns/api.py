"""SNS's handler table and its delivery worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from onebox.aws.dispatch import ServiceApi
from onebox.controllers import Controller
from onebox.runtime import Runtime
from onebox.services.sns import publishing, routes, subscriptions, topics
from onebox.services.sns.model import DELIVERY
from onebox.services.sns.worker import DeliveryWorker, PendingSubscriptionSweeper, delivery_changes

api = ServiceApi("sns").include(topics.api, subscriptions.api, publishing.api)

__all__ = ["api", "controllers", "routes"]


def controllers(runtime: Runtime) -> list[tuple[Controller[Any], AsyncIterator[Any] | None]]:
    changes = runtime.store.changes.subscribe([DELIVERY])
    return [(DeliveryWorker(runtime), delivery_changes(changes)), (PendingSubscriptionSweeper(runtime), None)]
