"""The services onebox serves. Each service's handlers are imported on its first request (or by the
warm-up thread right after start-up), so the daemon answers sooner.

A service module exposes `api` (its ServiceApi) and, if it runs anything, a function
`controllers(runtime) -> list[tuple[Controller, AsyncIterator | None]]`: the daemon starts those
controllers (with their change streams) once the warm-up has loaded the module.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from onebox.aws import routing, specs
from onebox.aws.dispatch import ServiceApi

if TYPE_CHECKING:
    from onebox.controllers import Controller
    from onebox.runtime import Runtime

# botocore service name -> module whose `api` is the service's ServiceApi.
SERVICE_MODULES: dict[str, str] = {
    "sts": "onebox.services.sts.api",
    "ec2": "onebox.services.ec2.api",
    "rds": "onebox.services.rds.api",
    "sns": "onebox.services.sns.api",
    "logs": "onebox.services.logs.api",
    "acm": "onebox.services.acm.api",
    "s3": "onebox.services.s3.api",
    "cloudwatch": "onebox.services.cloudwatch.api",
    "autoscaling": "onebox.services.autoscaling.api",
    "elbv2": "onebox.services.elbv2.api",
}


class ServiceRegistry:
    def __init__(self, modules: dict[str, str] | None = None) -> None:
        self._modules = dict(modules or SERVICE_MODULES)
        self._loaded: dict[str, ModuleType] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self._modules)

    def get(self, service: str) -> ServiceApi | None:
        module = self._module(service)
        return module.api if module is not None else None

    def _module(self, service: str) -> ModuleType | None:
        module = self._loaded.get(service)
        if module is None and service in self._modules:
            with self._lock:
                module = self._loaded.get(service)
                if module is None:
                    module = import_module(self._modules[service])
                    self._loaded[service] = module
        return module

    def controllers(self, runtime: Runtime) -> list[tuple[Controller[Any], AsyncIterator[Any] | None]]:
        """Every served service's controllers with their change streams (loads all modules)."""
        entries: list[tuple[Controller[Any], AsyncIterator[Any] | None]] = []
        for service in self._modules:
            module = self._module(service)
            factory = getattr(module, "controllers", None)
            if factory is not None:
                entries.extend(factory(runtime))
        return entries

    def warm(self) -> None:
        """Load every served model, routing index and handler module (run in a background thread)."""
        specs.signing_name_index()
        specs.target_prefix_index()
        specs.api_version_index()
        routing.action_index()
        routing.cbor_service_index()
        for service in self._modules:
            self.get(service)
