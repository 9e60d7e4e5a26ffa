-- Local stand-in for GOODWORD_WH.RAW.SUBSCRIPTIONS (same columns and types); see airbyte_app_users.sql.
MODEL (
  name raw_seeds.goodword_subscriptions,
  kind SEED (
    path '../../seeds/goodword_subscriptions.csv'
  ),
  enabled @uses_seeds(),
  description 'Seed copy of the billing export (one row per subscription status change).',
  columns (
    subscription_id VARCHAR,
    user_id NUMBER(38, 0),
    plan VARCHAR,
    started_at TIMESTAMP_NTZ,
    trial_ends_at TIMESTAMP_NTZ,
    status VARCHAR,
    mrr_usd NUMBER(10, 2),
    canceled_at TIMESTAMP_NTZ,
    _loaded_at TIMESTAMP_TZ
  )
)
