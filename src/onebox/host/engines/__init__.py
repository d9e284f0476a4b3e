"""Database engine drivers: set up, configure, run (through the supervisor), back up and restore real
PostgreSQL and MariaDB servers. Only this package touches their files and binaries."""
