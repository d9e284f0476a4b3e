"""Operation handlers: how services register them and what they receive."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from onebox.aws.errors import not_implemented
from onebox.aws.http import HttpRequest

if TYPE_CHECKING:
    from onebox.runtime import Runtime


@dataclass
class RequestContext:
    """What a handler knows about the call besides its input."""

    runtime: Runtime
    service: str
    operation: str
    account_id: str
    region: str
    request_id: str
    request: HttpRequest
    access_key: str | None = None


Handler = Callable[[RequestContext, dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]


class ServiceApi:
    """The handlers of one service, by operation name. Operations without one answer 501."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.handlers: dict[str, Handler] = {}

    def include(self, *parts: ServiceApi) -> ServiceApi:
        """Add the handlers of other tables of the same service (one per resource module)."""
        for part in parts:
            if part.service != self.service:
                raise ValueError(f"cannot include {part.service} handlers in {self.service}")
            overlap = self.handlers.keys() & part.handlers.keys()
            if overlap:
                raise ValueError(f"{self.service} operations registered twice: {sorted(overlap)}")
            self.handlers.update(part.handlers)
        return self

    def operation(self, name: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.handlers[name] = handler
            return handler

        return register

    async def call(self, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(context.operation)
        if handler is None:
            raise not_implemented(self.service, context.operation)
        result = handler(context, params)
        if inspect.isawaitable(result):
            result = await result
        return result or {}
