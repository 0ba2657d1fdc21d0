//! Resources as neutron renders them.

use nimbus_common::RequestContext;
use serde_json::{Value, json};

use crate::app::model::{FloatingIp, Network, Port, SecurityGroup, SecurityGroupRule, Subnet};
use crate::app::routers::{InterfaceInfo, RouterView};
use crate::dataplane::Dataplane;

/// Neutron's timestamp format (`2024-01-31T12:00:00Z`).
pub fn timestamp(micros: i64) -> Value {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) => Value::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        None => Value::Null,
    }
}

fn project(project_id: &str) -> (Value, Value) {
    (json!(project_id), json!(project_id))
}

/// A network; provider attributes only for admins.
pub fn network_json(ctx: &RequestContext, n: &Network, subnets: Vec<String>) -> Value {
    let (p, t) = project(&n.project_id);
    let mut v = json!({
        "id": n.id,
        "name": n.name,
        "description": n.description,
        "project_id": p,
        "tenant_id": t,
        "admin_state_up": n.admin_state_up,
        "status": "ACTIVE",
        "subnets": subnets,
        "shared": n.shared,
        "router:external": n.external,
        "mtu": n.mtu,
        "port_security_enabled": n.port_security_enabled,
        "availability_zone_hints": [],
        "availability_zones": [],
        "ipv4_address_scope": null,
        "ipv6_address_scope": null,
        "l2_adjacency": true,
        "is_default": false,
        "tags": [],
        "created_at": timestamp(n.created_at),
        "updated_at": timestamp(n.updated_at),
        "revision_number": n.revision_number,
    });
    if ctx.is_admin() {
        v["provider:network_type"] = json!(n.network_type);
        v["provider:physical_network"] = json!(n.physical_network);
        v["provider:segmentation_id"] = json!(n.segmentation_id);
    }
    v
}

/// A subnet.
pub fn subnet_json(s: &Subnet) -> Value {
    let (p, t) = project(&s.project_id);
    json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "network_id": s.network_id,
        "project_id": p,
        "tenant_id": t,
        "ip_version": s.ip_version,
        "cidr": s.cidr,
        "gateway_ip": s.gateway_ip,
        "allocation_pools": s.allocation_pools,
        "dns_nameservers": s.dns_nameservers,
        "host_routes": s.host_routes,
        "enable_dhcp": s.enable_dhcp,
        "ipv6_ra_mode": s.ipv6_ra_mode,
        "ipv6_address_mode": s.ipv6_address_mode,
        "router:external": s.router_external,
        "subnetpool_id": null,
        "segment_id": null,
        "service_types": [],
        "tags": [],
        "created_at": timestamp(s.created_at),
        "updated_at": timestamp(s.updated_at),
        "revision_number": s.revision_number,
    })
}

/// A port; binding attributes only for admins.
pub fn port_json(ctx: &RequestContext, dp: &dyn Dataplane, p: &Port) -> Value {
    let (pr, t) = project(&p.project_id);
    let mut v = json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "network_id": p.network_id,
        "project_id": pr,
        "tenant_id": t,
        "mac_address": p.mac_address,
        "admin_state_up": p.admin_state_up,
        "status": p.status(),
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "fixed_ips": p.fixed_ips,
        "allowed_address_pairs": p.allowed_address_pairs,
        "extra_dhcp_opts": [],
        "security_groups": p.security_groups,
        "port_security_enabled": p.port_security_enabled,
        "ip_allocation": "immediate",
        "tags": [],
        "created_at": timestamp(p.created_at),
        "updated_at": timestamp(p.updated_at),
        "revision_number": p.revision_number,
    });
    if ctx.is_admin() {
        let bound = !p.host_id.is_empty();
        v["binding:host_id"] = json!(p.host_id);
        v["binding:vnic_type"] = json!("normal");
        v["binding:profile"] = json!({});
        v["binding:vif_type"] = json!(if bound { dp.vif_type() } else { "unbound" });
        v["binding:vif_details"] = if bound {
            json!({"driver": dp.name()})
        } else {
            json!({})
        };
    }
    v
}

