//! The network part of a server's life (nova's `network_api` calls): the
//! NICs a create asks for, checked before the 202 and recorded; ports
//! allocated by the build before the disks; the guest's network info; the
//! `addresses` and `security_groups` the API shows; ports released when a
//! build fails or the server is deleted (created ones deleted, given ones
//! unbound, as nova).

use nimbus_common::{ApiError, RequestContext};
use nimbus_configdrive::instance::Vif;
use nimbus_network::compute::{self as net, InstanceVif, RequestedNetworks};
use serde_json::{Value, json};

use super::ComputeService;
use super::servers::HOST;
use crate::error::{ComputeError, ComputeErrorKind};
use crate::store::instance_networks;
use crate::store::instances::Instance;

fn network_error(what: &str, err: ApiError) -> ComputeError {
    // The message is what the network service told us (a full pool, a
    // port taken since the API checked it): the fault shows it.
    ComputeError::new(
        ComputeErrorKind::Network,
        format!("{what}: {}", err.message()),
    )
    .with_source(err)
}

/// Checks `requested` before the 202 (nova's `validate_networks`).
pub async fn validate(
    svc: &ComputeService,
    ctx: &RequestContext,
    requested: &RequestedNetworks,
    max_count: u32,
) -> Result<(), ApiError> {
    svc.network()
        .validate_networks(ctx, requested, max_count)
        .await
}

/// Records what each new server asked for, before its build starts.
pub async fn record_requested(
    svc: &ComputeService,
    uuids: &[String],
    requested: &RequestedNetworks,
) -> Result<(), ApiError> {
    let text = serde_json::to_string(requested)
        .map_err(|e| ApiError::internal(format!("requested networks: {e}")))?;
    for uuid in uuids {
        instance_networks::record_requested(svc.db().pool(), uuid, &text).await?;
    }
    Ok(())
}

/// What server `uuid` asked for; `None` for servers created before
/// Nimbus recorded it (they keep a user-mode NIC and no port).
async fn requested_of(
    svc: &ComputeService,
    uuid: &str,
) -> Result<Option<(RequestedNetworks, Vec<String>)>, ComputeError> {
    let Some((text, ports)) = instance_networks::get(svc.db().pool(), uuid).await? else {
        return Ok(None);
    };
    let requested = serde_json::from_str(&text)
        .map_err(|e| ComputeError::corrupt(format!("requested networks of {uuid}: {e}")))?;
    let ports = ports
        .split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Some((requested, ports)))
}

/// Gives server `uuid` its ports (nova's `_build_networks_for_instance`),
/// once: a server that has them already keeps them.
pub async fn allocate(
    svc: &ComputeService,
    ctx: &RequestContext,
    uuid: &str,
) -> Result<(), ComputeError> {
    let Some((requested, ports)) = requested_of(svc, uuid).await? else {
        return Ok(());
    };
    if !ports.is_empty() {
        return Ok(());
    }
    let vifs = svc
        .network()
        .allocate_for_instance(ctx, uuid, HOST, &requested)
        .await
        .map_err(|e| network_error("allocating the network", e))?;
    let order: Vec<&str> = vifs.iter().map(|v| v.port_id.as_str()).collect();
    instance_networks::set_ports(svc.db().pool(), uuid, &order.join(",")).await
}

/// The ports of server `uuid` in guest order (eth0 first): the recorded
/// order, then any port bound later.
async fn vifs_of(
    svc: &ComputeService,
    ctx: &RequestContext,
    uuid: &str,
    order: &[String],
) -> Result<Vec<InstanceVif>, ApiError> {
    let mut vifs = svc.network().instance_vifs(ctx, uuid).await?;
    vifs.sort_by_key(|v| {
        order
            .iter()
            .position(|p| *p == v.port_id)
            .unwrap_or(usize::MAX)
    });
    Ok(vifs)
}

