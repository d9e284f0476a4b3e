"""Which engines and versions onebox serves, and from which installed server."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from onebox.aws.errors import AwsError
from onebox.host.engines import mariadb, postgres


@dataclass(frozen=True)
class EngineVersion:
    engine: str  # the RDS engine name the user asked for
    version: str  # what RDS reports (EngineVersion)
    family: str  # DBParameterGroupFamily
    driver: str  # "postgres" or "mariadb": which installed server runs it
    description: str
    port: int


@functools.cache
def versions() -> list[EngineVersion]:
    maria = mariadb.version()
    pg_out = postgres.BIN / "postgres"
    pg_version = _pg_version(str(pg_out))
    return [
        EngineVersion("postgres", pg_version, "postgres15", "postgres", "PostgreSQL", 5432),
        EngineVersion("mariadb", maria, "mariadb10.11", "mariadb", "MariaDB Community Edition", 3306),
        # Engine mysql is served by MariaDB over the MySQL protocol (docs/rds.md says what differs).
        EngineVersion("mysql", "8.0.39", "mysql8.0", "mariadb", "MySQL Community Edition", 3306),
    ]


def _pg_version(binary: str) -> str:
    import subprocess

    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"(\d+\.\d+)", out)
    return match.group(1) if match else "15.0"


ENGINES = ("postgres", "mysql", "mariadb")


def resolve(engine: str, requested: str | None) -> EngineVersion:
    """The served version for `engine` and an optional requested version (major or full)."""
    if engine not in ENGINES:
        raise AwsError("InvalidParameterValue", f"Invalid DB engine: {engine}")
    candidate = next(v for v in versions() if v.engine == engine)
    if not requested:
        return candidate
    major = (
        ".".join(candidate.version.split(".")[:2])
        if engine != "postgres"
        else candidate.version.split(".")[0]
    )
    if requested == candidate.version or requested == major or requested.startswith(major + "."):
        return candidate
    raise AwsError("InvalidParameterCombination", f"Cannot find version {requested} for {engine}")


def by_family(family: str) -> EngineVersion | None:
    return next((v for v in versions() if v.family == family), None)


# Instance classes and their vCPUs / memory (GiB), as AWS sizes them.
INSTANCE_CLASSES: dict[str, tuple[int, float]] = {
    "db.t3.micro": (2, 1),
    "db.t3.small": (2, 2),
    "db.t3.medium": (2, 4),
    "db.t3.large": (2, 8),
    "db.t3.xlarge": (4, 16),
    "db.t4g.micro": (2, 1),
    "db.t4g.small": (2, 2),
    "db.t4g.medium": (2, 4),
    "db.t4g.large": (2, 8),
    "db.m5.large": (2, 8),
    "db.m5.xlarge": (4, 16),
    "db.m6g.large": (2, 8),
    "db.m6i.large": (2, 8),
    "db.m7g.large": (2, 8),
    "db.r5.large": (2, 16),
    "db.r6g.large": (2, 16),
    "db.r6i.large": (2, 16),
}

STORAGE_BOUNDS = {"gp2": (20, 65536), "gp3": (20, 65536), "io1": (100, 65536), "standard": (5, 3072)}


def check_class(engine: EngineVersion, instance_class: str) -> None:
    if instance_class not in INSTANCE_CLASSES:
        raise AwsError(
            "InvalidParameterCombination",
            "RDS does not support creating a DB instance with the following combination: "
            f"DBInstanceClass={instance_class}, Engine={engine.engine}, EngineVersion={engine.version}, "
            f"LicenseModel={license_model(engine.engine)}. For supported combinations of instance class "
            "and database engine version, see the documentation.",
        )


def license_model(engine: str) -> str:
    return "postgresql-license" if engine == "postgres" else "general-public-license"


def check_storage(engine: str, storage_type: str, size: int) -> None:
    low, high = STORAGE_BOUNDS.get(storage_type, STORAGE_BOUNDS["gp2"])
    if not low <= size <= high:
        raise AwsError(
            "InvalidParameterCombination",
            f"Invalid storage size for engine name {engine} and storage type {storage_type}: {size}",
        )
