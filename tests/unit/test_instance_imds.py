"""The IMDS: tokens (TTL, expiry, X-Forwarded-For), v1 vs required v2, listings and documents."""

from __future__ import annotations

import json

from onebox.host.imds import Imds, build_metadata


def tree(http_tokens: str = "optional") -> dict:
    return build_metadata(
        instance_id="i-0123456789abcdef0",
        image_id="ami-0123456789abcdef0",
        instance_type="t3.micro",
        region="us-east-1",
        availability_zone="us-east-1a",
        availability_zone_id="use1-az1",
        account_id="000000000000",
        private_ip="172.31.0.4",
        mac="0e:01:02:03:04:05",
        interface_id="eni-0123456789abcdef0",
        subnet_id="subnet-0123456789abcdef0",
        vpc_id="vpc-0123456789abcdef0",
        subnet_cidr="172.31.0.0/20",
        vpc_cidr="172.31.0.0/16",
        security_groups=[("sg-0123456789abcdef0", "web")],
        key_name="my-key",
        public_key="ssh-ed25519 AAAAC3Nza",
        user_data=b"#!/bin/sh\necho hi\n",
        launch_index=0,
        reservation_id="r-0123456789abcdef0",
        launch_time="2026-01-01T00:00:00Z",
        http_tokens=http_tokens,
    )


def test_token_ttl_and_expiry() -> None:
    imds = Imds(tree())
    status, headers, token = imds.answer(
        "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "30"}, 1000
    )
    assert status == 200 and headers["x-aws-ec2-metadata-token-ttl-seconds"] == "30"
    auth = {"x-aws-ec2-metadata-token": token.decode()}
    status, headers, body = imds.answer("GET", "/latest/meta-data/instance-id", auth, 1010)
    assert (status, body) == (200, b"i-0123456789abcdef0")
    assert headers["x-aws-ec2-metadata-token-ttl-seconds"] == "20"
    assert imds.answer("GET", "/latest/meta-data/instance-id", auth, 1031)[0] == 401
    assert (
        imds.answer("GET", "/latest/meta-data/instance-id", {"x-aws-ec2-metadata-token": "forged"}, 1000)[0]
        == 401
    )
    assert Imds(tree(), secret=b"other").answer("GET", "/latest/meta-data/", auth, 1010)[0] == 401


def test_token_request_rules() -> None:
    imds = Imds(tree())
    assert imds.answer("PUT", "/latest/api/token", {}, 0)[0] == 400
    assert (
        imds.answer("PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": "21601"}, 0)[0]
        == 400
    )
    ttl = {"x-aws-ec2-metadata-token-ttl-seconds": "60", "x-forwarded-for": "1.2.3.4"}
    assert imds.answer("PUT", "/latest/api/token", ttl, 0)[0] == 403
    assert imds.answer("GET", "/latest/api/token", {}, 0)[0] == 405


def test_v1_allowed_unless_tokens_required() -> None:
    assert Imds(tree()).answer("GET", "/latest/meta-data/local-ipv4", {}, 0)[2] == b"172.31.0.4"
    assert Imds(tree("required")).answer("GET", "/latest/meta-data/local-ipv4", {}, 0)[0] == 401


def test_paths_listings_and_documents() -> None:
    imds = Imds(tree())

    def get(path: str) -> tuple[int, str]:
        status, _, body = imds.answer("GET", path, {}, 0)
        return status, body.decode()

    listing = get("/latest/meta-data/")[1].split("\n")
    for name in ("ami-id", "instance-id", "instance-type", "local-hostname", "mac", "placement/", "network/"):
        assert name in listing
    assert get("/latest/meta-data/local-hostname") == (200, "ip-172-31-0-4.ec2.internal")
    assert get("/latest/meta-data/placement/availability-zone") == (200, "us-east-1a")
    assert get("/latest/meta-data/placement/region") == (200, "us-east-1")
    assert get("/latest/meta-data/network/interfaces/macs/0e:01:02:03:04:05/subnet-id") == (
        200,
        "subnet-0123456789abcdef0",
    )
    assert get("/latest/meta-data/security-groups") == (200, "web")
    assert get("/latest/meta-data/public-keys/") == (200, "0=my-key")
    assert get("/latest/meta-data/public-keys/0/openssh-key") == (200, "ssh-ed25519 AAAAC3Nza my-key")
    assert get("/latest/user-data") == (200, "#!/bin/sh\necho hi\n")
    document = json.loads(get("/latest/dynamic/instance-identity/document")[1])
    assert document["instanceId"] == "i-0123456789abcdef0" and document["accountId"] == "000000000000"
    assert get("/latest/meta-data/nothing-here")[0] == 404
    assert get("/latest/meta-data/_http_tokens")[0] == 404
