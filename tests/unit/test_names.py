"""The managed hosts-file block: exact preservation of everything else, atomic replace, real resolution."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from onebox.host import names as names_module
from onebox.host.names import HostsFile, HostsFileError, HostsFilePermissionError

# Deliberately awkward: CRLF, tabs, trailing spaces, a non-UTF-8 byte, comments, no final newline.
ORIGINAL = (
    b"127.0.0.1\tlocalhost\n"
    b"::1 localhost ip6-localhost   \r\n"
    b"# a comment with \xff a latin-1 byte\n"
    b"\n"
    b"10.0.0.5  intranet.example  # trailing comment"
)


@pytest.fixture
def hosts(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    path.write_bytes(ORIGINAL)
    path.chmod(0o640)
    return path


def test_set_read_clear_restores_original_bytes(hosts: Path) -> None:
    hf = HostsFile(hosts, tag="state1")
    assert hf.read() == {}
    assert hf.set({"db-1.onebox.localhost": "127.0.0.5", "LB.onebox.localhost": "127.0.0.6"})

    data = hosts.read_bytes()
    assert data.startswith(ORIGINAL + b"\n# BEGIN onebox state1\n")
    assert b"127.0.0.5\tdb-1.onebox.localhost\n" in data
    assert hf.read() == {"db-1.onebox.localhost": "127.0.0.5", "lb.onebox.localhost": "127.0.0.6"}
    assert hosts.stat().st_mode & 0o7777 == 0o640

    assert hf.clear()
    assert hosts.read_bytes() == ORIGINAL
    assert not hf.clear()  # nothing left to do
    assert hosts.read_bytes() == ORIGINAL


def test_replace_keeps_block_position_and_surrounding_lines(hosts: Path) -> None:
    hosts.write_bytes(b"127.0.0.1 localhost\n")
    hf = HostsFile(hosts, tag="t")
    hf.set({"a.onebox.localhost": "127.0.0.2"})
    # The user appends their own line after our block; it must survive every later update.
    with open(hosts, "ab") as f:
        f.write(b"192.168.1.9 printer\n")

    hf.set({"b.onebox.localhost": "127.0.0.3"})
    assert hf.read() == {"b.onebox.localhost": "127.0.0.3"}
    data = hosts.read_bytes()
    assert data.startswith(b"127.0.0.1 localhost\n# BEGIN onebox t\n")
    assert data.endswith(b"# END onebox t\n192.168.1.9 printer\n")
    assert not hf.set({"b.onebox.localhost": "127.0.0.3"})  # unchanged content is not rewritten

    hf.set({})  # empty means no block at all
    assert hosts.read_bytes() == b"127.0.0.1 localhost\n192.168.1.9 printer\n"


def test_two_tags_coexist(hosts: Path) -> None:
    one, two = HostsFile(hosts, tag="one"), HostsFile(hosts, tag="two")
    one.set({"x.one.localhost": "127.0.1.1"})
    two.set({"x.two.localhost": "127.0.2.1"})
    one.set({"y.one.localhost": "127.0.1.2"})
    assert one.read() == {"y.one.localhost": "127.0.1.2"}
    assert two.read() == {"x.two.localhost": "127.0.2.1"}

    one.clear()
    assert two.read() == {"x.two.localhost": "127.0.2.1"}
    two.clear()
    assert hosts.read_bytes() == ORIGINAL


def test_replace_is_a_rename_and_busy_bind_mount_falls_back_in_place(
    hosts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hf = HostsFile(hosts, tag="t")
    inode = hosts.stat().st_ino
    hf.set({"a.localhost": "127.0.0.2"})
    assert hosts.stat().st_ino != inode  # written beside and renamed over: readers never see half a file

    def busy(src: object, dst: object) -> None:
        raise OSError(errno.EBUSY, "Device or resource busy")

    monkeypatch.setattr(names_module.os, "replace", busy)
    inode = hosts.stat().st_ino
    hf.set({"b.localhost": "127.0.0.3"})
    assert hosts.stat().st_ino == inode
    assert hf.read() == {"b.localhost": "127.0.0.3"}
    assert hosts.stat().st_mode & 0o7777 == 0o640
    hf.clear()
    assert hosts.read_bytes() == ORIGINAL
    assert [p.name for p in hosts.parent.iterdir()] == ["hosts"]  # no temp files left behind


def test_bad_input_and_damaged_block_change_nothing(hosts: Path) -> None:
    hf = HostsFile(hosts, tag="t")
    for bad in ({"bad name": "127.0.0.1"}, {"ok.localhost": "not-an-ip"}, {"-x.localhost": "127.0.0.1"}):
        with pytest.raises(ValueError):
            hf.set(bad)
    with pytest.raises(ValueError):
        HostsFile(hosts, tag="has space")
    assert hosts.read_bytes() == ORIGINAL

    damaged = ORIGINAL + b"\n# BEGIN onebox t\n127.0.0.2 a.localhost\n"
    hosts.write_bytes(damaged)
    with pytest.raises(HostsFileError, match="damaged"):
        hf.set({"b.localhost": "127.0.0.3"})
    with pytest.raises(HostsFileError):
        hf.clear()
    assert hosts.read_bytes() == damaged


def test_missing_file_is_created(tmp_path: Path) -> None:
    hf = HostsFile(tmp_path / "hosts", tag="t")
    hf.set({"a.localhost": "::1"})
    assert hf.read() == {"a.localhost": "::1"}
    hf.clear()
    assert (tmp_path / "hosts").read_bytes() == b""


def _fails_for_non_root(path: Path) -> None:
    """In a forked child that dropped to `nobody`: setting the block must raise the permission error."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            HostsFile(path, tag="t").set({"a.localhost": "127.0.0.2"})
        except HostsFilePermissionError as exc:
            code = 0 if "127.0.0.2\ta.localhost" in exc.manual_step else 2
        except BaseException:
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_non_root_gets_a_manual_step() -> None:
    if os.geteuid() != 0:
        with pytest.raises(HostsFilePermissionError, match="add these lines"):
            HostsFile(Path("/etc/hosts"), tag="t").set({"a.localhost": "127.0.0.2"})
        return
    # pytest's tmp_path is private to root; `nobody` must be able to read the file, just not write it.
    public = Path(tempfile.mkdtemp(prefix="onebox-names-"))
    try:
        public.chmod(0o755)
        path = public / "hosts"
        path.write_bytes(ORIGINAL)
        path.chmod(0o644)
        _fails_for_non_root(path)
        assert path.read_bytes() == ORIGINAL
    finally:
        shutil.rmtree(public)


def _addresses(name: str) -> set[str]:
    try:
        return {info[4][0] for info in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)}
    except socket.gaierror:
        return set()


def test_real_etc_hosts_resolves_then_reverts() -> None:
    path = Path("/etc/hosts")
    name = f"t-{secrets.token_hex(6)}.onebox.localhost"
    address = f"127.0.0.{2 + secrets.randbelow(250)}"
    hf = HostsFile(path, tag=f"test-{secrets.token_hex(4)}")
    if os.geteuid() != 0:
        with pytest.raises(HostsFilePermissionError):
            hf.set({name: address})
        return
    original = path.read_bytes()
    try:
        hf.set({name: address})
        assert _addresses(name) == {address}
        hf.clear()
        assert address not in _addresses(name)
        assert path.read_bytes() == original
    finally:
        if path.read_bytes() != original:
            with open(path, "r+b") as f:  # in place: /etc/hosts may be a bind mount
                f.write(original)
                f.truncate()
