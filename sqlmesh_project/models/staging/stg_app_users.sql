MODEL (
  name staging.stg_app_users,
  kind FULL,
  grain user_id,
  description 'One row per app user: the latest Airbyte extraction of each ID, typed and cleaned.',
  column_descriptions (
    signup_week = 'Monday of the signup week (the cohort used by the marts).',
    _airbyte_extracted_at = 'When Airbyte extracted the row kept for this user (UTC).'
  ),
  audits (
    not_null(columns := (user_id, email, plan, signup_source, created_at)),
    unique_values(columns := (user_id, email)),
    accepted_values(column := plan, is_in := ('free', 'pro', 'team')),
    accepted_values(column := signup_source, is_in := ('organic', 'referral', 'paid_search', 'partner'))
  )
);

SELECT
  id::BIGINT AS user_id,
  LOWER(TRIM(email))::VARCHAR AS email,
  LOWER(plan)::VARCHAR AS plan,
  LOWER(signup_source)::VARCHAR AS signup_source,
  UPPER(country)::VARCHAR AS country,
  created_at::TIMESTAMP_NTZ AS created_at,
  created_at::DATE AS signup_date,
  DATE_TRUNC('WEEK', created_at)::DATE AS signup_week,
  updated_at::TIMESTAMP_NTZ AS updated_at,
  CONVERT_TIMEZONE('UTC', _airbyte_extracted_at)::TIMESTAMP_NTZ AS _airbyte_extracted_at
FROM sources.airbyte_app_users
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY id
    ORDER BY _airbyte_extracted_at DESC, updated_at DESC, _airbyte_raw_id DESC
  ) = 1
