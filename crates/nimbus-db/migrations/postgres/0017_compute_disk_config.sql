-- Compute service (Nova v2.1): a server's `OS-DCF:diskConfig` (nova's
-- `instances.auto_disk_config`), set on create, rebuild and update and shown
-- as stored. 'AUTO' or 'MANUAL'.
ALTER TABLE compute_instances ADD COLUMN disk_config TEXT NOT NULL DEFAULT 'MANUAL';
