-- Image service (Glance v2): images, their custom properties, tags and
-- members. Timestamps are microseconds since the epoch. Deleted images are
-- removed (with their data), so every row here is a live image.
CREATE TABLE image_images (
    id TEXT PRIMARY KEY,
    name TEXT,
    status TEXT NOT NULL,
    visibility TEXT NOT NULL,
    owner TEXT,
    disk_format TEXT,
    container_format TEXT,
    size BIGINT,
    virtual_size BIGINT,
    checksum TEXT,
    os_hash_algo TEXT,
    os_hash_value TEXT,
    min_disk BIGINT NOT NULL,
    min_ram BIGINT NOT NULL,
    protected BIGINT NOT NULL,
    os_hidden BIGINT NOT NULL,
    location TEXT,
    store TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX image_images_owner ON image_images (owner);
CREATE INDEX image_images_visibility ON image_images (visibility);
CREATE INDEX image_images_created ON image_images (created_at, id);

CREATE TABLE image_properties (
    image_id TEXT NOT NULL REFERENCES image_images(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (image_id, name)
);

CREATE TABLE image_tags (
    image_id TEXT NOT NULL REFERENCES image_images(id) ON DELETE CASCADE,
    value TEXT NOT NULL,
    PRIMARY KEY (image_id, value)
);

-- status: pending | accepted | rejected.
CREATE TABLE image_members (
    image_id TEXT NOT NULL REFERENCES image_images(id) ON DELETE CASCADE,
    member TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (image_id, member)
);
CREATE INDEX image_members_member ON image_members (member);
