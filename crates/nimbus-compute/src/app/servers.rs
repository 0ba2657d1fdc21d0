//! Servers: create (validation, quota, intent recorded, build handed to a
//! task), list, show, update, delete. Another project's server is a 404.

use std::collections::BTreeMap;

use base64::Engine;
use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;

use super::ComputeService;
use super::tasks::{BuildJob, Personality};
use crate::store::instance_actions;
use crate::store::instances::{self, Instance, ListFilter};

/// The compute host name every instance reports (one host per Nimbus).
pub const HOST: &str = "nimbus";
/// The only availability zone.
pub const DEFAULT_AZ: &str = "nova";

/// A local block device of a create request (bdm v2, image or blank).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockDevice {
    /// `image` or `blank`.
    pub source_type: String,
    /// Image id for image sources.
    pub uuid: Option<String>,
    /// Boot index; 0 is the root disk.
    pub boot_index: Option<i64>,
    /// Size in GiB for blank disks.
    pub volume_size: Option<i64>,
    /// `swap` or a filesystem for blank disks.
    pub guest_format: Option<String>,
    /// `volume` for Cinder volumes (`app::volumes`); absent for local.
    #[serde(default)]
    pub destination_type: Option<String>,
    /// Delete the volume with the server.
    #[serde(default)]
    pub delete_on_termination: bool,
}

/// A validated server create.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// Display name.
    pub name: String,
    /// Image id (empty: boot from a block device image).
    pub image_ref: String,
    /// Flavor id or link.
    pub flavor_ref: String,
    /// `adminPass`, generated when absent.
    pub admin_pass: Option<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Decoded personality files.
    pub personality: Vec<Personality>,
    /// Base64 user data (validated).
    pub user_data: Option<String>,
    /// `config_drive`.
    pub config_drive: bool,
    /// Key pair name.
    pub key_name: Option<String>,
    /// `min_count`.
    pub min_count: u32,
    /// `max_count`.
    pub max_count: u32,
    /// `tags` (2.52), validated.
    pub tags: Vec<String>,
    /// The `group` scheduler hint: the server group the servers join.
    pub group: Option<String>,
    /// `description` (2.19).
    pub description: Option<String>,
    /// `accessIPv4`.
    pub access_ip_v4: Option<String>,
    /// `accessIPv6`.
    pub access_ip_v6: Option<String>,
    /// Local block devices beyond the root.
    pub block_devices: Vec<BlockDevice>,
    /// `hostname` (2.90).
    pub hostname: Option<String>,
    /// `networks`: the NICs asked for.
    pub networks: nimbus_network::compute::RequestedNetworks,
    /// `OS-DCF:diskConfig` (`AUTO`/`MANUAL`); `None` takes the image's
    /// `auto_disk_config`.
    pub disk_config: Option<String>,
}

/// What a create returns.
#[derive(Debug, Clone)]
pub struct Created {
    /// The first server (nova returns only it).
    pub first: Instance,
    /// The password (given or generated).
    pub admin_pass: String,
    /// `r-...`.
    pub reservation_id: String,
}

/// nova's `status` of a vm_state/task_state pair (`common.status_from_state`).
pub fn status_of(instance: &Instance) -> &'static str {
    if instance.deleted {
        return "DELETED";
    }
    let task = instance.task_state.as_deref();
    match instance.vm_state.as_str() {
        "active" => match task {
            Some("rebooting" | "reboot_pending" | "reboot_started") => "REBOOT",
            Some("rebooting_hard" | "reboot_pending_hard" | "reboot_started_hard") => "HARD_REBOOT",
            Some("rebuilding" | "rebuild_block_device_mapping" | "rebuild_spawning") => "REBUILD",
            Some("updating_password") => "PASSWORD",
            _ => "ACTIVE",
        },
        "building" => "BUILD",
        "stopped" => match task {
            Some("rebuilding" | "rebuild_block_device_mapping" | "rebuild_spawning") => "REBUILD",
            _ => "SHUTOFF",
        },
        "paused" => "PAUSED",
        "suspended" => "SUSPENDED",
        "error" => match task {
            Some("rebuilding" | "rebuild_block_device_mapping" | "rebuild_spawning") => "REBUILD",
            _ => "ERROR",
        },
        "deleted" => "DELETED",
        _ => "UNKNOWN",
    }
}

