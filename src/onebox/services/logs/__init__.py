"""CloudWatch Logs: log groups and streams, events in their own SQLite tables, filter patterns, retention
and metric filters that publish to CloudWatch metrics."""
