//! Networks: tenancy (own, shared, external), provider attributes for
//! admins (ML2's type drivers' rules), MTU, deletion rules.

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;

use super::input::Attrs;
use super::model::{Network, owner};
use super::{NetworkService, new_id, require_read, require_write, scope};
use crate::error::{conflict, invalid_input, network_not_found, policy};
use crate::store;

/// The segment a network is on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    network_type: String,
    physical_network: Option<String>,
    segmentation_id: Option<i64>,
}

/// Bytes a tunnel's encapsulation takes from the physical MTU (neutron's
/// `VXLAN_ENCAP_OVERHEAD`, `GRE_ENCAP_OVERHEAD` for IPv4 underlays).
fn encap_overhead(network_type: &str) -> i64 {
    match network_type {
        "vxlan" => 50,
        "gre" => 42,
        _ => 0,
    }
}

fn valid_physnet(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Validates explicit provider attributes as ML2's type drivers do.
fn validate_segment(seg: &Segment) -> Result<(), ApiError> {
    let ty = seg.network_type.as_str();
    let range = |lo: i64, hi: i64| -> Result<(), ApiError> {
        match seg.segmentation_id {
            Some(id) if !(lo..=hi).contains(&id) => Err(invalid_input(format!(
                "segmentation_id out of range ({lo} through {hi})"
            ))),
            _ => Ok(()),
        }
    };
    match ty {
        "flat" => {
            if seg.segmentation_id.is_some() {
                return Err(invalid_input(
                    "segmentation_id not allowed for flat provider network",
                ));
            }
            match &seg.physical_network {
                None => Err(invalid_input(
                    "physical_network required for flat provider network",
                )),
                Some(p) if !valid_physnet(p) => Err(invalid_input(format!(
                    "physical_network '{p}' unknown for flat provider network"
                ))),
                Some(_) => Ok(()),
            }
        }
        "vlan" => {
            match &seg.physical_network {
                None => {
                    return Err(invalid_input(
                        "provider:physical_network required for VLAN provider network",
                    ));
                }
                Some(p) if !valid_physnet(p) => {
                    return Err(invalid_input(format!(
                        "physical_network '{p}' unknown for VLAN provider network"
                    )));
                }
                Some(_) => {}
            }
            range(1, 4094)
        }
        "vxlan" | "gre" => {
            if seg.physical_network.is_some() {
                return Err(invalid_input(format!(
                    "provider:physical_network specified for {} network",
                    ty.to_uppercase()
                )));
            }
            if ty == "vxlan" {
                range(1, (1 << 24) - 1)
            } else {
                range(1, i64::from(u32::MAX))
            }
        }
        "local" => {
            if seg.physical_network.is_some() || seg.segmentation_id.is_some() {
                return Err(invalid_input(
                    "provider:physical_network and provider:segmentation_id prohibited for local provider network",
                ));
            }
            Ok(())
        }
        other => Err(invalid_input(format!(
            "network_type value '{other}' not supported"
        ))),
    }
}

fn segment_in_use(seg: &Segment) -> ApiError {
    match seg.network_type.as_str() {
        "flat" => conflict(
            "FlatNetworkInUse",
            format!(
                "Unable to create the flat network. Physical network {} is in use.",
                seg.physical_network.as_deref().unwrap_or("")
            ),
        ),
        "vlan" => conflict(
            "VlanIdInUse",
            format!(
                "Unable to create the network. The VLAN {} on physical network {} is in use.",
                seg.segmentation_id.unwrap_or(0),
                seg.physical_network.as_deref().unwrap_or("")
            ),
        ),
        _ => conflict(
            "TunnelIdInUse",
            format!(
                "Unable to create the network. The tunnel ID {} is in use.",
                seg.segmentation_id.unwrap_or(0)
            ),
        ),
    }
}

impl NetworkService {
    /// The network `id` if the caller may see it (own, shared, external or
    /// admin), else 404.
    pub async fn network_visible(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<Network, ApiError> {
        require_read(ctx, "get_network")?;
        match store::networks::network_get(self.pool(), id).await? {
            Some(n) if ctx.may_see_project(&n.project_id) || n.shared || n.external => Ok(n),
            _ => Err(network_not_found(id)),
        }
    }

    /// The network `id` if the caller may change it: 404 when it cannot
    /// see it, 403 when it can but does not own it.
    async fn network_owned(
        &self,
        ctx: &RequestContext,
        id: &str,
        rule: &str,
    ) -> Result<Network, ApiError> {
        let n = self.network_visible(ctx, id).await?;
        if !ctx.may_see_project(&n.project_id) {
            return Err(policy(rule));
        }
        require_write(ctx, rule)?;
        Ok(n)
    }

    /// Networks the caller may see.
    pub async fn network_list(&self, ctx: &RequestContext) -> Result<Vec<Network>, ApiError> {
        require_read(ctx, "get_network")?;
        Ok(store::networks::network_list(self.pool(), scope(ctx)).await?)
    }

    /// `POST /v2.0/networks`.
    pub async fn network_create(
        &self,
        ctx: &RequestContext,
        mut a: Attrs,
    ) -> Result<Network, ApiError> {
        require_write(ctx, "create_network")?;
        let project_id = a.owner(ctx)?;
        let name = a.string("name", 255)?.unwrap_or_default();
        let description = a.string("description", 255)?.unwrap_or_default();
        let admin_state_up = a.boolean("admin_state_up")?.unwrap_or(true);
        let shared = a.boolean("shared")?;
        let external = a.boolean("router:external")?;
        let port_security_enabled = a.boolean("port_security_enabled")?.unwrap_or(true);
        let mtu = a.int("mtu")?.flatten();
        let network_type = a.nullable_string("provider:network_type", 255)?.flatten();
        let physical_network = a
            .nullable_string("provider:physical_network", 64)?
            .flatten();
        let segmentation_id = a.int("provider:segmentation_id")?.flatten();
        // Accepted and ignored as neutron does without the extensions' backends.
        for ignored in [
            "availability_zone_hints",
            "is_default",
            "dns_domain",
            "qos_policy_id",
        ] {
            a.take(ignored);
        }
        a.finish("POST")?;
        if shared == Some(true) && !ctx.is_admin() {
            return Err(policy("create_network:shared"));
        }
        if external.is_some() && !ctx.is_admin() {
            return Err(policy("create_network:router:external"));
        }
        let explicit =
            network_type.is_some() || physical_network.is_some() || segmentation_id.is_some();
        if explicit && !ctx.is_admin() {
            let attr = if network_type.is_some() {
                "provider:network_type"
            } else if physical_network.is_some() {
                "provider:physical_network"
            } else {
                "provider:segmentation_id"
            };
            return Err(policy(&format!("create_network:{attr}")));
        }
        self.quota_check(&project_id, "network", 1).await?;
        let now = now_micros();
        let mut network = Network {
            id: new_id(),
            project_id,
            name,
            description,
            admin_state_up,
            shared: shared.unwrap_or(false),
            external: external.unwrap_or(false),
            mtu: 0,
            port_security_enabled,
            network_type: String::new(),
            physical_network: None,
            segmentation_id: None,
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        if explicit {
            let seg = Segment {
                network_type: network_type
                    .ok_or_else(|| invalid_input("provider:network_type required"))?,
                physical_network,
                segmentation_id,
            };
            validate_segment(&seg)?;
            if seg.segmentation_id.is_none()
                && matches!(seg.network_type.as_str(), "vlan" | "vxlan" | "gre")
            {
                return self.network_insert_allocated(network, seg, mtu).await;
            }
            network.network_type = seg.network_type.clone();
            network.physical_network = seg.physical_network.clone();
            network.segmentation_id = seg.segmentation_id;
            network.mtu = self.network_mtu(&network.network_type, mtu)?;
            if !store::networks::network_insert(self.pool(), &network).await? {
                return Err(segment_in_use(&seg));
            }
            return Ok(network);
        }
        let ty = self.config.tenant_network_type.clone();
        let physnet = (ty == "vlan").then(|| self.config.vlan_range.0.clone());
        let seg = Segment {
            network_type: ty,
            physical_network: physnet,
            segmentation_id: None,
        };
        if seg.network_type == "local" {
            network.network_type = "local".into();
            network.mtu = self.network_mtu("local", mtu)?;
            store::networks::network_insert(self.pool(), &network).await?;
            return Ok(network);
        }
        self.network_insert_allocated(network, seg, mtu).await
    }

    /// The MTU of a new network: the physical MTU less encapsulation, or the
    /// requested one if it fits (`net-mtu-writable`).
    fn network_mtu(&self, network_type: &str, requested: Option<i64>) -> Result<i64, ApiError> {
        let max = self.config.global_physnet_mtu - encap_overhead(network_type);
        match requested {
            None => Ok(max),
            Some(m) if m > max => Err(invalid_input(format!(
                "Requested MTU is too big, maximum is {max}"
            ))),
            Some(m) if m < 68 => Err(invalid_input("Requested MTU is too small, minimum is 68")),
            Some(m) => Ok(m),
        }
    }

    /// Inserts `network` on the lowest free segment of its type's tenant
    /// range; the unique index settles races, the loser tries the next id.
    async fn network_insert_allocated(
        &self,
        mut network: Network,
        seg: Segment,
        mtu: Option<i64>,
    ) -> Result<Network, ApiError> {
        let (lo, hi) = match seg.network_type.as_str() {
            "vxlan" => self.config.vni_range,
            "gre" => self.config.tunnel_id_range,
            _ => (self.config.vlan_range.1, self.config.vlan_range.2),
        };
        network.network_type = seg.network_type.clone();
        network.physical_network = seg.physical_network.clone();
        network.mtu = self.network_mtu(&network.network_type, mtu)?;
        let physnet = seg.physical_network.clone().unwrap_or_default();
        for _ in 0..100 {
            let used: std::collections::HashSet<i64> =
                store::networks::segments_in_use(self.pool(), &seg.network_type, &physnet)
                    .await?
                    .into_iter()
                    .collect();
            let Some(id) = (lo..=hi).find(|i| !used.contains(i)) else {
                return Err(conflict(
                    "NoNetworkAvailable",
                    "Unable to create the network. No tenant network is available for allocation.",
                ));
            };
            network.segmentation_id = Some(id);
            if store::networks::network_insert(self.pool(), &network).await? {
                return Ok(network);
            }
        }
        Err(conflict(
            "NoNetworkAvailable",
            "Unable to create the network. No tenant network is available for allocation.",
        ))
    }

    /// `PUT /v2.0/networks/{id}`.
    pub async fn network_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        mut a: Attrs,
    ) -> Result<Network, ApiError> {
        let mut n = self.network_owned(ctx, id, "update_network").await?;
        if let Some(name) = a.string("name", 255)? {
            n.name = name;
        }
        if let Some(d) = a.string("description", 255)? {
            n.description = d;
        }
        if let Some(up) = a.boolean("admin_state_up")? {
            n.admin_state_up = up;
        }
        if let Some(p) = a.boolean("port_security_enabled")? {
            n.port_security_enabled = p;
        }
        if let Some(shared) = a.boolean("shared")? {
            if !ctx.is_admin() {
                return Err(policy("update_network:shared"));
            }
            n.shared = shared;
        }
        if let Some(ext) = a.boolean("router:external")? {
            if !ctx.is_admin() {
                return Err(policy("update_network:router:external"));
            }
            if !ext && n.external {
                let fips = store::floatingips::floatingip_list(self.pool(), None).await?;
                let gw_ports = store::ports::port_list(
                    self.pool(),
                    &store::ports::PortQuery {
                        network_id: Some(id),
                        device_owner: Some(owner::ROUTER_GATEWAY),
                        ..Default::default()
                    },
                )
                .await?;
                if fips.iter().any(|f| f.floating_network_id == id) || !gw_ports.is_empty() {
                    return Err(conflict(
                        "ExternalNetworkInUse",
                        format!(
                            "External network {id} cannot be updated to be made non-external, since it has existing gateway ports"
                        ),
                    ));
                }
            }
            n.external = ext;
        }
        if let Some(mtu) = a.int("mtu")? {
            n.mtu = self.network_mtu(&n.network_type, mtu)?;
        }
        for attr in [
            "provider:network_type",
            "provider:physical_network",
            "provider:segmentation_id",
        ] {
            if a.has(attr) {
                return Err(invalid_input(
                    "Plugin does not support updating provider attributes",
                ));
            }
        }
        for ignored in ["qos_policy_id", "dns_domain", "is_default"] {
            a.take(ignored);
        }
        a.finish("PUT")?;
        n.revision_number += 1;
        n.updated_at = now_micros();
        store::networks::network_update(self.pool(), &n).await?;
        Ok(n)
    }

    /// `DELETE /v2.0/networks/{id}`: refused while ports other than the
    /// network's own (DHCP) ports exist, as neutron's `NetworkInUse`.
    pub async fn network_delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        let n = self.network_owned(ctx, id, "delete_network").await?;
        let ports = store::ports::port_list(
            self.pool(),
            &store::ports::PortQuery {
                network_id: Some(id),
                ..Default::default()
            },
        )
        .await?;
        if ports.iter().any(|p| p.device_owner != owner::DHCP) {
            return Err(conflict(
                "NetworkInUse",
                format!(
                    "Unable to complete operation on network {id}. There are one or more ports still in use on the network."
                ),
            ));
        }
        for p in ports {
            store::ports::port_delete(self.pool(), &p.id).await?;
        }
        store::networks::network_delete(self.pool(), &n.id).await?;
        Ok(())
    }

    /// Subnet ids of a network, for its `subnets` attribute.
    pub async fn network_subnet_ids(&self, id: &str) -> Result<Vec<String>, ApiError> {
        Ok(store::subnets::subnets_of_network(self.pool(), id)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(ty: &str, phys: Option<&str>, id: Option<i64>) -> Segment {
        Segment {
            network_type: ty.into(),
            physical_network: phys.map(str::to_string),
            segmentation_id: id,
        }
    }

    #[test]
    fn provider_attributes_follow_the_type_drivers() {
        assert!(validate_segment(&seg("gre", None, Some(1))).is_ok());
        assert!(validate_segment(&seg("vlan", Some("physnet1"), Some(4094))).is_ok());
        assert!(validate_segment(&seg("vlan", Some("physnet1"), Some(4095))).is_err());
        assert!(validate_segment(&seg("vlan", Some("physnet1"), Some(0))).is_err());
        assert!(validate_segment(&seg("vlan", None, Some(5))).is_err());
        assert!(validate_segment(&seg("vxlan", None, Some(1 << 24))).is_err());
        assert!(validate_segment(&seg("vxlan", Some("p"), Some(5))).is_err());
        assert!(validate_segment(&seg("flat", Some("public"), None)).is_ok());
        assert!(validate_segment(&seg("flat", Some("public"), Some(3))).is_err());
        assert!(validate_segment(&seg("flat", None, None)).is_err());
        assert!(validate_segment(&seg("geneve2", None, None)).is_err());
    }
}
