"""SQLMesh configuration for the Goodword warehouse project.

Python rather than YAML for two reasons SQLMesh's YAML cannot express:

* DuckDB paths are resolved against this folder, never the process CWD (a relative ``database:`` in YAML is
  opened relative to wherever ``sqlmesh`` was started, silently creating a fresh, empty warehouse there).
* Production settings come from environment variables and are checked here. An unset ``{{ env_var('X') }}``
  renders as the string ``'None'``; we name the missing variables instead. SQLMesh validates *every* gateway
  when it loads the project, so an incomplete ``snowflake`` gateway must not break ``local``: it is registered
  with a scheduler that refuses to work (with the list of problems) only once that gateway is selected.

Gateways:

``local`` (default)
    Embedded DuckDB for execution and state; reads the seed CSVs instead of the raw tables.
``local_pg``
    Embedded DuckDB for execution, PostgreSQL (127.0.0.1:5432 by default) for state: the production state shape,
    used by the tests with a throwaway database.
``snowflake``
    Production: Snowflake ``vsc91540.us-east-1`` / ``COMPUTE_WH`` / ``GOODWORD_WH`` for execution, PostgreSQL on the
    SQLMesh server for state; reads ``AIRBYTE_DB.RAW`` and ``GOODWORD_WH.RAW``.

Environment variables are listed in README.md.
"""

from __future__ import annotations

import os
import typing as t
from pathlib import Path

from pydantic import ValidationError
from sqlmesh.core.config import (
    BuiltInSchedulerConfig,
    Config,
    DuckDBConnectionConfig,
    GatewayConfig,
    ModelDefaultsConfig,
    PostgresConnectionConfig,
    SnowflakeConnectionConfig,
)
from sqlmesh.utils.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent

SNOWFLAKE_ACCOUNT = "vsc91540.us-east-1"
SNOWFLAKE_WAREHOUSE = "COMPUTE_WH"
# Always set: without a database SQLMesh asks Snowflake for the default catalog while loading *any* gateway.
SNOWFLAKE_DATABASE = "GOODWORD_WH"

# The production state database lives on the SQLMesh server (172.22.2.106, see config.toml).
PROD_STATE_DEFAULT_HOST = "172.22.2.106"
PROD_STATE_DEFAULT_DATABASE = "sqlmesh_state"

# Where models read raw data from; see macros/raw_source.py and README.md.
RAW_FROM_SEEDS = {"raw_source": "seeds"}
RAW_FROM_WAREHOUSE = {"raw_source": "warehouse"}


def _env(name: str) -> str | None:
    """An environment variable, with empty strings treated as unset."""
    value = os.environ.get(name, "").strip()
    return value or None


def _project_path(value: str | None, default: str) -> str:
    """A file path from the environment (or the default), relative paths taken from this folder, not the CWD."""
    path = Path(value).expanduser() if value else Path(default)
    if not path.is_absolute():
        path = PROJECT_DIR / path
    return str(path)


def _port(name: str, default: int, problems: list[str]) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        problems.append(f"{name} must be a port number (1-65535)")
        return default
    return port


def _describe_validation_error(prefix: str, error: Exception) -> list[str]:
    """Field names and reasons only: pydantic's own text echoes input values, which may be secrets."""
    if isinstance(error, ValidationError):
        return [
            f"{prefix}: {'.'.join(str(part) for part in item['loc']) or 'settings'}: {item['msg']}"
            for item in error.errors(include_input=False, include_url=False)
        ]
    return [f"{prefix}: {error}"]


class MissingSettingsScheduler(BuiltInSchedulerConfig):
    """The scheduler of a gateway whose environment is incomplete.

    SQLMesh asks only the *selected* gateway for its scheduler, and asks it first for anything that touches a
    database (default catalog while loading, the state sync, the plan evaluator). Refusing here gives one clear
    error naming what is missing, while other gateways keep working.
    """

    gateway_name: str
    problems: list[str]

    def _refuse(self) -> t.NoReturn:
        raise ConfigError(
            f"Gateway '{self.gateway_name}' is not configured:\n  - "
            + "\n  - ".join(self.problems)
            + "\nSet these environment variables (see sqlmesh_project/README.md) or select another gateway."
        )

    def create_state_sync(self, context: t.Any) -> t.Any:
        self._refuse()

    def state_sync_fingerprint(self, context: t.Any) -> str:
        self._refuse()

    def create_plan_evaluator(self, context: t.Any) -> t.Any:
        self._refuse()

    def get_default_catalog_per_gateway(self, context: t.Any) -> dict[str, str]:
        self._refuse()


def local_gateway() -> GatewayConfig:
    """DuckDB for execution and state, in one file next to this config (or GOODWORD_LOCAL_DUCKDB)."""
    database = _project_path(_env("GOODWORD_LOCAL_DUCKDB"), "goodword_local.duckdb")
    return GatewayConfig(
        connection=DuckDBConnectionConfig(database=database),
        variables=RAW_FROM_SEEDS,
    )