/// The vm_states a `status` filter selects (`common.task_and_vm_state_from_status`).
pub fn vm_states_for_status(status: &str) -> Option<Vec<String>> {
    let states: &[&str] = match status.to_ascii_uppercase().as_str() {
        "ACTIVE" | "REBOOT" | "HARD_REBOOT" | "PASSWORD" => &["active"],
        "BUILD" => &["building"],
        "SHUTOFF" => &["stopped"],
        "PAUSED" => &["paused"],
        "SUSPENDED" => &["suspended"],
        "ERROR" => &["error"],
        "REBUILD" => &["active", "stopped", "error"],
        "DELETED" => &["deleted"],
        "SOFT_DELETED" | "RESCUE" | "SHELVED" | "SHELVED_OFFLOADED" | "VERIFY_RESIZE"
        | "RESIZE" | "MIGRATING" => &[],
        _ => return None,
    };
    Some(states.iter().map(|s| s.to_string()).collect())
}

/// A server the caller may see (deleted ones too when `deleted_ok`), else 404.
pub async fn server_get(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<Instance, ApiError> {
    let missing = || ApiError::not_found(format!("Instance {id} could not be found."));
    if id.len() > 255 {
        return Err(missing());
    }
    match instances::instance_get(svc.db().pool(), id).await? {
        Some(i) if !i.deleted && ctx.may_see_project(&i.project_id) => Ok(i),
        _ => Err(missing()),
    }
}

/// nova's hostname sanitizing (`utils.sanitize_hostname`): lower case,
/// letters, digits and hyphens, at most 63 characters.
pub fn sanitize_hostname(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        match c {
            'a'..='z' | '0'..='9' | '-' => out.push(c),
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            ' ' | '_' => out.push('-'),
            _ => {}
        }
    }
    let trimmed: String = out
        .trim_matches(|c| c == '-' || c == '.')
        .chars()
        .take(63)
        .collect();
    let trimmed = trimmed.trim_end_matches('-').to_string();
    if trimmed.is_empty() {
        "server".into()
    } else {
        trimmed
    }
}

/// A random password as nova's `utils.generate_password` (12 characters,
/// no look-alike letters).
pub fn generate_password() -> String {
    const SYMBOLS: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let more = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .chain(more.iter())
        .take(12)
        .map(|b| SYMBOLS[usize::from(*b) % SYMBOLS.len()] as char)
        .collect()
}

fn reservation_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("r-{}", &hex[..8])
}

/// Decodes base64 as nova does (standard alphabet, padding required).
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .ok()
}

