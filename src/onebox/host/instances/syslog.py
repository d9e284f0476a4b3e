"""A minimal syslog daemon inside instances: `/dev/log` -> `/var/log/messages`, as rsyslog writes it.

Images are the host's userland without a syslog daemon, so `logger` and programs using syslog(3) would
have nowhere to write. The init (namespace driver) starts this as a thread once the instance's root
is in place; each datagram becomes one line `Mmm dd HH:MM:SS hostname tag[pid]: message` (rsyslog's
traditional file format) appended to /var/log/messages (mode 0600), which the log agent ships.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from pathlib import Path

SOCKET_PATH = "/dev/log"
MESSAGES = "/var/log/messages"
_PRIORITY = re.compile(rb"^<\d{1,3}>")
_RFC3164_TIME = re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) ")
# <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
_RFC5424 = re.compile(r"^1 (\S+) \S+ (\S+) (\S+) \S+ (-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(.*)$", re.S)


def format_line(datagram: bytes, hostname: str, now: float | None = None) -> str:
    """One received datagram as a /var/log/messages line (without the newline)."""
    text = _PRIORITY.sub(b"", datagram, count=1).decode("utf-8", errors="replace").rstrip("\n\x00")
    local = time.localtime(now)
    stamp = f"{time.strftime('%b', local)} {local.tm_mday:2d} {time.strftime('%H:%M:%S', local)}"
    found = _RFC3164_TIME.match(text)
    if found is not None:
        return f"{found.group(1)} {hostname} {text[found.end() :]}"
    rfc5424 = _RFC5424.match(text)
    if rfc5424 is not None:
        _, app, pid, _, message = rfc5424.groups()
        tag = app if app != "-" else "-"
        if pid != "-":
            tag += f"[{pid}]"
        return f"{stamp} {hostname} {tag}: {message.removeprefix(chr(0xFEFF))}"
    return f"{stamp} {hostname} {text}"


def serve(hostname: str, root: Path = Path("/")) -> threading.Thread | None:
    """Bind /dev/log and append what arrives to /var/log/messages, in a daemon thread. None if the
    socket cannot be made (the instance boots without it)."""
    path = root / SOCKET_PATH.lstrip("/")
    try:
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        os.chmod(path, 0o666)
    except OSError:
        return None
    messages = root / MESSAGES.lstrip("/")

    def run() -> None:
        while True:
            try:
                datagram = sock.recv(65536)
            except OSError:
                return
            if not datagram:
                continue
            line = format_line(datagram, hostname) + "\n"
            try:
                messages.parent.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(messages, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(descriptor, line.encode("utf-8"))
                finally:
                    os.close(descriptor)
            except OSError:
                continue

    thread = threading.Thread(target=run, name="syslog", daemon=True)
    thread.start()
    return thread
