-- name: get_settings
-- The admin settings row and its version; no arguments.
SELECT max_active_sessions, max_playback_range, data_retention_cron_expression, earliest_valid_timestamp,
       query_work_mem_mb, columnstore_compression_age_days, cagg_refresh_interval_hours, cagg_refresh_lag_days,
       version
FROM settings WHERE id = 1

-- name: get_settings_version
-- The version of the admin settings row; no arguments.
SELECT version FROM settings WHERE id = 1

-- name: update_settings
-- Overwrite the given fields ($1..$8, NULL keeps the value) and bump the version; $9 is the user.
UPDATE settings SET
    max_active_sessions = COALESCE($1, max_active_sessions),
    max_playback_range = COALESCE($2, max_playback_range),
    data_retention_cron_expression = COALESCE($3, data_retention_cron_expression),
    earliest_valid_timestamp = COALESCE($4, earliest_valid_timestamp),
    query_work_mem_mb = COALESCE($5, query_work_mem_mb),
    columnstore_compression_age_days = COALESCE($6, columnstore_compression_age_days),
    cagg_refresh_interval_hours = COALESCE($7, cagg_refresh_interval_hours),
    cagg_refresh_lag_days = COALESCE($8, cagg_refresh_lag_days),
    version = version + 1,
    updated_at = now(),
    updated_by = $9
WHERE id = 1
RETURNING max_active_sessions, max_playback_range, data_retention_cron_expression, earliest_valid_timestamp,
          query_work_mem_mb, columnstore_compression_age_days, cagg_refresh_interval_hours, cagg_refresh_lag_days,
          version