/// The guest's network: its ports as nova's `network_info` (for the
/// config drive and the injected interfaces file; `injected` is
/// `flat_injected`), and whether it gets no NIC at all (`networks: none`).
pub async fn network_info(
    svc: &ComputeService,
    ctx: &RequestContext,
    uuid: &str,
) -> Result<(Vec<Vif>, bool), ComputeError> {
    let (requested, order) = requested_of(svc, uuid)
        .await?
        .unwrap_or((RequestedNetworks::Auto, Vec::new()));
    let vifs = vifs_of(svc, ctx, uuid, &order)
        .await
        .map_err(|e| network_error("reading the server's ports", e))?;
    let injected = svc.config().flat_injected;
    let no_nic = vifs.is_empty() && requested == RequestedNetworks::None;
    Ok((
        vifs.iter().map(|v| v.to_configdrive(injected)).collect(),
        no_nic,
    ))
}

/// Releases server `uuid`'s ports (a failed build: nova's
/// `_cleanup_allocated_networks`); the record stays, so a later build
/// could allocate again.
pub async fn release(svc: &ComputeService, uuid: &str) -> Result<(), ComputeError> {
    svc.network()
        .deallocate_for_instance(uuid)
        .await
        .map_err(|e| network_error("releasing the server's ports", e))?;
    instance_networks::set_ports(svc.db().pool(), uuid, "").await
}

/// Releases server `uuid`'s ports and forgets its request (delete).
pub async fn forget(svc: &ComputeService, uuid: &str) -> Result<(), ComputeError> {
    svc.network()
        .deallocate_for_instance(uuid)
        .await
        .map_err(|e| network_error("releasing the server's ports", e))?;
    instance_networks::delete(svc.db().pool(), uuid).await
}

/// The server's VIFs for the API views.
pub async fn api_vifs(
    svc: &ComputeService,
    ctx: &RequestContext,
    uuid: &str,
) -> Result<Vec<InstanceVif>, ApiError> {
    let order = match requested_of(svc, uuid).await {
        Ok(r) => r.map(|(_, order)| order).unwrap_or_default(),
        Err(e) => return Err(ApiError::internal(e.chain())),
    };
    vifs_of(svc, ctx, uuid, &order).await
}

/// Fills nova's `addresses` of server views (by their `id`) from their
/// ports, fixed and floating. `full` is the show/detail view: addresses
/// with `OS-EXT-IPS:type` and `OS-EXT-IPS-MAC:mac_addr`, and
/// `security_groups` when the ports have groups (nova's
/// `_add_security_grps`); the update view before 2.75 has neither
/// (`extend_address=False`, `show_sec_grp=False`).
pub async fn fill_addresses(
    svc: &ComputeService,
    ctx: &RequestContext,
    servers: &mut [Value],
    full: bool,
) -> Result<(), ApiError> {
    for server in servers {
        let Some(uuid) = server["id"].as_str().map(str::to_string) else {
            continue;
        };
        let vifs = api_vifs(svc, ctx, &uuid).await?;
        server["addresses"] = net::addresses(&vifs, full);
        let groups = net::security_groups(&vifs);
        if full && !groups.is_empty() {
            server["security_groups"] = groups.iter().map(|g| json!({"name": g})).collect();
        }
    }
    Ok(())
}

/// Keeps the servers with a fixed address matching the regex `pattern`
/// (the `ip`/`ip6` filter of a listing, as nova's
/// `get_instance_uuids_by_ip_filter`).
pub async fn retain_with_address(
    svc: &ComputeService,
    ctx: &RequestContext,
    servers: &mut Vec<Instance>,
    pattern: &str,
) -> Result<(), ApiError> {
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|_| ApiError::bad_request(format!("Invalid ip regex: {pattern}")))?;
    let mut keep = Vec::with_capacity(servers.len());
    for i in servers.drain(..) {
        let vifs = svc.network().instance_vifs(ctx, &i.uuid).await?;
        let matches = vifs
            .iter()
            .flat_map(|v| &v.subnets)
            .flat_map(|s| &s.ips)
            .any(|ip| re.is_match(&ip.address));
        if matches {
            keep.push(i);
        }
    }
    *servers = keep;
    Ok(())
}
