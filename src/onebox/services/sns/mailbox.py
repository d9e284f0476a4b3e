"""The local mailbox email subscriptions deliver to: a Maildir at STATE/mail, shown by `onebox mail`."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path


def mail_dir(state_dir: Path) -> Path:
    return state_dir / "mail"


def deliver(
    state_dir: Path,
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    sent_at: float,
    content_type: str = "plain",
) -> str:
    """Add one message (atomically, as Maildir does) and return its key."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.fromtimestamp(sent_at, UTC))
    message.set_content(body, subtype=content_type)
    box = mailbox.Maildir(mail_dir(state_dir), create=True)
    try:
        return box.add(message)
    finally:
        box.close()


def read_all(state_dir: Path) -> list[mailbox.MaildirMessage]:
    """Every message, oldest first."""
    directory = mail_dir(state_dir)
    # Maildir creation is not atomic: until all three subdirectories exist there is no mail to read.
    if not all((directory / sub).is_dir() for sub in ("tmp", "new", "cur")):
        return []
    box = mailbox.Maildir(directory, create=False)
    try:
        messages = [box.get_message(key) for key in box.keys()]
    finally:
        box.close()
    return sorted(messages, key=lambda m: (m.get_date(), m.get("Date", "")))


def format_message(message: mailbox.MaildirMessage) -> str:
    payload = message.get_payload(decode=True)
    body = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(message.get_payload())
    headers = "\n".join(
        f"{name}: {message[name]}" for name in ("Date", "From", "To", "Subject") if message[name]
    )
    return f"{headers}\n\n{body.rstrip()}\n"
