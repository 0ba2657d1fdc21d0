-- Image service: metadata definitions (Glance's metadefs catalog).
-- Namespaces are addressed by their unique name but keyed by a uuid, so a
-- rename does not touch the rows below them. Objects, properties and tags
-- are one table: each is a name in a namespace with a JSON document
-- (`kind` is object | property | tag).
CREATE TABLE image_metadef_namespaces (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL UNIQUE,
    display_name TEXT,
    description TEXT,
    visibility TEXT NOT NULL,
    protected BIGINT NOT NULL,
    owner TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE image_metadef_items (
    namespace_id TEXT NOT NULL REFERENCES image_metadef_namespaces(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (namespace_id, kind, name)
);

CREATE TABLE image_metadef_resource_types (
    name TEXT PRIMARY KEY,
    protected BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE image_metadef_resource_type_associations (
    namespace_id TEXT NOT NULL REFERENCES image_metadef_namespaces(id) ON DELETE CASCADE,
    resource_type TEXT NOT NULL REFERENCES image_metadef_resource_types(name),
    prefix TEXT,
    properties_target TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (namespace_id, resource_type)
);
CREATE INDEX image_metadef_rta_type ON image_metadef_resource_type_associations (resource_type);
