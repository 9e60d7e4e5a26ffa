-- The one place product events enter the project: AIRBYTE_DB.RAW.APP_EVENTS in production, the seed locally.
MODEL (
  name sources.airbyte_app_events,
  kind VIEW,
  description 'Raw product events, as landed by Airbyte (hourly syncs). Not deduplicated.',
  audits (
    raw_load_freshness(column := _airbyte_extracted_at, max_lag_hours := 6)
  )
);

SELECT
  event_id,
  user_id,
  event_type,
  occurred_at,
  @raw_json(properties) AS properties,
  _airbyte_raw_id,
  _airbyte_extracted_at,
  @raw_json(_airbyte_meta) AS _airbyte_meta
FROM @raw_source('AIRBYTE_DB.RAW.APP_EVENTS', 'raw_seeds.airbyte_app_events')