/// Creates `min_count..=max_count` servers: every check nova does at the
/// API, the rows in BUILD/scheduling, one build task each; 202 follows.
pub async fn server_create(
    svc: &ComputeService,
    ctx: &RequestContext,
    req: CreateRequest,
) -> Result<Created, ApiError> {
    if !ctx.can_write() {
        return Err(ApiError::policy("os_compute_api:servers:create"));
    }
    let project_id = ctx.require_project()?.to_string();
    let flavor = super::flavors::flavor_for_boot(svc, ctx, &req.flavor_ref).await?;

    let mut req = req;
    image_defined_volumes(svc, ctx, &mut req).await?;
    // The root image: imageRef, or a bdm v2 image with boot_index 0; or a
    // root volume (nova keeps image_ref empty then).
    let boot_volume = super::volumes::boot_volume_check(svc, ctx, &req.block_devices).await?;
    let mut image_id = req.image_ref.clone();
    if image_id.is_empty()
        && let Some(root) = req.block_devices.iter().find(|b| {
            b.source_type == "image" && b.boot_index == Some(0) && b.destination_type.is_none()
        })
    {
        image_id = root.uuid.clone().unwrap_or_default();
    }
    if boot_volume.is_some() {
        image_id.clear();
    }
    if image_id.is_empty() && boot_volume.is_none() {
        return Err(ApiError::bad_request(
            "Block Device Mapping is Invalid: Boot sequence for the instance and image/block \
             device mapping combination is not valid.",
        ));
    }
    let image = match &boot_volume {
        Some(bv) => bv.image.clone(),
        None => super::volumes::image_for_boot(svc, ctx, &image_id).await?,
    };
    let mut spec = crate::build::FlavorSpec {
        name: flavor.name.clone(),
        vcpus: u32::try_from(flavor.vcpus).unwrap_or(u32::MAX),
        memory_mb: u64::try_from(flavor.memory_mb).unwrap_or(0),
        root_gb: u64::try_from(flavor.root_gb).unwrap_or(0),
        ephemeral_gb: u64::try_from(flavor.ephemeral_gb).unwrap_or(0),
        swap_mb: u64::try_from(flavor.swap).unwrap_or(0),
    };
    // A root volume, not the flavor's disk, must hold the image.
    if let Some(bv) = &boot_volume {
        spec.root_gb = bv.size_gb;
    }
    crate::build::validate(&image, &spec, ctx.is_admin() || boot_volume.is_some())?;
    let kernel_id = image
        .properties
        .get("kernel_id")
        .cloned()
        .unwrap_or_default();
    let ramdisk_id = image
        .properties
        .get("ramdisk_id")
        .cloned()
        .unwrap_or_default();
    for (what, id) in [("Kernel", &kernel_id), ("Ramdisk", &ramdisk_id)] {
        if !id.is_empty() && svc.images().image_get(ctx, id).await.is_err() {
            return Err(ApiError::bad_request(format!(
                "{what} image {id} could not be found."
            )));
        }
    }
    for bd in &req.block_devices {
        if bd.source_type == "image"
            && bd.boot_index != Some(0)
            && bd.destination_type.is_none()
            && let Some(id) = &bd.uuid
            && svc.images().image_get(ctx, id).await.is_err()
        {
            return Err(ApiError::bad_request(format!(
                "Image {id} could not be found."
            )));
        }
    }

    let key = match &req.key_name {
        Some(name) => Some(super::keypairs::keypair_for_boot(svc, ctx, name).await?),
        None => None,
    };
    check_injection_limits(svc, ctx, &req).await?;
    super::ports::validate(svc, ctx, &req.networks, req.max_count).await?;
    let count = super::quotas::instances_allowed(
        svc,
        ctx,
        i64::from(req.min_count),
        i64::from(req.max_count),
        flavor.vcpus,
        flavor.memory_mb,
    )
    .await?;
    let count = u32::try_from(count).unwrap_or(0).max(1);

    let group = super::server_groups::group_for_boot_hint(svc, ctx, &req.group, count).await?;
    let reservation = reservation_id();
    let admin_pass = req.admin_pass.clone().unwrap_or_else(generate_password);
    let now = now_micros();
    let config_drive = req.config_drive || svc.config().force_config_drive;
    let block_devices = serde_json::to_string(&req.block_devices)
        .map_err(|e| ApiError::internal(format!("block devices: {e}")))?;
    let disk_config = disk_config_for(req.disk_config.as_deref(), &image.properties)?;
    let mut rows = Vec::new();
    for index in 0..count {
        let name = if count > 1 {
            format!("{}-{}", req.name, index + 1)
        } else {
            req.name.clone()
        };
        let hostname = match (&req.hostname, count) {
            (Some(h), 1) => h.clone(),
            _ => sanitize_hostname(&name),
        };
        rows.push(Instance {
            uuid: uuid::Uuid::new_v4().to_string(),
            project_id: project_id.clone(),
            user_id: ctx.user_id.clone(),
            display_name: name,
            display_description: req.description.clone(),
            hostname,
            vcpus: flavor.vcpus,
            memory_mb: flavor.memory_mb,
            root_gb: flavor.root_gb,
            ephemeral_gb: flavor.ephemeral_gb,
            swap_mb: flavor.swap,
            flavor_id: flavor.id.clone(),
            flavor_name: flavor.name.clone(),
            flavor_extra_specs: flavor.extra_specs.clone(),
            image_ref: image_id.clone(),
            kernel_id: kernel_id.clone(),
            ramdisk_id: ramdisk_id.clone(),
            key_name: key.as_ref().map(|k| k.name.clone()),
            key_data: key.as_ref().map(|k| k.public_key.clone()),
            user_data: req.user_data.clone(),
            config_drive: if config_drive {
                "True".into()
            } else {
                String::new()
            },
            block_devices: block_devices.clone(),
            reservation_id: reservation.clone(),
            launch_index: i64::from(index),
            availability_zone: DEFAULT_AZ.into(),
            host: HOST.into(),
            access_ip_v4: req.access_ip_v4.clone(),
            access_ip_v6: req.access_ip_v6.clone(),
            vm_state: "building".into(),
            task_state: Some("scheduling".into()),
            power_state: 0,
            launched_at: None,
            terminated_at: None,
            fault: None,
            deleted: false,
            created_at: now,
            updated_at: now,
            metadata: req.metadata.clone(),
            disk_config: disk_config.clone(),
            extras: Default::default(),
        });
    }
    instances::instances_create(svc.db().pool(), &rows).await?;
    // Concurrent creates may together have gone over (nova's recheck_quota).
    if let Err(err) =
        super::quotas::recheck_instances(svc, ctx, i64::from(count), flavor.vcpus, flavor.memory_mb)
            .await
    {
        for row in &rows {
            instances::instance_mark_deleted(svc.db().pool(), &row.uuid).await?;
        }
        return Err(err);
    }
    super::server_groups::boot_extras(svc, ctx, group.as_ref(), &req.tags, &rows).await?;
    let uuids: Vec<String> = rows.iter().map(|r| r.uuid.clone()).collect();
    super::ports::record_requested(svc, &uuids, &req.networks).await?;
    for row in &rows {
        let action = instance_actions::action_start(
            svc.db().pool(),
            &row.uuid,
            &ctx.request_id,
            "create",
            &project_id,
            &ctx.user_id,
        )
        .await?;
        svc.tasks().spawn_build(
            svc.clone(),
            BuildJob {
                ctx: ctx.clone(),
                instance: row.clone(),
                action_id: action,
                admin_pass: admin_pass.clone(),
                personality: req.personality.clone(),
                block_devices: req.block_devices.clone(),
            },
        );
    }
    let first = rows
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("no instance created"))?;
    Ok(Created {
        first,
        admin_pass,
        reservation_id: reservation,
    })
}

