"""The shared objects a running daemon hands to handlers and controllers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from onebox.clock import Clock
from onebox.config import Config
from onebox.services.registry import ServiceRegistry

if TYPE_CHECKING:
    from onebox.aws.credentials import CredentialStore
    from onebox.host.supervisor import Supervisor
    from onebox.names import NameRegistry
    from onebox.store import Store


@dataclass
class Runtime:
    config: Config
    clock: Clock
    store: Store
    credentials: CredentialStore
    services: ServiceRegistry = field(default_factory=lambda: ServiceRegistry({}))
    supervisor: Supervisor | None = None
    names: NameRegistry | None = None
    started_at: float = 0.0
