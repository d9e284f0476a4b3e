"""CloudWatch: metrics (store, statistics, metric math) and alarms evaluated on the clock."""