/// A server listing query, parsed.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `all_tenants` (admins only; others ignore it as nova does).
    pub all_tenants: bool,
    /// `project_id`/`tenant_id` (admins with all_tenants).
    pub project_id: Option<String>,
    /// `name` regex.
    pub name: Option<String>,
    /// The rest.
    pub filter: ListFilter,
    /// Tag and `locked` filters.
    pub extras: super::tags::ListExtras,
    /// `limit`.
    pub limit: usize,
    /// `marker`.
    pub marker: Option<String>,
    /// `ip` regex (servers have no fixed IPs yet: matches none).
    pub ip: Option<String>,
}

/// Servers the caller may see, newest first, one page.
pub async fn server_list(
    svc: &ComputeService,
    ctx: &RequestContext,
    mut q: ListQuery,
) -> Result<Vec<Instance>, ApiError> {
    if !ctx.can_read() {
        return Err(ApiError::policy("os_compute_api:servers:index"));
    }
    if q.all_tenants && ctx.is_admin() {
        q.filter.project_id = q.project_id.clone();
    } else {
        q.filter.project_id = Some(ctx.require_project()?.to_string());
    }
    let name_re = match &q.name {
        Some(pattern) => Some(
            regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|_| ApiError::bad_request(format!("Invalid name regex: {pattern}")))?,
        ),
        None => None,
    };
    let mut all = instances::instances_list(svc.db().pool(), &q.filter).await?;
    if let Some(re) = &name_re {
        all.retain(|i| re.is_match(&i.display_name));
    }
    all.retain(|i| q.extras.matches(&i.extras.tags, i.extras.locked()));
    if let Some(pattern) = &q.ip {
        super::ports::retain_with_address(svc, ctx, &mut all, pattern).await?;
    }
    let start = match &q.marker {
        Some(marker) => match all.iter().position(|i| &i.uuid == marker) {
            Some(p) => p + 1,
            None => {
                return Err(ApiError::bad_request(format!(
                    "marker [{marker}] not found"
                )));
            }
        },
        None => 0,
    };
    Ok(all.into_iter().skip(start).take(q.limit).collect())
}

