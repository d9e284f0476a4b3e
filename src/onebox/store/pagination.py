"""Opaque, tamper-evident NextToken/Marker strings and a paginator over sorted items.

A token names the sort key of the last item returned, not an offset, so items created or deleted
between pages neither repeat nor get skipped. The payload is HMAC-signed with a per-store secret (kept
in the store, so tokens survive a restart) and bound to a caller-chosen scope, so a token from one
operation or filter set is rejected by another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from typing import TypeVar

from onebox.aws.errors import AwsError

T = TypeVar("T")

# Keys must be JSON-encodable and totally ordered: ints, strings, or tuples of them.
PageKey = int | str | tuple[int | str, ...]

_MAC_BYTES = 16  # 128 bits is far beyond what a client could forge by trial


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Paginator:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("pagination secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, scope: str, payload: bytes) -> bytes:
        message = scope.encode("utf-8") + b"\n" + payload
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, position: PageKey, scope: str = "") -> str:
        payload = json.dumps({"k": position}, separators=(",", ":")).encode("utf-8")
        return f"{_b64encode(payload)}.{_b64encode(self._mac(scope, payload))}"

    def decode(
        self,
        token: str,
        scope: str = "",
        *,
        code: str = "InvalidNextToken",
        message: str = "The specified pagination token is not valid.",
    ) -> PageKey:
        """The position in `token`; AwsError(code) if it is malformed, forged or from another scope."""
        try:
            payload_text, mac_text = token.split(".")
            payload = _b64decode(payload_text)
            mac = _b64decode(mac_text)
        except (ValueError, binascii.Error):
            raise AwsError(code, message) from None
        if not hmac.compare_digest(mac, self._mac(scope, payload)):
            raise AwsError(code, message)
        position = json.loads(payload)["k"]
        return tuple(position) if isinstance(position, list) else position

    def paginate(
        self,
        items: Iterable[T],
        max_results: int | None,
        token: str | None,
        *,
        key: Callable[[T], PageKey],
        scope: str = "",
        code: str = "InvalidNextToken",
        message: str = "The specified pagination token is not valid.",
    ) -> tuple[list[T], str | None]:
        """One page of `items` ordered by `key`, and the token for the next page (None on the last).

        `max_results` None returns everything; the caller validates its range (AWS limits differ by
        operation). An empty-string token counts as no token, as AWS treats it.
        """
        if max_results is not None and max_results < 1:
            raise ValueError("max_results must be positive (validate the request before paginating)")
        ordered = sorted(items, key=key)
        if token:
            after = self.decode(token, scope, code=code, message=message)
            try:
                ordered = [item for item in ordered if key(item) > after]  # type: ignore[operator]
            except TypeError:  # a valid signature over a key of another type: the scope was too broad
                raise AwsError(code, message) from None
        if max_results is None or len(ordered) <= max_results:
            return ordered, None
        page = ordered[:max_results]
        return page, self.encode(key(page[-1]), scope)
