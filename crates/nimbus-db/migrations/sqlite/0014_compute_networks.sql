-- Compute service (Nova v2.1): what a server's create asked of the network
-- (`networks`: "none", "auto" or the explicit NICs, as JSON) and the ports
-- its NICs were given, in guest order (eth0 first). Rebuilds and restarts
-- read it: the ports themselves live in the network service.
CREATE TABLE compute_instance_networks (
    instance_uuid TEXT PRIMARY KEY,
    requested TEXT NOT NULL,
    port_ids TEXT NOT NULL
);
