"""Plain HTTP request and response values passed between the gateway and the protocol layer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl


@dataclass
class HttpRequest:
    """One HTTP request as received.

    `path` is the raw (still percent-encoded) path, `query_string` the raw query without '?',
    `headers` maps lower-case names to values (repeated headers joined with ',').
    """

    method: str
    path: str
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    client_ip: str = "127.0.0.1"
    scheme: str = "http"

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def query_items(self) -> list[tuple[str, str]]:
        """Decoded query parameters in order, blank values kept."""
        return parse_qsl(self.query_string, keep_blank_values=True)

    def query_params(self) -> dict[str, str]:
        """Decoded query parameters; the first value wins for repeated names."""
        params: dict[str, str] = {}
        for key, value in self.query_items():
            params.setdefault(key, value)
        return params


@dataclass
class HttpResponse:
    """One HTTP response. `body` is bytes, or an async iterator of bytes for streamed payloads."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] = b""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        lowered = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lowered]
        self.headers.append((name, value))
