"""The Application Load Balancer data plane: one HAProxy per balancer (docs/elbv2.md)."""