/// What an update may change.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New hostname (2.90).
    pub hostname: Option<String>,
    /// accessIPv4.
    pub access_ip_v4: Option<String>,
    /// accessIPv6.
    pub access_ip_v6: Option<String>,
    /// `OS-DCF:diskConfig`.
    pub disk_config: Option<String>,
}

/// `PUT /servers/{id}`.
pub async fn server_update(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    req: UpdateRequest,
) -> Result<Instance, ApiError> {
    let mut i = server_get(svc, ctx, id).await?;
    if !ctx.can_write() {
        return Err(ApiError::policy("os_compute_api:servers:update"));
    }
    if let Some(name) = req.name {
        i.display_name = name;
    }
    if let Some(desc) = req.description {
        i.display_description = desc;
    }
    if let Some(h) = req.hostname {
        i.hostname = h;
    }
    if let Some(ip) = req.access_ip_v4 {
        i.access_ip_v4 = Some(ip);
    }
    if let Some(ip) = req.access_ip_v6 {
        i.access_ip_v6 = Some(ip);
    }
    if let Some(dc) = req.disk_config {
        i.disk_config = dc;
    }
    instances::instance_update(svc.db().pool(), &i).await?;
    server_get(svc, ctx, id).await
}

/// nova's `_inherit_properties_from_image` and `_check_auto_disk_config`:
/// the requested diskConfig, else the image's `auto_disk_config`; AUTO is
/// refused (400) for an image that says `disabled`. Nimbus stores and shows
/// it; like nova for a partitioned image, it never resizes the guest's
/// filesystem (docs/compute.md).
pub fn disk_config_for(
    requested: Option<&str>,
    image_properties: &BTreeMap<String, String>,
) -> Result<String, ApiError> {
    let from_image = image_properties
        .get("auto_disk_config")
        .map(|v| v.trim().to_ascii_lowercase());
    let disabled = from_image.as_deref() == Some("disabled");
    match requested {
        Some("AUTO") if disabled => Err(ApiError::bad_request(
            "Requested image has automatic disk resize disabled.",
        )),
        Some(v) => Ok(v.to_string()),
        None => {
            let auto = matches!(
                from_image.as_deref(),
                Some("1" | "t" | "true" | "on" | "y" | "yes")
            );
            Ok(if auto { "AUTO" } else { "MANUAL" }.to_string())
        }
    }
}

/// nova's `_get_image_defined_bdms`: an image made by `createImage` of a
/// volume-backed server maps its root to a volume snapshot; booting it
/// boots from a new volume made from that snapshot, unless the request
/// maps its own root.
async fn image_defined_volumes(
    svc: &ComputeService,
    ctx: &RequestContext,
    req: &mut CreateRequest,
) -> Result<(), ApiError> {
    let own_root = req
        .block_devices
        .iter()
        .any(|b| b.boot_index == Some(0) && b.source_type != "image");
    if req.image_ref.is_empty() || own_root {
        return Ok(());
    }
    let Ok(image) = svc.images().image_get(ctx, &req.image_ref).await else {
        return Ok(());
    };
    let defined = super::snapshot_volume::image_block_devices(&image.properties)?;
    if defined.is_empty() {
        return Ok(());
    }
    let mut devices = defined
        .iter()
        .map(super::volumes::volume_block_device)
        .collect::<Result<Vec<_>, _>>()?;
    if devices.iter().any(|b| b.boot_index == Some(0)) {
        // The image's root replaces the request's description of the
        // image as root (`openstack server create --image` sends one).
        req.block_devices
            .retain(|b| !(b.boot_index == Some(0) && b.source_type == "image"));
    }
    devices.append(&mut req.block_devices);
    req.block_devices = devices;
    Ok(())
}

