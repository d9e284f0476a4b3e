"""The services onebox serves. Each service's handlers are imported on its first request (or by the
warm-up thread right after start-up), so the daemon answers sooner."""

from __future__ import annotations

import threading
from importlib import import_module

from onebox.aws import routing, specs
from onebox.aws.dispatch import ServiceApi

# botocore service name -> module whose `api` is the service's ServiceApi.
SERVICE_MODULES: dict[str, str] = {
    "sts": "onebox.services.sts.api",
    "ec2": "onebox.services.ec2.api",
}


class ServiceRegistry:
    def __init__(self, modules: dict[str, str] | None = None) -> None:
        self._modules = dict(modules or SERVICE_MODULES)
        self._apis: dict[str, ServiceApi] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self._modules)

    def get(self, service: str) -> ServiceApi | None:
        api = self._apis.get(service)
        if api is None and service in self._modules:
            with self._lock:
                api = self._apis.get(service)
                if api is None:
                    api = import_module(self._modules[service]).api
                    self._apis[service] = api
        return api

    def warm(self) -> None:
        """Load every served model, routing index and handler module (run in a background thread)."""
        specs.signing_name_index()
        specs.target_prefix_index()
        specs.api_version_index()
        routing.action_index()
        routing.cbor_service_index()
        for service in self._modules:
            self.get(service)
