-- The one place billing data enters the project: GOODWORD_WH.RAW.SUBSCRIPTIONS in production, the seed locally.
MODEL (
  name sources.goodword_subscriptions,
  kind VIEW,
  description 'Raw billing subscriptions (daily load at 02:00 UTC), one row per status change.',
  audits (
    raw_load_freshness(column := _loaded_at, max_lag_hours := 26)
  )
);

SELECT
  subscription_id,
  user_id,
  plan,
  started_at,
  trial_ends_at,
  status,
  mrr_usd,
  canceled_at,
  _loaded_at
FROM @raw_source('GOODWORD_WH.RAW.SUBSCRIPTIONS', 'raw_seeds.goodword_subscriptions')
