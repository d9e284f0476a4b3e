"""onebox's DNS server answers its zone, NXDOMAIN under .localhost, REFUSED elsewhere, and survives garbage."""

from __future__ import annotations

import json
from pathlib import Path

from dnslib import QTYPE, RCODE, DNSRecord

from onebox.host.dns_server import Zone, answer


def _zone(tmp_path: Path, records: dict) -> Zone:
    path = tmp_path / "zone.json"
    path.write_text(json.dumps({"records": records}))
    return Zone(path)


def _ask(zone: Zone, name: str, qtype: str = "A") -> DNSRecord:
    reply = answer(zone, DNSRecord.question(name, qtype).pack())
    assert reply is not None
    return DNSRecord.parse(reply)


def test_known_name_gets_its_address(tmp_path: Path) -> None:
    zone = _zone(tmp_path, {"db.onebox.localhost.": {"A": ["127.0.0.5"]}})
    reply = _ask(zone, "DB.onebox.localhost")
    assert [str(rr.rdata) for rr in reply.rr] == ["127.0.0.5"]
    assert reply.rr[0].rtype == QTYPE.A


def test_unknown_local_name_is_nxdomain_and_outside_names_are_refused(tmp_path: Path) -> None:
    zone = _zone(tmp_path, {})
    assert _ask(zone, "nothing.localhost").header.rcode == RCODE.NXDOMAIN
    assert _ask(zone, "example.com").header.rcode == RCODE.REFUSED


def test_zone_changes_are_picked_up_and_a_broken_file_keeps_the_old_zone(tmp_path: Path) -> None:
    import os

    zone = _zone(tmp_path, {"a.localhost.": {"A": ["127.0.0.2"]}})
    assert [str(rr.rdata) for rr in _ask(zone, "a.localhost").rr] == ["127.0.0.2"]
    path = tmp_path / "zone.json"
    path.write_text(json.dumps({"records": {"a.localhost.": {"A": ["127.0.0.3"]}}}))
    os.utime(path, (1, 1))  # a different mtime, whatever the filesystem's timestamp resolution
    assert [str(rr.rdata) for rr in _ask(zone, "a.localhost").rr] == ["127.0.0.3"]
    path.write_text("{half")
    os.utime(path, (2, 2))
    assert [str(rr.rdata) for rr in _ask(zone, "a.localhost").rr] == ["127.0.0.3"]


def test_garbage_gets_no_answer(tmp_path: Path) -> None:
    assert answer(_zone(tmp_path, {}), b"\x00\x01garbage") is None
