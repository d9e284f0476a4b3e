"""One package per AWS service: api.py holds its operation handlers."""
