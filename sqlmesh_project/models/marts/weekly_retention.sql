MODEL (
  name marts.weekly_retention,
  kind FULL,
  grain (cohort_week, week_number),
  description 'Weekly retention: of the users who signed up in a week, how many were active N weeks later.',
  column_descriptions (
    cohort_week = 'Monday of the signup week.',
    week_number = 'Weeks since the cohort week (0 = the signup week itself).',
    active_users = 'Cohort users with at least one event in that week.'
  ),
  audits (
    not_null(columns := (cohort_week, week_number, cohort_users, active_users)),
    unique_combination_of_columns(columns := (cohort_week, week_number)),
    accepted_range(column := retention_rate, min_v := 0, max_v := 1)
  )
);

WITH users AS (
  SELECT
    user_id,
    signup_week
  FROM staging.stg_app_users
), cohorts AS (
  SELECT
    signup_week AS cohort_week,
    COUNT(*) AS cohort_users
  FROM users
  GROUP BY
    signup_week
), user_weeks AS (
  SELECT DISTINCT
    user_id,
    DATE_TRUNC('WEEK', event_date)::DATE AS activity_week
  FROM staging.stg_app_events
), weeks AS (
  SELECT DISTINCT
    activity_week
  FROM user_weeks
), retained AS (
  SELECT
    u.signup_week AS cohort_week,
    w.activity_week,
    COUNT(*) AS active_users
  FROM users AS u
  JOIN user_weeks AS w
    ON w.user_id = u.user_id
  GROUP BY
    u.signup_week,
    w.activity_week
)
SELECT
  c.cohort_week::DATE AS cohort_week,
  DATEDIFF(WEEK, c.cohort_week, w.activity_week)::INT AS week_number,
  c.cohort_users::BIGINT AS cohort_users,
  COALESCE(r.active_users, 0)::BIGINT AS active_users,
  ROUND(COALESCE(r.active_users, 0) / c.cohort_users, 4)::DOUBLE AS retention_rate
FROM cohorts AS c
JOIN weeks AS w
  ON w.activity_week >= c.cohort_week
LEFT JOIN retained AS r
  ON r.cohort_week = c.cohort_week AND r.activity_week = w.activity_week
