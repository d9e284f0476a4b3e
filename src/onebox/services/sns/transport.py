"""Sending one delivery: an HTTP/S POST to the subscriber, or a message into the local mailbox.

HTTP runs in a worker thread (the stdlib client blocks). HTTPS verifies the endpoint's certificate
against the system CAs plus STATE/sns/trusted-ca.pem if present; ONEBOX_SNS_VERIFY_TLS=0 in the
daemon's environment turns verification off (for self-signed local test servers).
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from onebox.services.sns import mailbox, messages

TIMEOUT = 15.0  # AWS waits 15 s for an HTTP/S endpoint before counting a failure
USER_AGENT = "Amazon Simple Notification Service Agent"


@dataclass
class Outcome:
    delivered: bool
    status_code: int | None = None
    error: str | None = None
    retryable: bool = True


def send_http(state_dir: Path, spec: dict[str, Any]) -> Outcome:
    document = spec["Document"]
    raw = spec.get("RawMessage")
    body = raw if raw is not None and document["Type"] == "Notification" else messages.render_json(document)
    headers = {
        "x-amz-sns-message-type": document["Type"],
        "x-amz-sns-message-id": document["MessageId"],
        "x-amz-sns-topic-arn": document["TopicArn"],
        "Content-Type": spec.get("ContentType") or "text/plain; charset=UTF-8",
        "User-Agent": USER_AGENT,
    }
    if document["Type"] != "SubscriptionConfirmation":
        headers["x-amz-sns-subscription-arn"] = spec["SubscriptionArn"]
    if raw is not None:
        headers["x-amz-sns-rawdelivery"] = "true"
    url = urlsplit(spec["Endpoint"])
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    connection: http.client.HTTPConnection
    try:
        if url.scheme == "https":
            connection = http.client.HTTPSConnection(
                url.hostname or "", url.port, timeout=TIMEOUT, context=_tls_context(state_dir)
            )
        else:
            connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=TIMEOUT)
        try:
            connection.request("POST", path, body=body.encode("utf-8"), headers=headers)
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Outcome(False, error=f"{type(error).__name__}: {error}")
    if 200 <= response.status < 300:
        return Outcome(True, response.status)
    # 5xx (and throttling) are retried; other client errors are permanent, as with AWS.
    retryable = response.status >= 500 or response.status == 429
    return Outcome(False, response.status, f"HTTP {response.status}", retryable)


def send_email(state_dir: Path, spec: dict[str, Any], sent_at: float) -> Outcome:
    document = spec["Document"]
    if spec["Protocol"] == "email" and spec.get("Email"):
        subject, body = spec["Email"]["Subject"], spec["Email"]["Body"]
    else:  # email-json: the JSON document itself
        subject = (
            "AWS Notification - Subscription Confirmation"
            if document["Type"] == "SubscriptionConfirmation"
            else document.get("Subject") or "AWS Notification Message"
        )
        body = json.dumps(document, separators=(",", ":"))
    try:
        mailbox.deliver(
            state_dir, sender=spec["From"], to=spec["Endpoint"], subject=subject, body=body, sent_at=sent_at
        )
    except OSError as error:
        return Outcome(False, error=str(error))
    return Outcome(True)


def _tls_context(state_dir: Path) -> ssl.SSLContext:
    if os.environ.get("ONEBOX_SNS_VERIFY_TLS", "1") == "0":
        context = ssl._create_unverified_context()  # noqa: S323 - the documented opt-out
        return context
    context = ssl.create_default_context()
    extra = state_dir / "sns" / "trusted-ca.pem"
    if extra.exists():
        context.load_verify_locations(cafile=str(extra))
    return context
