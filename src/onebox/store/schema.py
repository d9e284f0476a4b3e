"""Tables, in SQLAlchemy Core so PostgreSQL can back the store later without a rewrite."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

SCHEMA_VERSION = 1

metadata = MetaData()

resources = Table(
    "resources",
    metadata,
    # Creation order. AUTOINCREMENT so a deleted row's number is never reused: pagination tokens hold it.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("kind", String, nullable=False),
    Column("account", String, nullable=False),
    Column("region", String, nullable=False),
    Column("id", String, nullable=False),
    Column("name", String, nullable=True),
    Column("name_scope", String, nullable=True),  # NameScope.key(); NULL when name is NULL
    Column("arn", String, nullable=False),
    # JSON text rather than a JSON type: identical on SQLite and PostgreSQL, and we never query inside it.
    Column("spec", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),  # seconds since the epoch, from the Clock
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("kind", "account", "region", "id", name="uq_resources_key"),
    # NULL names are never equal, so unnamed resources do not collide.
    Index("uq_resources_name", "kind", "name_scope", "name", unique=True),
    # list() reads one kind in one account/region in creation order.
    Index("ix_resources_list", "kind", "account", "region", "seq"),
    sqlite_autoincrement=True,
)

meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)
