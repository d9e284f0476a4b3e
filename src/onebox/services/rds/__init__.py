"""Amazon RDS: DB instances served by real PostgreSQL and MariaDB servers (see docs/rds.md)."""
