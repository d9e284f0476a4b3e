"""onebox's DNS server: answers for the names onebox hands out, from a zone file the daemon writes.

Runs as its own supervised process (`python -m onebox.host.dns_server --zone FILE --listen IP:PORT`)
so names keep resolving while the daemon restarts. The zone file is JSON
`{"records": {"name.": {"A": ["127.0.0.5"]}}}` and is re-read when its mtime changes.
Names not in the zone get NXDOMAIN under `.localhost`, REFUSED elsewhere (never forwarded out).
"""

from __future__ import annotations

import argparse
import json
import os
import socketserver
import threading
from pathlib import Path

from dnslib import QTYPE, RCODE, RR, A, DNSRecord

TTL = 5


class Zone:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1.0
        self._records: dict[str, dict[str, list[str]]] = {}
        self._lock = threading.Lock()

    def records(self) -> dict[str, dict[str, list[str]]]:
        try:
            mtime = os.stat(self.path).st_mtime
        except FileNotFoundError:
            return {}
        with self._lock:
            if mtime != self._mtime:
                try:
                    self._records = {
                        k.lower(): v for k, v in json.loads(self.path.read_text())["records"].items()
                    }
                    self._mtime = mtime
                except (ValueError, KeyError, OSError):
                    pass  # a half-written file: keep serving the previous zone
            return self._records


def answer(zone: Zone, data: bytes) -> bytes | None:
    try:
        request = DNSRecord.parse(data)
    except Exception:  # dnslib raises several types for garbage; a bad packet gets no answer
        return None
    reply = request.reply()
    question = request.q
    name = str(question.qname).lower()
    records = zone.records()
    entry = records.get(name)
    if entry is None:
        reply.header.rcode = RCODE.NXDOMAIN if name.endswith(".localhost.") else RCODE.REFUSED
        return reply.pack()
    if question.qtype in (QTYPE.A, QTYPE.ANY):
        for address in entry.get("A", []):
            reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=TTL))
    return reply.pack()


def serve(zone_path: Path, host: str, port: int) -> None:
    zone = Zone(zone_path)

    class UdpHandler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            response = answer(zone, data)
            if response is not None:
                sock.sendto(response, self.client_address)

    class TcpHandler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            header = self.rfile.read(2)
            if len(header) < 2:
                return
            response = answer(zone, self.rfile.read(int.from_bytes(header, "big")))
            if response is not None:
                self.wfile.write(len(response).to_bytes(2, "big") + response)

    socketserver.ThreadingUDPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    udp = socketserver.ThreadingUDPServer((host, port), UdpHandler)
    tcp = socketserver.ThreadingTCPServer((host, port), TcpHandler)
    udp.daemon_threads = tcp.daemon_threads = True
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    udp.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="onebox-dns")
    parser.add_argument("--zone", type=Path, required=True)
    parser.add_argument("--listen", required=True, help="IP:PORT on loopback")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    serve(args.zone, host, int(port))


if __name__ == "__main__":
    main()
