"""Elastic Load Balancing v2: Application Load Balancers (docs/elbv2.md)."""