/// A router with its gateway.
pub fn router_json(r: &RouterView) -> Value {
    let router = &r.router;
    let (p, t) = project(&router.project_id);
    let gateway = match &r.gateway {
        Some(port) => json!({
            "network_id": port.network_id,
            "enable_snat": router.enable_snat,
            "external_fixed_ips": port.fixed_ips,
        }),
        None => Value::Null,
    };
    json!({
        "id": router.id,
        "name": router.name,
        "description": router.description,
        "project_id": p,
        "tenant_id": t,
        "admin_state_up": router.admin_state_up,
        "status": "ACTIVE",
        "external_gateway_info": gateway,
        "routes": [],
        "availability_zone_hints": [],
        "availability_zones": [],
        "flavor_id": null,
        "tags": [],
        "created_at": timestamp(router.created_at),
        "updated_at": timestamp(router.updated_at),
        "revision_number": router.revision_number,
    })
}

/// The answer of the router interface actions.
pub fn interface_json(i: &InterfaceInfo) -> Value {
    json!({
        "id": i.router_id,
        "tenant_id": i.project_id,
        "project_id": i.project_id,
        "port_id": i.port_id,
        "subnet_id": i.subnet_id,
        "subnet_ids": i.subnet_ids,
        "network_id": i.network_id,
    })
}

/// A floating IP.
pub fn floatingip_json(dp: &dyn Dataplane, f: &FloatingIp) -> Value {
    let (p, t) = project(&f.project_id);
    let status = if f.port_id.is_some() && dp.realizes_floating_ips() {
        "ACTIVE"
    } else {
        "DOWN"
    };
    json!({
        "id": f.id,
        "description": f.description,
        "project_id": p,
        "tenant_id": t,
        "floating_network_id": f.floating_network_id,
        "floating_ip_address": f.floating_ip_address,
        "port_id": f.port_id,
        "fixed_ip_address": f.fixed_ip_address,
        "router_id": f.router_id,
        "status": status,
        "port_details": null,
        "port_forwardings": [],
        "qos_policy_id": null,
        "tags": [],
        "created_at": timestamp(f.created_at),
        "updated_at": timestamp(f.updated_at),
        "revision_number": f.revision_number,
    })
}

/// A security group rule.
pub fn rule_json(r: &SecurityGroupRule, default_group: bool) -> Value {
    let (p, t) = project(&r.project_id);
    json!({
        "id": r.id,
        "security_group_id": r.security_group_id,
        "project_id": p,
        "tenant_id": t,
        "direction": r.direction,
        "ethertype": r.ethertype,
        "protocol": r.protocol,
        "port_range_min": r.port_range_min,
        "port_range_max": r.port_range_max,
        "remote_ip_prefix": r.remote_ip_prefix,
        "normalized_cidr": crate::app::security_groups::normalized_cidr(r.remote_ip_prefix.as_deref()),
        "remote_group_id": r.remote_group_id,
        "remote_address_group_id": null,
        "description": r.description,
        "belongs_to_default_sg": default_group,
        "tags": [],
        "created_at": timestamp(r.created_at),
        "updated_at": timestamp(r.updated_at),
        "revision_number": r.revision_number,
    })
}

/// A security group with its rules.
pub fn security_group_json(g: &SecurityGroup) -> Value {
    let (p, t) = project(&g.project_id);
    let default = g.name == "default";
    json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "project_id": p,
        "tenant_id": t,
        "stateful": g.stateful,
        "shared": false,
        "security_group_rules": g.rules.iter().map(|r| rule_json(r, default)).collect::<Vec<_>>(),
        "tags": [],
        "created_at": timestamp(g.created_at),
        "updated_at": timestamp(g.updated_at),
        "revision_number": g.revision_number,
    })
}
