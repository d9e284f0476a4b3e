"""Terraform's AWS provider against a live daemon: provider start-up calls, a data source, a resource.

Runs where the machine has terraform and a filesystem mirror of hashicorp/aws (ONEBOX_TF_MIRROR,
default /opt/tf-plugins); elsewhere it is skipped, since Terraform cannot download providers here.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.acm_support import make_certificate
from tests.terraform import needs_terraform, terraform

pytestmark = needs_terraform

MAIN_TF = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_metadata_api_check     = true
  skip_credentials_validation = false
  skip_requesting_account_id  = false
  endpoints {
    ec2 = "ENDPOINT"
    sts = "ENDPOINT"
    iam = "ENDPOINT"
    acm = "ENDPOINT"
  }
}

data "aws_caller_identity" "me" {}

data "aws_availability_zones" "available" {
  state = "available"
}

resource "aws_key_pair" "deployer" {
  key_name   = "deployer"
  public_key = "PUBLIC_KEY"
  tags = {
    Team = "web"
  }
}

resource "aws_acm_certificate" "imported" {
  private_key      = file("key.pem")
  certificate_body = file("cert.pem")
  tags = {
    Team = "web"
  }
}

output "account" { value = data.aws_caller_identity.me.account_id }
output "certificate" { value = aws_acm_certificate.imported.arn }
output "zones" { value = data.aws_availability_zones.available.names }
output "fingerprint" { value = aws_key_pair.deployer.fingerprint }
output "key_pair_id" { value = aws_key_pair.deployer.key_pair_id }
"""


def test_terraform_apply_and_destroy(onebox, tmp_path: Path) -> None:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    openssh = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    (tmp_path / "main.tf").write_text(
        MAIN_TF.replace("ENDPOINT", onebox.endpoint).replace("PUBLIC_KEY", openssh)
    )
    issued = make_certificate("tf.example.com", ("tf.example.com", "www.tf.example.com"))
    (tmp_path / "cert.pem").write_text(issued.certificate)
    (tmp_path / "key.pem").write_text(issued.private_key)

    init = terraform(tmp_path, "init", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    apply = terraform(tmp_path, "apply", "-auto-approve", "-input=false", "-no-color")
    assert apply.returncode == 0, apply.stdout + apply.stderr
    outputs = json.loads(terraform(tmp_path, "output", "-json").stdout)
    assert outputs["account"]["value"] == "000000000000"
    assert outputs["zones"]["value"] == ["us-east-1a", "us-east-1b", "us-east-1c"]

    described = onebox.client("ec2").describe_key_pairs(KeyNames=["deployer"])["KeyPairs"][0]
    assert described["KeyPairId"] == outputs["key_pair_id"]["value"]
    assert described["KeyFingerprint"] == outputs["fingerprint"]["value"]
    assert described["Tags"] == [{"Key": "Team", "Value": "web"}]
    certificate = onebox.client("acm").describe_certificate(CertificateArn=outputs["certificate"]["value"])
    assert certificate["Certificate"]["DomainName"] == "tf.example.com"

    plan = terraform(tmp_path, "plan", "-detailed-exitcode", "-input=false", "-no-color")
    assert plan.returncode == 0, "a second plan must show no changes:\n" + plan.stdout + plan.stderr

    destroy = terraform(tmp_path, "destroy", "-auto-approve", "-input=false", "-no-color")
    assert destroy.returncode == 0, destroy.stdout + destroy.stderr
    names = [k["KeyName"] for k in onebox.client("ec2").describe_key_pairs()["KeyPairs"]]
    assert "deployer" not in names
    arns = [c["CertificateArn"] for c in onebox.client("acm").list_certificates()["CertificateSummaryList"]]
    assert outputs["certificate"]["value"] not in arns