def local_pg_gateway() -> GatewayConfig:
    """DuckDB for execution, PostgreSQL for state: the production state shape on a developer machine or CI."""
    problems: list[str] = []
    database = _project_path(_env("GOODWORD_LOCAL_PG_DUCKDB"), "goodword_local_pg.duckdb")
    state = PostgresConnectionConfig(
        host=_env("GOODWORD_LOCAL_PG_HOST") or "127.0.0.1",
        port=_port("GOODWORD_LOCAL_PG_PORT", 5432, problems),
        user=_env("GOODWORD_LOCAL_PG_USER") or "postgres",
        password=os.environ.get("GOODWORD_LOCAL_PG_PASSWORD", ""),
        database=_env("GOODWORD_LOCAL_PG_DATABASE") or "goodword_sqlmesh_state",
        connect_timeout=5,
    )
    return GatewayConfig(
        connection=DuckDBConnectionConfig(database=database),
        state_connection=state,
        variables=RAW_FROM_SEEDS,
        scheduler=MissingSettingsScheduler(gateway_name="local_pg", problems=problems) if problems else None,
    )


def _snowflake_connection(problems: list[str]) -> SnowflakeConnectionConfig | None:
    user, role = _env("SNOWFLAKE_USER"), _env("SNOWFLAKE_ROLE")
    key_path, password = _env("SNOWFLAKE_PRIVATE_KEY_PATH"), _env("SNOWFLAKE_PASSWORD")
    if user is None:
        problems.append("SNOWFLAKE_USER is not set")
    if role is None:
        problems.append("SNOWFLAKE_ROLE is not set")
    if key_path is None and password is None:
        problems.append("neither SNOWFLAKE_PRIVATE_KEY_PATH (key-pair, preferred) nor SNOWFLAKE_PASSWORD is set")
    if key_path is not None and not Path(key_path).expanduser().is_file():
        problems.append(f"SNOWFLAKE_PRIVATE_KEY_PATH does not point to a file: {key_path}")
    if problems:
        return None
    auth: dict[str, t.Any] = (
        {
            "private_key_path": str(Path(t.cast(str, key_path)).expanduser()),
            "private_key_passphrase": _env("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"),
        }
        if key_path is not None
        else {"password": password}
    )
    try:
        # The key is read and decrypted here, at load; a failure must not take the other gateways down.
        return SnowflakeConnectionConfig(
            account=SNOWFLAKE_ACCOUNT,
            warehouse=SNOWFLAKE_WAREHOUSE,
            database=SNOWFLAKE_DATABASE,
            user=user,
            role=role,
            **auth,
        )
    except (ValidationError, ConfigError, ValueError) as error:
        problems.extend(_describe_validation_error("Snowflake connection", error))
        return None


def _prod_state_connection(problems: list[str]) -> PostgresConnectionConfig | None:
    user, password = _env("GOODWORD_STATE_PG_USER"), os.environ.get("GOODWORD_STATE_PG_PASSWORD")
    if user is None:
        problems.append("GOODWORD_STATE_PG_USER is not set")
    if not password:
        problems.append("GOODWORD_STATE_PG_PASSWORD is not set")
    port = _port("GOODWORD_STATE_PG_PORT", 5432, problems)
    if problems:
        return None
    return PostgresConnectionConfig(
        host=_env("GOODWORD_STATE_PG_HOST") or PROD_STATE_DEFAULT_HOST,
        port=port,
        user=t.cast(str, user),
        password=t.cast(str, password),
        database=_env("GOODWORD_STATE_PG_DATABASE") or PROD_STATE_DEFAULT_DATABASE,
        sslmode=_env("GOODWORD_STATE_PG_SSLMODE") or "prefer",
        connect_timeout=10,
    )


def snowflake_gateway() -> GatewayConfig:
    """Production. Complete settings give a normal gateway; incomplete ones give one that refuses when selected."""
    problems: list[str] = []
    connection = _snowflake_connection(problems)
    state_connection = _prod_state_connection(problems)
    if connection is not None and state_connection is not None:
        return GatewayConfig(connection=connection, state_connection=state_connection, variables=RAW_FROM_WAREHOUSE)
    # A stand-in that passes validation and never connects: the refusing scheduler stops every use first.
    placeholder = SnowflakeConnectionConfig(
        account=SNOWFLAKE_ACCOUNT,
        warehouse=SNOWFLAKE_WAREHOUSE,
        database=SNOWFLAKE_DATABASE,
        user="unset",
        password="unset",
    )
    return GatewayConfig(
        connection=placeholder,
        variables=RAW_FROM_WAREHOUSE,
        scheduler=MissingSettingsScheduler(gateway_name="snowflake", problems=problems),
    )


config = Config(
    gateways={
        "local": local_gateway(),
        "local_pg": local_pg_gateway(),
        "snowflake": snowflake_gateway(),
    },
    default_gateway="local",
    model_defaults=ModelDefaultsConfig(dialect="snowflake", start="2025-09-01", cron="@daily"),
    variables=RAW_FROM_WAREHOUSE,
    disable_anonymized_analytics=True,
    # SQLMesh keys its cache on the whole config (DuckDB paths included): tests point it away from the project.
    cache_dir=_project_path(_env("GOODWORD_SQLMESH_CACHE_DIR"), ".cache"),
)
