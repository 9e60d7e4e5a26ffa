-- The one place app users enter the project: AIRBYTE_DB.RAW.APP_USERS in production, the seed locally.
MODEL (
  name sources.airbyte_app_users,
  kind VIEW,
  description 'Raw app users, as landed by Airbyte (hourly syncs). Not deduplicated.',
  audits (
    raw_load_freshness(column := _airbyte_extracted_at, max_lag_hours := 48)
  )
);

SELECT
  id,
  email,
  signup_source,
  country,
  created_at,
  plan,
  updated_at,
  _airbyte_raw_id,
  _airbyte_extracted_at,
  @raw_json(_airbyte_meta) AS _airbyte_meta
FROM @raw_source('AIRBYTE_DB.RAW.APP_USERS', 'raw_seeds.airbyte_app_users')
