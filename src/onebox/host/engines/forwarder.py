"""A DB instance's door into its VPC: listens on the instance's private address inside its own network
namespace (plugged into the subnet, with the instance's security groups applied by the VPC router)
and relays every connection to the server's endpoint address on the host's loopback.

    python -m onebox.host.engines.forwarder --netns obrds-... --listen 10.0.1.5:5432 --to 127.42.0.3:5432

The listening socket is made inside the namespace (setns for the moment of socket()), the outgoing
ones in the host's: one process spans both, so the server itself stays where the host's endpoint
reaches it, and the VPC side can later point at another server (failover) without moving data.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import socket

CLONE_NEWNET = 0x40000000
BUFFER = 256 * 1024


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def listen_in(netns: str, host: str, port: int) -> socket.socket:
    """A listening TCP socket bound to host:port inside the named network namespace."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
        finally:
            _setns(own)
    finally:
        os.close(own)
        os.close(target)
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def _relay(target: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(*target)
    except OSError:
        writer.close()
        return
    for stream in (writer, upstream_writer):
        sock = stream.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
    for stream in (writer, upstream_writer):
        stream.close()


async def serve(netns: str, listen: tuple[str, int], target: tuple[str, int]) -> None:
    sock = listen_in(netns, *listen)
    server = await asyncio.start_server(lambda r, w: _relay(target, r, w), sock=sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--netns", required=True)
    parser.add_argument("--listen", required=True, type=_address)
    parser.add_argument("--to", required=True, type=_address)
    args = parser.parse_args()
    asyncio.run(serve(args.netns, args.listen, args.to))


if __name__ == "__main__":
    main()
