"""Terraform's AWS provider builds and destroys a VPC stack on a live daemon, and a second plan is empty.

Slow by nature (about two minutes here): each terraform command starts the AWS provider several times,
15-20 s each on a busy two-core box; settings that make the provider wait 10 s after modifying an
attribute (enable_dns_hostnames, map_public_ip_on_launch) are left out, the boto3 tests cover them.

Runs where the machine has terraform and a filesystem mirror of hashicorp/aws (ONEBOX_TF_MIRROR,
default /opt/tf-plugins); elsewhere it is skipped, since Terraform cannot download providers here.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.conftest import LiveOnebox
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
  endpoints {
    ec2 = "ENDPOINT"
    sts = "ENDPOINT"
    iam = "ENDPOINT"
  }
}

resource "aws_vpc" "main" {
  cidr_block = "PREFIX.0.0/16"
  tags       = { Name = "tf-main" }
}

resource "aws_subnet" "public" {
  count             = 2
  vpc_id            = aws_vpc.main.id
  cidr_block        = "PREFIX.${count.index}.0/24"
  availability_zone = ["us-east-1a", "us-east-1b"][count.index]
}

resource "aws_internet_gateway" "gw" {
  vpc_id = aws_vpc.main.id
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.gw.id
  }
}

resource "aws_route_table_association" "public" {
  count          = 2
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_security_group" "web" {
  name        = "web"
  description = "web servers"
  vpc_id      = aws_vpc.main.id
  ingress {
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "db" {
  name   = "db"
  vpc_id = aws_vpc.main.id
  ingress {
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [aws_security_group.web.id]
  }
}

data "aws_vpc" "default" {
  default = true
}

output "vpc_id" { value = aws_vpc.main.id }
output "default_vpc_cidr" { value = data.aws_vpc.default.cidr_block }
output "subnets" { value = aws_subnet.public[*].id }
"""


def test_terraform_vpc_stack(onebox: LiveOnebox, tmp_path: Path) -> None:
    prefix = f"10.{random.randint(100, 199)}"
    (tmp_path / "main.tf").write_text(MAIN_TF.replace("ENDPOINT", onebox.endpoint).replace("PREFIX", prefix))
    init = terraform(tmp_path, "init", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    apply = terraform(tmp_path, "apply", "-auto-approve", "-input=false", "-no-color")
    try:
        assert apply.returncode == 0, apply.stdout + apply.stderr
        outputs = json.loads(terraform(tmp_path, "output", "-json").stdout)
        assert outputs["default_vpc_cidr"]["value"] == "172.31.0.0/16"
        ec2 = onebox.client("ec2")
        vpc_id = outputs["vpc_id"]["value"]
        vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
        assert vpc["CidrBlock"] == f"{prefix}.0.0/16" and vpc["Tags"] == [{"Key": "Name", "Value": "tf-main"}]
        tables = ec2.describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": outputs["subnets"]["value"]}]
        )["RouteTables"]
        assert len(tables) == 1 and {r["DestinationCidrBlock"] for r in tables[0]["Routes"]} == {
            f"{prefix}.0.0/16",
            "0.0.0.0/0",
        }
        plan = terraform(tmp_path, "plan", "-detailed-exitcode", "-input=false", "-no-color")
        assert plan.returncode == 0, "a second plan must show no changes:\n" + plan.stdout + plan.stderr
    finally:
        destroy = terraform(tmp_path, "destroy", "-auto-approve", "-input=false", "-no-color")
    assert destroy.returncode == 0, destroy.stdout + destroy.stderr
    remaining = onebox.client("ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": [f"{prefix}.0.0/16"]}])
    assert remaining["Vpcs"] == []
