MODEL (
  name staging.stg_app_events,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column occurred_at,
    -- Airbyte lands an event up to an hour after it happened: re-read the two previous days on every run.
    lookback 2
  ),
  cron '@daily',
  start '2025-09-01',
  grain event_id,
  description 'Product events, one row per EVENT_ID (Airbyte re-syncs removed), typed.',
  column_descriptions (
    query_duration_ms = 'For query_run events: how long the query took (from PROPERTIES).'
  ),
  audits (
    not_null(columns := (event_id, user_id, event_type, occurred_at)),
    unique_values(columns := (event_id)),
    accepted_values(
      column := event_type,
      is_in := ('session_started', 'query_run', 'dashboard_viewed', 'connector_created', 'report_exported')
    )
  )
);

SELECT
  event_id::VARCHAR AS event_id,
  user_id::BIGINT AS user_id,
  LOWER(event_type)::VARCHAR AS event_type,
  occurred_at::TIMESTAMP_NTZ AS occurred_at,
  occurred_at::DATE AS event_date,
  IFF(LOWER(event_type) = 'query_run', properties:duration_ms::BIGINT, NULL) AS query_duration_ms,
  CONVERT_TIMEZONE('UTC', _airbyte_extracted_at)::TIMESTAMP_NTZ AS _airbyte_extracted_at
FROM sources.airbyte_app_events
WHERE
  occurred_at BETWEEN @start_ts AND @end_ts
QUALIFY
  ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY _airbyte_extracted_at DESC, _airbyte_raw_id DESC) = 1
