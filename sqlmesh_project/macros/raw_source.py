"""Where models read raw data from: the warehouse's raw tables in production, the seed models locally.

Each gateway sets the variable ``raw_source`` (config.py): ``warehouse`` (the default, production) or ``seeds``
(local, local_pg). Only the thin views in models/sources/ call ``@raw_source``; everything downstream reads those
views, so staging, marts and their unit tests are identical on every gateway.
"""

from __future__ import annotations

from sqlglot import exp
from sqlmesh import macro
from sqlmesh.core.macros import MacroEvaluator

RAW_SOURCES = ("warehouse", "seeds")


def _raw_source(evaluator: MacroEvaluator) -> str:
    value = evaluator.var("raw_source") or "warehouse"
    if value not in RAW_SOURCES:
        raise ValueError(f"variable raw_source must be one of {RAW_SOURCES}, got {value!r}")
    return value


@macro()
def raw_source(evaluator: MacroEvaluator, warehouse_table: exp.Expr, seed_model: exp.Expr) -> exp.Table:
    """``@raw_source('AIRBYTE_DB.RAW.APP_USERS', 'raw_seeds.airbyte_app_users')``: the table for this gateway."""
    chosen = seed_model if _raw_source(evaluator) == "seeds" else warehouse_table
    name = chosen.name if isinstance(chosen, exp.Literal) else chosen.sql(dialect=evaluator.dialect)
    return exp.to_table(name, dialect=evaluator.dialect)


@macro()
def uses_seeds(evaluator: MacroEvaluator) -> exp.Boolean:
    """True on gateways that read the seed models; the seed models use it as their ``enabled`` flag."""
    return exp.Boolean(this=_raw_source(evaluator) == "seeds")


@macro()
def raw_json(evaluator: MacroEvaluator, column: exp.Expr) -> exp.Expr:
    """A JSON column of a raw table as semi-structured data on every gateway.

    Snowflake lands JSON as VARIANT already; the seed CSVs hold it as text, parsed here (DuckDB JSON). Declaring the
    seed column as VARIANT does not work: DuckDB stores VARIANT only in v1.5 files and has no JSON path on it.
    """
    if _raw_source(evaluator) == "seeds":
        return exp.func("PARSE_JSON", column, dialect="snowflake")
    return column