/// `DELETE /servers/{id}`: 204 at once; a task stops QEMU, removes the
/// instance dir and marks the row deleted (which frees the quota).
pub async fn server_delete(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<(), ApiError> {
    let i = server_get(svc, ctx, id).await?;
    if !ctx.can_write() {
        return Err(ApiError::policy("os_compute_api:servers:delete"));
    }
    super::lock::check_lock(ctx, &i)?;
    instances::instance_set_states(
        svc.db().pool(),
        &i.uuid,
        &i.vm_state,
        Some("deleting"),
        i.power_state,
    )
    .await?;
    let action = instance_actions::action_start(
        svc.db().pool(),
        &i.uuid,
        &ctx.request_id,
        "delete",
        &ctx.project_id.clone().unwrap_or_default(),
        &ctx.user_id,
    )
    .await?;
    svc.tasks()
        .spawn_delete(svc.clone(), i.uuid.clone(), action);
    Ok(())
}

/// nova's `_check_injected_file_quota` and `_check_metadata_properties_quota`:
/// too many or too large personality files or metadata items are 403.
async fn check_injection_limits(
    svc: &ComputeService,
    ctx: &RequestContext,
    req: &CreateRequest,
) -> Result<(), ApiError> {
    let limits = super::quotas::injection_limits(svc, ctx).await?;
    let over = |limit: i64, n: usize| limit >= 0 && i64::try_from(n).unwrap_or(i64::MAX) > limit;
    if over(limits.metadata_items, req.metadata.len()) {
        return Err(ApiError::forbidden(format!(
            "Quota exceeded for metadata_items: Requested {}, but already used 0 of {} \
             metadata_items",
            req.metadata.len(),
            limits.metadata_items
        )));
    }
    if over(limits.files, req.personality.len()) {
        return Err(ApiError::forbidden("Personality file limit exceeded"));
    }
    for file in &req.personality {
        if over(limits.path_bytes, file.path.len()) {
            return Err(ApiError::forbidden(format!(
                "Personality file path exceeds maximum {}",
                limits.path_bytes
            )));
        }
        if over(limits.content_bytes, file.contents.len()) {
            return Err(ApiError::forbidden(format!(
                "Personality file content exceeds maximum {}",
                limits.content_bytes
            )));
        }
    }
    Ok(())
}

/// Validates metadata as nova's schema does (keys 1-255, values 0-255).
pub fn check_metadata(items: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in items {
        if k.is_empty() || k.chars().count() > 255 {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute metadata. Metadata keys must be 1 to 255 \
                 characters long.",
            ));
        }
        if v.chars().count() > 255 {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute metadata. Value of {k} is longer than 255 \
                 characters."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_sanitized_as_nova() {
        assert_eq!(sanitize_hostname("My Server_1"), "my-server-1");
        assert_eq!(sanitize_hostname("ünï"), "n");
        assert_eq!(sanitize_hostname("!!!"), "server");
        assert_eq!(sanitize_hostname(&"a".repeat(100)).len(), 63);
    }

    #[test]
    fn passwords_are_twelve_unambiguous_characters() {
        let p = generate_password();
        assert_eq!(p.len(), 12);
        assert!(!p.contains(['0', 'O', 'l', '1', 'I']));
        assert_ne!(p, generate_password());
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert!(decode_base64("not base64!").is_none());
        assert!(decode_base64("aGk").is_none());
    }
}
