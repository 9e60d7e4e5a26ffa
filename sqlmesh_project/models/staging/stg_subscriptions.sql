MODEL (
  name staging.stg_subscriptions,
  kind FULL,
  grain subscription_id,
  description 'One row per subscription: its latest status from the billing export, typed.',
  audits (
    not_null(columns := (subscription_id, user_id, plan, status, started_at)),
    unique_values(columns := (subscription_id)),
    accepted_values(column := plan, is_in := ('pro', 'team')),
    accepted_values(column := status, is_in := ('trialing', 'active', 'past_due', 'canceled'))
  )
);

SELECT
  subscription_id::VARCHAR AS subscription_id,
  user_id::BIGINT AS user_id,
  LOWER(plan)::VARCHAR AS plan,
  LOWER(status)::VARCHAR AS status,
  LOWER(status) IN ('active', 'past_due') AS is_paying,
  mrr_usd::NUMBER(10, 2) AS mrr_usd,
  started_at::TIMESTAMP_NTZ AS started_at,
  trial_ends_at::TIMESTAMP_NTZ AS trial_ends_at,
  canceled_at::TIMESTAMP_NTZ AS canceled_at,
  CONVERT_TIMEZONE('UTC', _loaded_at)::TIMESTAMP_NTZ AS _loaded_at
FROM sources.goodword_subscriptions
QUALIFY
  ROW_NUMBER() OVER (PARTITION BY subscription_id ORDER BY _loaded_at DESC) = 1
