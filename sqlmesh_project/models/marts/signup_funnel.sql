MODEL (
  name marts.signup_funnel,
  kind FULL,
  grain signup_week,
  description 'Signup funnel per weekly cohort: signed up -> activated (first query within 7 days) -> trial -> paying.',
  column_descriptions (
    signup_week = 'Monday of the signup week.',
    activated_users = 'Users who ran their first query within 7 days (168 hours) of signing up.',
    trial_users = 'Users who started a subscription (all subscriptions start as a trial).',
    paying_users = 'Users whose subscription is currently active or past due.'
  ),
  audits (
    not_null(columns := (signup_week, signed_up_users)),
    unique_values(columns := (signup_week)),
    forall(criteria := (
      activated_users <= signed_up_users,
      paying_users <= trial_users,
      activation_rate BETWEEN 0 AND 1
    ))
  )
);

WITH users AS (
  SELECT
    user_id,
    signup_week,
    created_at
  FROM staging.stg_app_users
), first_queries AS (
  SELECT
    user_id,
    MIN(occurred_at) AS first_query_at
  FROM staging.stg_app_events
  WHERE
    event_type = 'query_run'
  GROUP BY
    user_id
), subscriptions AS (
  SELECT
    user_id,
    BOOLOR_AGG(is_paying) AS is_paying
  FROM staging.stg_subscriptions
  GROUP BY
    user_id
), per_user AS (
  SELECT
    u.signup_week,
    u.user_id,
    COALESCE(q.first_query_at < DATEADD(DAY, 7, u.created_at), FALSE) AS activated,
    s.user_id IS NOT NULL AS started_trial,
    COALESCE(s.is_paying, FALSE) AS paying
  FROM users AS u
  LEFT JOIN first_queries AS q
    ON q.user_id = u.user_id
  LEFT JOIN subscriptions AS s
    ON s.user_id = u.user_id
)
SELECT
  signup_week::DATE AS signup_week,
  COUNT(*)::BIGINT AS signed_up_users,
  COUNT_IF(activated)::BIGINT AS activated_users,
  COUNT_IF(started_trial)::BIGINT AS trial_users,
  COUNT_IF(paying)::BIGINT AS paying_users,
  ROUND(COUNT_IF(activated) / COUNT(*), 4)::DOUBLE AS activation_rate,
  ROUND(COUNT_IF(paying) / COUNT(*), 4)::DOUBLE AS paid_conversion_rate
FROM per_user
GROUP BY
  signup_week
