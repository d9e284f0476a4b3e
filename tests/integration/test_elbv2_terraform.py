"""Terraform's AWS provider creates a load balancer, target group and listener on a live daemon, a second
plan is empty, and destroy removes them. Uses the default VPC, so nothing else needs creating.

Runs where the machine has terraform and a filesystem mirror of hashicorp/aws (tests/terraform.py);
elsewhere it is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import LiveOnebox, free_port
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
    ec2   = "ENDPOINT"
    elbv2 = "ENDPOINT"
    sts   = "ENDPOINT"
    iam   = "ENDPOINT"
  }
}

data "aws_vpc" "default" {
  default = true
}

data "aws_subnets" "default" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default.id]
  }
}

resource "aws_lb" "web" {
  name               = "tf-web"
  load_balancer_type = "application"
  subnets            = data.aws_subnets.default.ids
  idle_timeout       = 30
  tags               = { Name = "tf-web" }
}

resource "aws_lb_target_group" "web" {
  name     = "tf-web"
  port     = 80
  protocol = "HTTP"
  vpc_id   = data.aws_vpc.default.id
  deregistration_delay = 10
  health_check {
    path                = "/health"
    interval            = 5
    timeout             = 2
    healthy_threshold   = 2
    unhealthy_threshold = 2
    matcher             = "200-299"
  }
  stickiness {
    type            = "lb_cookie"
    cookie_duration = 600
  }
}

resource "aws_lb_listener" "web" {
  load_balancer_arn = aws_lb.web.arn
  port              = LISTENER_PORT
  protocol          = "HTTP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

resource "aws_lb_listener_rule" "teapot" {
  listener_arn = aws_lb_listener.web.arn
  priority     = 10
  condition {
    path_pattern {
      values = ["/tea"]
    }
  }
  action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "teapot"
      status_code  = "418"
    }
  }
}

output "dns_name" { value = aws_lb.web.dns_name }
output "lb_arn" { value = aws_lb.web.arn }
"""


def test_terraform_load_balancer_stack(onebox: LiveOnebox, tmp_path: Path) -> None:
    port = free_port()
    text = MAIN_TF.replace("ENDPOINT", onebox.endpoint).replace("LISTENER_PORT", str(port))
    (tmp_path / "main.tf").write_text(text)
    init = terraform(tmp_path, "init", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    apply = terraform(tmp_path, "apply", "-auto-approve", "-input=false", "-no-color")
    try:
        assert apply.returncode == 0, apply.stdout + apply.stderr
        outputs = json.loads(terraform(tmp_path, "output", "-json").stdout)
        elb = onebox.client("elbv2")
        lb = elb.describe_load_balancers(LoadBalancerArns=[outputs["lb_arn"]["value"]])["LoadBalancers"][0]
        assert lb["DNSName"] == outputs["dns_name"]["value"] and lb["State"]["Code"] == "active"
        attributes = elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])[
            "Attributes"
        ]
        assert {"Key": "idle_timeout.timeout_seconds", "Value": "30"} in attributes
        plan = terraform(tmp_path, "plan", "-detailed-exitcode", "-input=false", "-no-color")
        assert plan.returncode == 0, "a second plan must show no changes:\n" + plan.stdout + plan.stderr
    finally:
        destroy = terraform(tmp_path, "destroy", "-auto-approve", "-input=false", "-no-color")
    assert destroy.returncode == 0, destroy.stdout + destroy.stderr
    assert [
        b for b in elb.describe_load_balancers()["LoadBalancers"] if b["LoadBalancerName"] == "tf-web"
    ] == []
