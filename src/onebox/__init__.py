"""onebox: an AWS-compatible cloud that really runs what you create, on one machine."""

__version__ = "0.1.0"
