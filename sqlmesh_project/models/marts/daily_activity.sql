MODEL (
  name marts.daily_activity,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column activity_date,
    lookback 2
  ),
  cron '@daily',
  start '2025-09-01',
  grain activity_date,
  description 'Daily activity: how many users were active (new vs returning), sessions, queries, signups.',
  column_descriptions (
    active_users = 'Distinct users with at least one event that day (DAU).',
    returning_users = 'Active users who signed up on an earlier day.',
    new_users = 'Users who signed up that day.',
    query_duration_ms = 'Total time spent in queries that day.'
  ),
  audits (
    not_null(columns := (activity_date, active_users, new_users)),
    unique_values(columns := (activity_date)),
    forall(criteria := (returning_users <= active_users, sessions <= events, queries_run <= events))
  )
);

WITH events AS (
  SELECT
    user_id,
    event_type,
    event_date,
    query_duration_ms
  FROM staging.stg_app_events
  WHERE
    event_date BETWEEN @start_ds AND @end_ds
), users AS (
  SELECT
    user_id,
    signup_date
  FROM staging.stg_app_users
), activity AS (
  SELECT
    e.event_date AS activity_date,
    COUNT(DISTINCT e.user_id) AS active_users,
    COUNT(DISTINCT IFF(u.signup_date < e.event_date, e.user_id, NULL)) AS returning_users,
    COUNT(*) AS events,
    COUNT_IF(e.event_type = 'session_started') AS sessions,
    COUNT_IF(e.event_type = 'query_run') AS queries_run,
    COALESCE(SUM(e.query_duration_ms), 0) AS query_duration_ms
  FROM events AS e
  LEFT JOIN users AS u
    ON u.user_id = e.user_id
  GROUP BY
    e.event_date
), signups AS (
  SELECT
    signup_date,
    COUNT(*) AS new_users
  FROM users
  WHERE
    signup_date BETWEEN @start_ds AND @end_ds
  GROUP BY
    signup_date
)
SELECT
  COALESCE(a.activity_date, s.signup_date)::DATE AS activity_date,
  COALESCE(a.active_users, 0)::BIGINT AS active_users,
  COALESCE(a.returning_users, 0)::BIGINT AS returning_users,
  COALESCE(s.new_users, 0)::BIGINT AS new_users,
  COALESCE(a.sessions, 0)::BIGINT AS sessions,
  COALESCE(a.queries_run, 0)::BIGINT AS queries_run,
  COALESCE(a.events, 0)::BIGINT AS events,
  COALESCE(a.query_duration_ms, 0)::BIGINT AS query_duration_ms
FROM activity AS a
FULL OUTER JOIN signups AS s
  ON s.signup_date = a.activity_date
