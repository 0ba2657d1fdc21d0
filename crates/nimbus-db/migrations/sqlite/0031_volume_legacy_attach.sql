-- The pre-3.27 attach API (os-reserve, os-attach, os-update_readonly_flag, ...).
-- admin_metadata: Cinder's volume_admin_metadata as one JSON object per volume
-- (`readonly`, `attached_mode`); users see those two keys in the volume's metadata.
-- attached_host: the host an os-attach names instead of an instance.
ALTER TABLE volume_volumes ADD COLUMN admin_metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE volume_attachments ADD COLUMN attached_host TEXT;
