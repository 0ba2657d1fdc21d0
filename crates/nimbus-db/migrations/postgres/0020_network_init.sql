-- Network service (Neutron v2.0). Timestamps are microseconds since the
-- epoch; flags are BIGINT 0/1; lists (dns servers, host routes, pools,
-- address pairs) are JSON text. Uniqueness that must hold under concurrency
-- (addresses, MACs, segmentation ids) is enforced here, not in memory.
CREATE TABLE network_networks (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    shared BIGINT NOT NULL,
    external BIGINT NOT NULL,
    mtu BIGINT NOT NULL,
    port_security_enabled BIGINT NOT NULL,
    network_type TEXT NOT NULL,
    physical_network TEXT,
    segmentation_id BIGINT,
    revision_number BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX network_networks_project ON network_networks (project_id);
-- One network per segment: '' stands for "no physical network" so the
-- constraint also covers vxlan/gre.
CREATE UNIQUE INDEX network_networks_segment
    ON network_networks (network_type, physical_network, segmentation_id)
    WHERE segmentation_id IS NOT NULL;

CREATE TABLE network_subnets (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES network_networks(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    ip_version BIGINT NOT NULL,
    cidr TEXT NOT NULL,
    gateway_ip TEXT,
    enable_dhcp BIGINT NOT NULL,
    ipv6_ra_mode TEXT,
    ipv6_address_mode TEXT,
    dns_nameservers TEXT NOT NULL,
    host_routes TEXT NOT NULL,
    allocation_pools TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX network_subnets_network ON network_subnets (network_id);

CREATE TABLE network_ports (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES network_networks(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    device_id TEXT NOT NULL,
    device_owner TEXT NOT NULL,
    host_id TEXT NOT NULL,
    port_security_enabled BIGINT NOT NULL,
    allowed_address_pairs TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (network_id, mac_address)
);
CREATE INDEX network_ports_project ON network_ports (project_id);
CREATE INDEX network_ports_device ON network_ports (device_id);

-- The IPAM table: an address is held by at most one port per subnet.
CREATE TABLE network_ip_allocations (
    subnet_id TEXT NOT NULL REFERENCES network_subnets(id) ON DELETE CASCADE,
    ip_address TEXT NOT NULL,
    port_id TEXT NOT NULL REFERENCES network_ports(id) ON DELETE CASCADE,
    network_id TEXT NOT NULL,
    PRIMARY KEY (subnet_id, ip_address)
);
CREATE INDEX network_ip_allocations_port ON network_ip_allocations (port_id);

CREATE TABLE network_routers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    gw_port_id TEXT,
    enable_snat BIGINT NOT NULL,
    revision_number BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX network_routers_project ON network_routers (project_id);

CREATE TABLE network_floatingips (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    description TEXT NOT NULL,
    floating_network_id TEXT NOT NULL REFERENCES network_networks(id),
    floating_port_id TEXT NOT NULL,
    floating_ip_address TEXT NOT NULL,
    port_id TEXT REFERENCES network_ports(id) ON DELETE SET NULL,
    fixed_ip_address TEXT,
    router_id TEXT,
    revision_number BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX network_floatingips_project ON network_floatingips (project_id);
CREATE INDEX network_floatingips_port ON network_floatingips (port_id);

CREATE TABLE network_security_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    stateful BIGINT NOT NULL,
    revision_number BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX network_security_groups_project ON network_security_groups (project_id);

-- One default group per project, also when two first uses race.
CREATE TABLE network_default_security_groups (
    project_id TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL REFERENCES network_security_groups(id) ON DELETE CASCADE
);

CREATE TABLE network_security_group_rules (
    id TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL REFERENCES network_security_groups(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    ethertype TEXT NOT NULL,
    protocol TEXT,
    port_range_min BIGINT,
    port_range_max BIGINT,
    remote_ip_prefix TEXT,
    remote_group_id TEXT,
    description TEXT NOT NULL,
    revision_number BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX network_security_group_rules_group ON network_security_group_rules (security_group_id);

CREATE TABLE network_port_security_groups (
    port_id TEXT NOT NULL REFERENCES network_ports(id) ON DELETE CASCADE,
    security_group_id TEXT NOT NULL REFERENCES network_security_groups(id),
    PRIMARY KEY (port_id, security_group_id)
);
CREATE INDEX network_port_security_groups_group ON network_port_security_groups (security_group_id);

CREATE TABLE network_quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);

-- Ports compute attached to a server: created ones (deleted with the
-- server) and given ones (preserve_on_delete, unbound on server delete).
CREATE TABLE network_instance_ports (
    port_id TEXT PRIMARY KEY REFERENCES network_ports(id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL,
    preserve_on_delete BIGINT NOT NULL
);
CREATE INDEX network_instance_ports_instance ON network_instance_ports (instance_id);
