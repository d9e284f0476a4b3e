"""Persistence for every resource: records, ids/ARNs, change events, pagination, filters and tags."""

from onebox.store.changes import Change, ChangeFeed, Subscription
from onebox.store.db import Store
from onebox.store.errors import AlreadyExists, Busy, Conflict, NotFound, StoreError
from onebox.store.records import NameScope, Record

__all__ = [
    "AlreadyExists",
    "Busy",
    "Change",
    "ChangeFeed",
    "Conflict",
    "NameScope",
    "NotFound",
    "Record",
    "Store",
    "StoreError",
    "Subscription",
]
