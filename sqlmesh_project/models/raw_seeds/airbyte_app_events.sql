-- Local stand-in for AIRBYTE_DB.RAW.APP_EVENTS (same columns and types); see airbyte_app_users.sql.
MODEL (
  name raw_seeds.airbyte_app_events,
  kind SEED (
    path '../../seeds/airbyte_app_events.csv'
  ),
  enabled @uses_seeds(),
  description 'Seed copy of the Airbyte-landed product events table (re-synced events appear twice).',
  columns (
    event_id VARCHAR,
    user_id NUMBER(38, 0),
    event_type VARCHAR,
    occurred_at TIMESTAMP_NTZ,
    properties VARCHAR,
    _airbyte_raw_id VARCHAR,
    _airbyte_extracted_at TIMESTAMP_TZ,
    _airbyte_meta VARCHAR
  )
)
