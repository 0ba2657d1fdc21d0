-- Compute service (Nova v2.1): limits of quota classes (nova's
-- quota_classes table). Only the class 'default' takes effect: its rows
-- replace the built-in defaults for every project without limits of its own.
CREATE TABLE compute_quota_classes (
    class_name TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (class_name, resource)
);
