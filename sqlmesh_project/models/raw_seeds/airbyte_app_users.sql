-- Local stand-in for AIRBYTE_DB.RAW.APP_USERS: the same columns and types, except that JSON columns (VARIANT in
-- Snowflake) are text in the CSV and parsed by the sources view (@raw_json). Enabled only where the `raw_source`
-- variable is 'seeds' (gateways local, local_pg): production never builds these tables.
MODEL (
  name raw_seeds.airbyte_app_users,
  kind SEED (
    path '../../seeds/airbyte_app_users.csv'
  ),
  enabled @uses_seeds(),
  description 'Seed copy of the Airbyte-landed app users table (several rows per ID: one per extraction).',
  columns (
    id NUMBER(38, 0),
    email VARCHAR,
    signup_source VARCHAR,
    country VARCHAR,
    created_at TIMESTAMP_NTZ,
    plan VARCHAR,
    updated_at TIMESTAMP_NTZ,
    _airbyte_raw_id VARCHAR,
    _airbyte_extracted_at TIMESTAMP_TZ,
    _airbyte_meta VARCHAR
  )
)
