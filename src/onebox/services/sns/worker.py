"""The delivery worker: sends each recorded delivery, retrying on the clock with the delivery policy.

A controller keyed by delivery record: a new delivery wakes it through the store's change feed, the
resync (and the first one after a restart) picks up whatever is still pending, and a failed attempt is
retried after the policy's delay (`RequeueAfter`, which sleeps on the runtime clock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable

from onebox.controllers import Controller, RequeueAfter
from onebox.runtime import Runtime
from onebox.services.sns import feedback, transport
from onebox.services.sns.model import DELIVERY, SUBSCRIPTION
from onebox.store.changes import Subscription

log = logging.getLogger("onebox.sns.delivery")

Key = tuple[str, str, str]


def retry_delay(policy: dict[str, int | str], retry: int) -> float:
    """Seconds before retry number `retry` (1-based) under an SNS healthyRetryPolicy."""
    minimum = float(policy.get("minDelayTarget", 20))
    maximum = float(policy.get("maxDelayTarget", 20))
    total = int(policy.get("numRetries", 3))
    no_delay = int(policy.get("numNoDelayRetries", 0))
    min_delay = int(policy.get("numMinDelayRetries", 0))
    max_delay = int(policy.get("numMaxDelayRetries", 0))
    if retry <= no_delay:
        return 0.0
    if retry <= no_delay + min_delay:
        return minimum
    backoff = max(total - no_delay - min_delay - max_delay, 0)
    step = retry - no_delay - min_delay
    if step > backoff or backoff == 0:
        return maximum
    fraction = step / backoff
    function = policy.get("backoffFunction", "linear")
    if function in ("exponential", "geometric") and minimum > 0:
        return minimum * (maximum / minimum) ** fraction
    if function == "arithmetic":
        return minimum + (maximum - minimum) * fraction**2
    return minimum + (maximum - minimum) * fraction


class DeliveryWorker(Controller[Key]):
    name = "sns-delivery"
    resync_interval = 30.0
    concurrency = 16

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime

    async def list_keys(self) -> Iterable[Key]:
        return [(r.account, r.region, r.id) for r in self.runtime.store.list_all(DELIVERY)]

    async def reconcile(self, key: Key) -> None:
        store = self.runtime.store
        record = store.get(DELIVERY, *key)
        if record is None:
            return
        now = self.clock.time()
        due = float(record.status.get("NextAttemptAt", 0))
        if due > now:
            raise RequeueAfter(due - now)
        spec = record.spec
        kind = spec["Document"]["Type"]
        if (
            kind != "UnsubscribeConfirmation"
            and store.get(SUBSCRIPTION, record.account, record.region, spec["SubscriptionId"]) is None
        ):
            store.delete_by_id(DELIVERY, *key)  # unsubscribed meanwhile: nothing to deliver to
            return
        state_dir = self.runtime.config.state_dir
        if spec["Protocol"] in ("http", "https"):
            outcome = await asyncio.to_thread(transport.send_http, state_dir, spec)
        else:
            outcome = await asyncio.to_thread(transport.send_email, state_dir, spec, now)
        attempts = int(record.status.get("Attempts", 0)) + 1
        retry = spec["Retry"]
        if outcome.delivered or not outcome.retryable or attempts > int(retry.get("numRetries", 3)):
            store.delete_by_id(DELIVERY, *key)
            feedback.record(self.runtime, record, outcome, attempts)
            if not outcome.delivered:
                log.warning(
                    "sns delivery %s to %s failed for good: %s", key[2], spec["Endpoint"], outcome.error
                )
            return
        delay = retry_delay(retry, attempts)
        status = {"Attempts": attempts, "NextAttemptAt": now + delay, "LastError": outcome.error}
        store.update_status(DELIVERY, *key, status)
        raise RequeueAfter(delay)


async def delivery_changes(subscription: Subscription) -> AsyncIterator[Key]:
    """New deliveries from the change feed (a worker's own status writes and deletes are skipped)."""
    async for change in subscription:
        if not change.deleted and not change.status_only:
            yield (change.account, change.region, change.id)


class PendingSubscriptionSweeper(Controller[Key]):
    """Deletes subscriptions still unconfirmed when their two-day confirmation token expires, as AWS does."""

    name = "sns-pending-subscriptions"
    resync_interval = 3600.0
    concurrency = 1

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.clock)
        self.runtime = runtime

    async def list_keys(self) -> Iterable[Key]:
        return [
            (r.account, r.region, r.id)
            for r in self.runtime.store.list_all(SUBSCRIPTION)
            if r.spec.get("PendingConfirmation")
        ]

    async def reconcile(self, key: Key) -> None:
        from onebox.services.sns.subscriptions import TOKEN_LIFETIME

        record = self.runtime.store.get(SUBSCRIPTION, *key)
        if record is None or not record.spec.get("PendingConfirmation"):
            return
        remaining = record.created_at.timestamp() + TOKEN_LIFETIME - self.clock.time()
        if remaining > 0:
            raise RequeueAfter(remaining)
        self.runtime.store.delete_by_id(SUBSCRIPTION, *key)
