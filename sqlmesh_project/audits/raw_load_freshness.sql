-- Freshness of a raw load: fails (returns one row) when the newest row of @this_model was loaded more than
-- @max_lag_hours before the execution time, or when the table is empty. `column` is the load timestamp
-- (Airbyte's _airbyte_extracted_at, or _loaded_at for Goodword's own loads), a TIMESTAMP_TZ.
--
-- Non-blocking: a late upstream load should raise a warning for the on-call, not stop the marts from being
-- built from the data that did arrive. Locally the seeds are a fixed snapshot (as of 2025-10-06 00:30 UTC), so
-- this audit passes only for execution times shortly after that (the tests pin --execution-time).
AUDIT (
  name raw_load_freshness,
  blocking FALSE,
  defaults (
    max_lag_hours = 26
  )
);

SELECT
  MAX(@column) AS newest_load,
  @execution_tstz::TIMESTAMP_TZ AS checked_at,
  @max_lag_hours AS max_lag_hours
FROM @this_model
HAVING
  MAX(@column) IS NULL
  OR MAX(@column) < DATEADD(HOUR, -@max_lag_hours, @execution_tstz::TIMESTAMP_TZ)
