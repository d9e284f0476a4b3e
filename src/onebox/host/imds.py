"""The instance metadata service (IMDSv1 and IMDSv2) at 169.254.169.254, one per instance.

Where it runs: inside each instance, as a thread of the instance's init (PID 1 of its PID namespace),
listening on 169.254.169.254:80, an address the init puts on the loopback device of the instance's
own network namespace. So it is reachable only from that instance, answers for exactly that instance
without looking at source addresses, keeps answering while the onebox daemon is down, and no
security group or route is involved (loopback). The process driver, which has no network namespace,
serves it on the instance's loopback private address and a port given to processes in
AWS_EC2_METADATA_SERVICE_ENDPOINT (which the AWS SDKs and CLI honour).

The metadata itself is a JSON tree written by the instances controller before each start
(`build_metadata`). IMDSv2 tokens are stateless: the expiry time and an HMAC of it under a secret made
at init start, so they stop working when the instance restarts, as in EC2.

Behaviour as EC2 documents it: PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds in
1..21600 (400 otherwise) and is refused (403) when it carries X-Forwarded-For; a GET with an invalid
or expired token gets 401; with HttpTokens=required a GET without a token gets 401; directory listings
end child directories with "/"; unknown paths are 404.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN_HEADER = "x-aws-ec2-metadata-token"
TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
MAX_TTL = 21600
NOT_FOUND_BODY = (
    '<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 '
    'Transitional//EN"\n\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n <head>\n  '
    "<title>404 - Not Found</title>\n </head>\n <body>\n  <h1>404 - Not Found</h1>\n </body>\n</html>\n"
)


def build_metadata(
    *,
    instance_id: str,
    image_id: str,
    instance_type: str,
    region: str,
    availability_zone: str,
    availability_zone_id: str,
    account_id: str,
    private_ip: str,
    mac: str,
    interface_id: str,
    subnet_id: str | None,
    vpc_id: str | None,
    subnet_cidr: str | None,
    vpc_cidr: str | None,
    security_groups: list[tuple[str, str]],  # (id, name)
    key_name: str | None,
    public_key: str | None,
    user_data: bytes,
    launch_index: int,
    reservation_id: str,
    launch_time: str,
    http_tokens: str = "optional",
) -> dict[str, Any]:
    """The metadata tree the IMDS serves for one instance (JSON-serializable)."""
    hostname = (
        "ip-"
        + private_ip.replace(".", "-")
        + (".ec2.internal" if region == "us-east-1" else f".{region}.compute.internal")
    )
    interface: dict[str, Any] = {
        "device-number": "0",
        "interface-id": interface_id,
        "local-hostname": hostname,
        "local-ipv4s": private_ip,
        "mac": mac,
        "owner-id": account_id,
        "security-group-ids": "\n".join(group_id for group_id, _ in security_groups),
        "security-groups": "\n".join(name for _, name in security_groups),
    }
    if subnet_id:
        interface["subnet-id"] = subnet_id
        interface["subnet-ipv4-cidr-block"] = subnet_cidr or ""
    if vpc_id:
        interface["vpc-id"] = vpc_id
        interface["vpc-ipv4-cidr-block"] = vpc_cidr or ""
        interface["vpc-ipv4-cidr-blocks"] = vpc_cidr or ""
    meta: dict[str, Any] = {
        "ami-id": image_id,
        "ami-launch-index": str(launch_index),
        "ami-manifest-path": "(unknown)",
        "block-device-mapping": {"ami": "/dev/xvda", "root": "/dev/xvda"},
        "events": {"maintenance": {"history": "[]", "scheduled": "[]"}},
        "hostname": hostname,
        "instance-action": "none",
        "instance-id": instance_id,
        "instance-life-cycle": "on-demand",
        "instance-type": instance_type,
        "local-hostname": hostname,
        "local-ipv4": private_ip,
        "mac": mac,
        "network": {"interfaces": {"macs": {mac: interface}}},
        "placement": {
            "availability-zone": availability_zone,
            "availability-zone-id": availability_zone_id,
            "region": region,
        },
        "profile": "default-hvm",
        "reservation-id": reservation_id,
        "security-groups": "\n".join(name for _, name in security_groups),
        "services": {"domain": "amazonaws.com", "partition": "aws"},
    }
    if key_name and public_key:
        meta["public-keys"] = {"0": {"openssh-key": public_key.strip() + " " + key_name}}
        meta["public-keys"]["_listing"] = f"0={key_name}"
    document = {
        "accountId": account_id,
        "architecture": "x86_64",
        "availabilityZone": availability_zone,
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": image_id,
        "instanceId": instance_id,
        "instanceType": instance_type,
        "kernelId": None,
        "pendingTime": launch_time,
        "privateIp": private_ip,
        "ramdiskId": None,
        "region": region,
        "version": "2017-09-30",
    }
    tree: dict[str, Any] = {
        "meta-data": meta,
        "dynamic": {"instance-identity": {"document": json.dumps(document, indent=2)}},
        "_http_tokens": http_tokens,
    }
    if user_data:
        tree["user-data"] = base64.b64encode(user_data).decode()
        tree["_user_data_b64"] = True
    return tree


class Imds:
    """Answers metadata requests for one instance's tree. Thread-safe (read-only after creation)."""

    def __init__(self, tree: dict[str, Any], secret: bytes | None = None) -> None:
        self.tree = tree
        self.secret = secret or secrets.token_bytes(32)

    def new_token(self, ttl: int, now: float) -> str:
        expires = str(int(now) + ttl).encode()
        mac = hmac.new(self.secret, expires, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(expires + b"." + mac).decode()

    def token_ttl_left(self, token: str, now: float) -> int | None:
        """Seconds the token still has, or None if it is not ours or has expired."""
        try:
            raw = base64.urlsafe_b64decode(token.encode())
            expires, mac = raw.split(b".", 1)
        except (ValueError, TypeError):
            return None
        good = hmac.new(self.secret, expires, hashlib.sha256).digest()[:18]
        if not hmac.compare_digest(mac, good):
            return None
        left = int(expires) - int(now)
        return left if left > 0 else None

    def answer(
        self, method: str, path: str, headers: dict[str, str], now: float
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one request. `headers` keys are lower-case."""
        path = path.split("?", 1)[0]
        if path in ("/latest/api/token", "/latest/api/token/"):
            if method != "PUT":
                return 405, {"Allow": "OPTIONS, PUT"}, b""
            if "x-forwarded-for" in headers:
                return 403, {}, b""
            try:
                ttl = int(headers.get(TTL_HEADER, ""))
            except ValueError:
                return 400, {}, b""
            if not 1 <= ttl <= MAX_TTL:
                return 400, {}, b""
            return 200, {TTL_HEADER: str(ttl)}, self.new_token(ttl, now).encode()
        if method not in ("GET", "HEAD"):
            return 405, {"Allow": "OPTIONS, GET, HEAD"}, b""
        reply_headers: dict[str, str] = {}
        token = headers.get(TOKEN_HEADER)
        if token is not None:
            left = self.token_ttl_left(token, now)
            if left is None:
                return 401, {}, b""
            reply_headers[TTL_HEADER] = str(left)
        elif self.tree.get("_http_tokens") == "required":
            return 401, {}, b""
        if path in ("/", ""):
            return 200, reply_headers, b"latest"
        if not path.startswith("/latest"):
            return 404, {"Content-Type": "text/html"}, NOT_FOUND_BODY.encode()
        rest = path[len("/latest") :].strip("/")
        if rest == "":
            body = "\n".join(k for k in ("dynamic", "meta-data", "user-data") if k in self.tree)
            return 200, reply_headers, body.encode()
        if rest == "user-data":
            if "user-data" not in self.tree:
                return 404, {"Content-Type": "text/html"}, NOT_FOUND_BODY.encode()
            return (
                200,
                {**reply_headers, "Content-Type": "application/octet-stream"},
                base64.b64decode(self.tree["user-data"]),
            )
        node: Any = self.tree
        for part in rest.split("/"):
            if not isinstance(node, dict) or part.startswith("_") or part not in node:
                return 404, {"Content-Type": "text/html"}, NOT_FOUND_BODY.encode()
            node = node[part]
        if isinstance(node, dict):
            if "_listing" in node:
                return 200, reply_headers, str(node["_listing"]).encode()
            names = [k + "/" if isinstance(v, dict) else k for k, v in node.items() if not k.startswith("_")]
            return 200, reply_headers, "\n".join(names).encode()
        content_type = "application/json" if rest.endswith("document") else "text/plain"
        return 200, {**reply_headers, "Content-Type": content_type}, str(node).encode()


class _Server(ThreadingHTTPServer):
    def server_bind(self) -> None:
        """HTTPServer.server_bind asks reverse DNS for the address (socket.getfqdn): inside an instance,
        whose network has no resolver, that waited 5 s at every boot with a route. The name is unused."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


def serve(imds: Imds, host: str, port: int) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; returns the server (call shutdown() to stop)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "EC2ws"
        sys_version = ""

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, reply_headers, body = imds.answer(self.command, self.path, headers, time.time())
            self.send_response(status)
            reply_headers.setdefault("Content-Type", "text/plain")
            for key, value in reply_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

    server = _Server((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="imds", daemon=True).start()
    return server
