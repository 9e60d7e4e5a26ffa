"""Shared fixtures. Sandbox servers are started once per session and reset through their own APIs per test."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.aws",
    "tests.fixtures.snowflake",
    "tests.fixtures.platform",
    "tests.fixtures.sqlmesh",
]
