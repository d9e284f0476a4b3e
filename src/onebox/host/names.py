"""Makes the hostnames onebox hands out resolve on the host, through a managed block in the hosts file.

Ordinary clients (psql, redis-cli, curl, `socket.getaddrinfo`) consult /etc/hosts through NSS, so a block
there reaches all of them without touching the host's DNS setup. The block is delimited by markers
carrying a tag (one per state directory) and nothing outside it is ever changed: the rest of the file is
kept byte for byte, with its mode and owner.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

DEFAULT_HOSTS_PATH = Path("/etc/hosts")
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PERMISSION_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


class HostsFileError(Exception):
    """The hosts file could not be read or updated."""


class HostsFilePermissionError(HostsFileError):
    """Not allowed to write the hosts file (usually: not root). `manual_step` says what to do by hand."""

    def __init__(self, path: Path, block: str, cause: OSError) -> None:
        self.path = path
        self.block = block
        if block:
            self.manual_step = (
                f"onebox cannot write {path} ({cause.strerror or cause}). To make its hostnames resolve, "
                f"run onebox as root, or add these lines to {path} yourself (e.g. with sudoedit):\n\n{block}"
            )
        else:
            self.manual_step = (
                f"onebox cannot write {path} ({cause.strerror or cause}). Run onebox as root, or remove the "
                f"lines between '# BEGIN onebox' and '# END onebox' from {path} yourself."
            )
        super().__init__(self.manual_step)


class HostsFile:
    """The block `# BEGIN onebox <tag>` ... `# END onebox <tag>` in a hosts file."""

    def __init__(self, path: Path = DEFAULT_HOSTS_PATH, tag: str = "default") -> None:
        if not _TAG_RE.match(tag):
            raise ValueError(f"invalid hosts-file tag {tag!r}: use [A-Za-z0-9._-], at most 64 characters")
        self.path = Path(path)
        self.tag = tag
        self._begin = f"# BEGIN onebox {tag}".encode()
        self._end = f"# END onebox {tag}".encode()

    def read(self) -> dict[str, str]:
        """The names in this tag's block, mapped to their address."""
        _, block, _ = self._split(self._read_bytes())
        names: dict[str, str] = {}
        for raw in (block or b"").splitlines()[1:-1]:
            fields = raw.split(b"#", 1)[0].decode("utf-8", "replace").split()
            for name in fields[1:]:
                names[name] = fields[0]
        return names

    def set(self, names: Mapping[str, str]) -> bool:
        """Replace the block with `names` (hostname -> IP address). Returns whether the file changed.

        An empty mapping removes the block. Invalid input raises ValueError and changes nothing.
        """
        entries = _validate(names)
        if not entries:
            return self.clear()
        rendered = self.render(entries).encode()
        with self._locked():
            data = self._read_bytes()
            before, block, after = self._split(data)
            if block is None:
                if data and not data.endswith(b"\n"):
                    # Keep the file's missing final newline: end our block without one, so clear() can
                    # tell the separating newline was ours and restore the original bytes exactly.
                    new = data + b"\n" + rendered[:-1]
                else:
                    new = data + rendered
            elif block.endswith(b"\n") or after:
                new = before + rendered + after
            else:
                new = before + rendered[:-1]
            return self._write_if_changed(data, new, rendered.decode())

    def clear(self) -> bool:
        """Remove the block. Returns whether the file changed."""
        with self._locked():
            data = self._read_bytes()
            before, block, after = self._split(data)
            if block is None:
                return False
            if not block.endswith(b"\n") and not after and before.endswith(b"\n"):
                before = before[:-1]  # the newline set() added to a file that lacked a final one
            return self._write_if_changed(data, before + after, "")

    def render(self, names: Mapping[str, str]) -> str:
        """The block text for `names`, as set() writes it (also what a manual step asks the user to add)."""
        entries = _validate(names)
        lines = [
            self._begin.decode(),
            "# Managed by onebox: edits inside this block are overwritten; `onebox down` removes it.",
            *(f"{address}\t{name}" for name, address in sorted(entries.items())),
            self._end.decode(),
        ]
        return "\n".join(lines) + "\n"

    # -- internals -------------------------------------------------------------------------------------

    def _split(self, data: bytes) -> tuple[bytes, bytes | None, bytes]:
        """(text before the block, the block including its marker lines, text after it)."""
        lines = data.splitlines(keepends=True)
        begins = [i for i, line in enumerate(lines) if line.strip() == self._begin]
        ends = [i for i, line in enumerate(lines) if line.strip() == self._end]
        if not begins and not ends:
            return data, None, b""
        if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
            # Guessing where a damaged block ends could delete the user's own lines; refuse instead.
            raise HostsFileError(
                f"{self.path} has a damaged onebox block for tag {self.tag!r} "
                f"({len(begins)} BEGIN and {len(ends)} END markers); fix it by hand"
            )
        b, e = begins[0], ends[0]
        return b"".join(lines[:b]), b"".join(lines[b : e + 1]), b"".join(lines[e + 1 :])

    def _read_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""
        except PermissionError as exc:
            raise HostsFilePermissionError(self.path, "", exc) from exc
        except OSError as exc:
            raise HostsFileError(f"cannot read {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise read-modify-write with other onebox processes (other tags) editing the same file.

        The lock is on the directory: the file itself is replaced by rename, so a lock on it would not
        be seen by a writer that opened the new inode.
        """
        try:
            fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            yield  # cannot lock (e.g. no read access to the directory): proceed unserialised
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write_if_changed(self, old: bytes, new: bytes, block: str) -> bool:
        if new == old:
            return False
        try:
            self._replace(new)
        except OSError as exc:
            # EBUSY/EXDEV: a bind-mounted file (Docker's /etc/hosts) cannot be renamed over.
            # Permission errors: the directory may be read-only while the file itself is writable.
            if exc.errno not in (errno.EBUSY, errno.EXDEV, *_PERMISSION_ERRNOS):
                raise HostsFileError(f"cannot update {self.path}: {exc}") from exc
            try:
                self._rewrite_in_place(new)
            except OSError as exc2:
                if exc2.errno in _PERMISSION_ERRNOS:
                    raise HostsFilePermissionError(self.path, block, exc2) from exc2
                raise HostsFileError(f"cannot update {self.path}: {exc2}") from exc2
        return True

    def _replace(self, data: bytes) -> None:
        """Write a temp file beside the target and rename it over: readers see the old or the new file."""
        try:
            st: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            st = None
        mode = 0o644 if st is None else st.st_mode & 0o7777
        tmp = self.path.with_name(f".{self.path.name}.onebox-{self.tag}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fchmod(f.fileno(), mode)  # os.open's mode is filtered by the umask
                if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(f.fileno(), st.st_uid, st.st_gid)
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _rewrite_in_place(self, data: bytes) -> None:
        """Fallback when rename is impossible; not atomic, but the file is tiny and written in one call."""
        with open(self.path, "r+b") as f:
            f.write(data)
            f.truncate()
            f.flush()
            os.fsync(f.fileno())


def _validate(names: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased hostname -> normalised address; ValueError on anything that would corrupt the file."""
    out: dict[str, str] = {}
    for raw_name, raw_address in names.items():
        name = str(raw_name).lower().rstrip(".")
        labels = name.split(".")
        if not name or len(name) > 253 or not all(_LABEL_RE.match(label) for label in labels):
            raise ValueError(f"invalid hostname {raw_name!r}")
        try:
            address = ipaddress.ip_address(str(raw_address))
        except ValueError:
            raise ValueError(f"invalid IP address {raw_address!r} for {raw_name!r}") from None
        out[name] = str(address)
    return out
