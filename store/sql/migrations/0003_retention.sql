-- Retention: each tenant's earliest reconstructable instant once retention has removed older data.

-- Set by retention (to the instant of the snapshot it keeps) before it deletes anything, so readers never trust
-- data that is being removed; NULL while retention never removed anything of the tenant.
ALTER TABLE tenant_config ADD COLUMN retained_from timestamptz;
