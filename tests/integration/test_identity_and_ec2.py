"""STS and EC2's first resources through boto3 and the AWS CLI against a live daemon."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


def test_get_caller_identity_boto3(onebox) -> None:
    identity = onebox.client("sts").get_caller_identity()
    assert identity["Account"] == "000000000000"
    assert identity["Arn"] == "arn:aws:iam::000000000000:root"
    assert identity["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert identity["ResponseMetadata"]["RequestId"]


def test_get_caller_identity_cli(onebox) -> None:
    result = onebox.aws("sts", "get-caller-identity")
    assert json.loads(result.stdout)["Account"] == "000000000000"


def test_regions_and_zones(onebox) -> None:
    ec2 = onebox.client("ec2")
    regions = {r["RegionName"] for r in ec2.describe_regions()["Regions"]}
    assert {"us-east-1", "eu-west-1"} <= regions
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert all(z["State"] == "available" and z["RegionName"] == "us-east-1" for z in zones)
    west = onebox.client("ec2", region_name="eu-west-1").describe_availability_zones()
    assert [z["ZoneName"] for z in west["AvailabilityZones"]][0] == "eu-west-1a"
    only_b = ec2.describe_availability_zones(Filters=[{"Name": "zone-name", "Values": ["*b"]}])
    assert [z["ZoneName"] for z in only_b["AvailabilityZones"]] == ["us-east-1b"]


def test_unknown_zone_and_filter_are_refused(onebox) -> None:
    ec2 = onebox.client("ec2")
    with pytest.raises(ClientError) as error:
        ec2.describe_availability_zones(ZoneNames=["us-east-1z"])
    assert error.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as error:
        ec2.describe_regions(Filters=[{"Name": "nonsense", "Values": ["x"]}])
    assert error.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_create_key_pair_rsa_fingerprint_is_sha1_of_pkcs8(onebox) -> None:
    ec2 = onebox.client("ec2")
    created = ec2.create_key_pair(
        KeyName="rsa-made",
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "web"}]}],
    )
    try:
        private = serialization.load_pem_private_key(created["KeyMaterial"].encode(), password=None)
        assert isinstance(private, rsa.RSAPrivateKey)
        pkcs8 = private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        expected = ":".join(f"{b:02x}" for b in hashlib.sha1(pkcs8).digest())
        assert created["KeyFingerprint"] == expected
        assert created["KeyPairId"].startswith("key-") and len(created["KeyPairId"]) == 21
        described = ec2.describe_key_pairs(KeyNames=["rsa-made"], IncludePublicKey=True)["KeyPairs"][0]
        assert described["KeyFingerprint"] == expected
        assert described["KeyType"] == "rsa"
        assert described["Tags"] == [{"Key": "team", "Value": "web"}]
        public = serialization.load_ssh_public_key(described["PublicKey"].strip().encode())
        assert public.public_numbers() == private.public_key().public_numbers()
        by_tag = ec2.describe_key_pairs(Filters=[{"Name": "tag:team", "Values": ["web"]}])["KeyPairs"]
        assert [k["KeyName"] for k in by_tag] == ["rsa-made"]
    finally:
        ec2.delete_key_pair(KeyName="rsa-made")


def test_import_key_pair_fingerprints(onebox) -> None:
    ec2 = onebox.client("ec2")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    rsa_ssh = rsa_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    imported = ec2.import_key_pair(KeyName="rsa-imported", PublicKeyMaterial=rsa_ssh)
    spki = rsa_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert imported["KeyFingerprint"] == ":".join(f"{b:02x}" for b in hashlib.md5(spki).digest())

    ed_key = ed25519.Ed25519PrivateKey.generate().public_key()
    ed_ssh = ed_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    imported_ed = ec2.import_key_pair(KeyName="ed-imported", PublicKeyMaterial=ed_ssh)
    blob = base64.b64decode(ed_ssh.split()[1])
    assert imported_ed["KeyFingerprint"] == base64.b64encode(hashlib.sha256(blob).digest()).decode()
    types = {k["KeyName"]: k["KeyType"] for k in ec2.describe_key_pairs()["KeyPairs"]}
    assert types["rsa-imported"] == "rsa" and types["ed-imported"] == "ed25519"
    ec2.delete_key_pair(KeyName="rsa-imported")
    ec2.delete_key_pair(KeyPairId=imported_ed["KeyPairId"])
    names = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]]
    assert "rsa-imported" not in names and "ed-imported" not in names


def test_key_pair_errors_change_nothing(onebox) -> None:
    ec2 = onebox.client("ec2")
    ec2.create_key_pair(KeyName="dup", KeyType="ed25519")
    try:
        with pytest.raises(ClientError) as error:
            ec2.create_key_pair(KeyName="dup")
        assert error.value.response["Error"]["Code"] == "InvalidKeyPair.Duplicate"
        with pytest.raises(ClientError) as error:
            ec2.import_key_pair(KeyName="bad", PublicKeyMaterial=b"ssh-rsa not-a-key")
        assert error.value.response["Error"]["Code"] == "InvalidKey.Format"
        with pytest.raises(ClientError) as error:
            ec2.describe_key_pairs(KeyNames=["missing"])
        assert error.value.response["Error"]["Code"] == "InvalidKeyPair.NotFound"
        names = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]]
        assert names.count("dup") == 1 and "bad" not in names
        ec2.delete_key_pair(KeyName="never-existed")  # EC2 answers success
    finally:
        ec2.delete_key_pair(KeyName="dup")


def test_key_pairs_are_isolated_by_region_and_account(onebox) -> None:
    east = onebox.client("ec2")
    west = onebox.client("ec2", region_name="us-west-2")
    east.create_key_pair(KeyName="regional")
    try:
        assert "regional" not in [k["KeyName"] for k in west.describe_key_pairs()["KeyPairs"]]
        west.create_key_pair(KeyName="regional")  # the same name in another region is fine
        west.delete_key_pair(KeyName="regional")
    finally:
        east.delete_key_pair(KeyName="regional")


def test_second_key_pair_is_another_account(onebox) -> None:
    from tests.conftest import OTHER_ACCESS_KEY, OTHER_ACCOUNT, OTHER_SECRET_KEY

    other = {"aws_access_key_id": OTHER_ACCESS_KEY, "aws_secret_access_key": OTHER_SECRET_KEY}
    assert onebox.client("sts", **other).get_caller_identity()["Account"] == OTHER_ACCOUNT
    onebox.client("ec2").create_key_pair(KeyName="mine")
    try:
        theirs = onebox.client("ec2", **other)
        assert "mine" not in [k["KeyName"] for k in theirs.describe_key_pairs()["KeyPairs"]]
        theirs.delete_key_pair(KeyName="mine")  # succeeds, and must not touch the other account's key
        assert "mine" in [k["KeyName"] for k in onebox.client("ec2").describe_key_pairs()["KeyPairs"]]
    finally:
        onebox.client("ec2").delete_key_pair(KeyName="mine")


def test_cli_key_pair_round_trip(onebox) -> None:
    created = json.loads(
        onebox.aws("ec2", "create-key-pair", "--key-name", "cli-key", "--key-type", "ed25519").stdout
    )
    assert created["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    listed = json.loads(onebox.aws("ec2", "describe-key-pairs", "--key-names", "cli-key").stdout)
    assert listed["KeyPairs"][0]["KeyPairId"] == created["KeyPairId"]
    onebox.aws("ec2", "delete-key-pair", "--key-name", "cli-key")
    missing = onebox.aws("ec2", "describe-key-pairs", "--key-names", "cli-key", check=False)
    assert missing.returncode != 0 and "InvalidKeyPair.NotFound" in missing.stderr
