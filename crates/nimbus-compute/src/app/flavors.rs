//! Flavors: who sees which (private flavors only by projects on their access
//! list, admins all), admin-only changes, and the lookup server create uses.

use std::collections::BTreeMap;

use nimbus_common::{ApiError, RequestContext};

use crate::app::ComputeService;
use crate::store::flavors::{self as store, FlavorFilter, Inserted};

/// A flavor: the size of a server.
#[derive(Debug, Clone, PartialEq)]
pub struct Flavor {
    /// The API id (`flavorid`).
    pub id: String,
    /// Nova's internal integer id (a sort key only).
    pub internal_id: i64,
    /// Unique name.
    pub name: String,
    /// Virtual CPUs.
    pub vcpus: i64,
    /// RAM, MiB.
    pub memory_mb: i64,
    /// Root disk, GiB (0: the image's size).
    pub root_gb: i64,
    /// Ephemeral disk, GiB.
    pub ephemeral_gb: i64,
    /// Swap disk, MiB.
    pub swap: i64,
    /// Bandwidth factor (kept for the API; nothing uses it).
    pub rxtx_factor: f64,
    /// Visible to every project.
    pub is_public: bool,
    /// Refused for new servers, hidden from non-admin listings.
    pub disabled: bool,
    /// Free text (2.55).
    pub description: Option<String>,
    /// Creation time, microseconds since the epoch.
    pub created_at: i64,
    /// Extra specs.
    pub extra_specs: BTreeMap<String, String>,
}

/// What an admin asks for in `POST /flavors`, already validated.
#[derive(Debug, Clone)]
pub struct NewFlavor {
    /// The id, or `None` for a generated UUID.
    pub id: Option<String>,
    /// See [`Flavor::name`].
    pub name: String,
    /// See [`Flavor::vcpus`].
    pub vcpus: i64,
    /// See [`Flavor::memory_mb`].
    pub memory_mb: i64,
    /// See [`Flavor::root_gb`].
    pub root_gb: i64,
    /// See [`Flavor::ephemeral_gb`].
    pub ephemeral_gb: i64,
    /// See [`Flavor::swap`].
    pub swap: i64,
    /// See [`Flavor::rxtx_factor`].
    pub rxtx_factor: f64,
    /// See [`Flavor::is_public`].
    pub is_public: bool,
    /// See [`Flavor::description`].
    pub description: Option<String>,
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Flavor {id} could not be found."))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Whether the caller may see `flavor`: public ones, all for admins,
/// private ones when the caller's project is on the access list.
async fn visible(
    svc: &ComputeService,
    ctx: &RequestContext,
    flavor: &Flavor,
) -> Result<bool, ApiError> {
    if flavor.is_public || ctx.is_admin() {
        return Ok(true);
    }
    match ctx.project_id.as_deref() {
        Some(project) => Ok(store::access_has(svc.db(), &flavor.id, project).await?),
        None => Ok(false),
    }
}

/// The flavor `id` as the caller sees it (404 when missing or private to
/// other projects).
pub async fn flavor_get(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<Flavor, ApiError> {
    let flavor = store::flavor_get(svc.db(), id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if !visible(svc, ctx, &flavor).await? {
        return Err(not_found(id));
    }
    Ok(flavor)
}

/// The flavor of a server create's `flavorRef` (an id or a link ending in
/// one). Missing, inaccessible and disabled flavors are 400, as nova's
/// server create turns `FlavorNotFound` into a bad request.
pub async fn flavor_for_boot(
    svc: &ComputeService,
    ctx: &RequestContext,
    flavor_ref: &str,
) -> Result<Flavor, ApiError> {
    let id = flavor_ref
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let missing = || ApiError::bad_request(format!("Flavor {id} could not be found."));
    if id.is_empty() {
        return Err(missing());
    }
    let flavor = match flavor_get(svc, ctx, id).await {
        Ok(flavor) => flavor,
        Err(err) if err.status() == 404 => return Err(missing()),
        Err(err) => return Err(err),
    };
    if flavor.disabled {
        return Err(missing());
    }
    Ok(flavor)
}

/// Listing parameters (already parsed from the query).
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// `is_public` as nova parses it: `Some(true)` when absent.
    pub is_public: Option<bool>,
    /// `minRam`.
    pub min_ram: Option<i64>,
    /// `minDisk`.
    pub min_disk: Option<i64>,
    /// A validated column name.
    pub sort_key: String,
    /// `sort_dir=desc`.
    pub descending: bool,
    /// Page size.
    pub limit: usize,
    /// Id of the last flavor of the previous page.
    pub marker: Option<String>,
}

/// The flavors the caller may list. Non-admins see public flavors and those
/// shared with their project, never disabled ones; admins choose with
/// `is_public` (absent: public plus shared, `None`: all).
pub async fn flavor_list(
    svc: &ComputeService,
    ctx: &RequestContext,
    params: &ListParams,
) -> Result<Vec<Flavor>, ApiError> {
    let filter = FlavorFilter {
        is_public: if ctx.is_admin() {
            params.is_public
        } else {
            Some(true)
        },
        project: ctx.project_id.clone(),
        hide_disabled: !ctx.is_admin(),
        min_ram: params.min_ram,
        min_disk: params.min_disk,
    };
    let all = store::flavor_list(svc.db(), &filter, &params.sort_key, params.descending).await?;
    let start = match &params.marker {
        None => 0,
        Some(marker) => {
            all.iter().position(|f| &f.id == marker).ok_or_else(|| {
                ApiError::bad_request(format!("Marker {marker} could not be found."))
            })? + 1
        }
    };
    Ok(all.into_iter().skip(start).take(params.limit).collect())
}

/// Creates a flavor (admin only; 409 when the name or id is taken).
pub async fn flavor_create(
    svc: &ComputeService,
    ctx: &RequestContext,
    new: NewFlavor,
) -> Result<Flavor, ApiError> {
    ctx.require_admin("os_compute_api:os-flavor-manage:create")?;
    let flavor = Flavor {
        id: new.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        internal_id: 0,
        name: new.name,
        vcpus: new.vcpus,
        memory_mb: new.memory_mb,
        root_gb: new.root_gb,
        ephemeral_gb: new.ephemeral_gb,
        swap: new.swap,
        rxtx_factor: new.rxtx_factor,
        is_public: new.is_public,
        disabled: false,
        description: new.description,
        created_at: now(),
        extra_specs: BTreeMap::new(),
    };
    match store::flavor_insert(svc.db(), &flavor).await? {
        Inserted::Ok => {}
        Inserted::NameTaken => {
            return Err(ApiError::conflict(format!(
                "Flavor with name {} already exists.",
                flavor.name
            )));
        }
        Inserted::IdTaken => {
            return Err(ApiError::conflict(format!(
                "Flavor with ID {} already exists.",
                flavor.id
            )));
        }
    }
    store::flavor_get(svc.db(), &flavor.id)
        .await?
        .ok_or_else(|| not_found(&flavor.id))
}

/// Sets a flavor's description (2.55, admin only).
pub async fn flavor_update(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    description: Option<String>,
) -> Result<Flavor, ApiError> {
    ctx.require_admin("os_compute_api:os-flavor-manage:update")?;
    if !store::flavor_set_description(svc.db(), id, description.as_deref(), now()).await? {
        return Err(not_found(id));
    }
    store::flavor_get(svc.db(), id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Deletes a flavor (admin only). Servers keep their own copy of its sizes.
pub async fn flavor_delete(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<(), ApiError> {
    ctx.require_admin("os_compute_api:os-flavor-manage:delete")?;
    if !store::flavor_delete(svc.db(), id).await? {
        return Err(not_found(id));
    }
    Ok(())
}

/// The extra specs of a flavor the caller can see.
pub async fn extra_specs_get(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<BTreeMap<String, String>, ApiError> {
    Ok(flavor_get(svc, ctx, id).await?.extra_specs)
}

/// Creates or updates extra specs (admin only); keys and values validated
/// by the caller.
pub async fn extra_specs_set(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    specs: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    ctx.require_admin("os_compute_api:os-flavor-extra-specs:create")?;
    store::flavor_get(svc.db(), id)
        .await?
        .ok_or_else(|| not_found(id))?;
    store::extra_specs_put(svc.db(), id, specs).await?;
    Ok(())
}

/// Removes one extra spec (admin only).
pub async fn extra_spec_delete(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    key: &str,
) -> Result<(), ApiError> {
    ctx.require_admin("os_compute_api:os-flavor-extra-specs:delete")?;
    store::flavor_get(svc.db(), id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if !store::extra_spec_delete(svc.db(), id, key).await? {
        return Err(ApiError::not_found(format!(
            "Flavor {id} has no extra specs with key {key}."
        )));
    }
    Ok(())
}

/// The projects a private flavor is shared with (admin only; 404 for a
/// public flavor, which has no list).
pub async fn access_list(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<Vec<String>, ApiError> {
    ctx.require_admin("os_compute_api:os-flavor-access")?;
    let flavor = store::flavor_get(svc.db(), id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if flavor.is_public {
        return Err(ApiError::not_found(
            "Access list not available for public flavors.",
        ));
    }
    Ok(store::access_list(svc.db(), id).await?)
}

/// Shares a private flavor with `project` (admin only).
pub async fn access_add(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    project: &str,
) -> Result<Vec<String>, ApiError> {
    ctx.require_admin("os_compute_api:os-flavor-access:add_tenant_access")?;
    let flavor = store::flavor_get(svc.db(), id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if flavor.is_public {
        return Err(ApiError::conflict("Can not add access to a public flavor."));
    }
    if !store::access_add(svc.db(), id, project).await? {
        return Err(ApiError::conflict(format!(
            "Flavor access already exists for flavor {id} and project {project} combination."
        )));
    }
    Ok(store::access_list(svc.db(), id).await?)
}

/// Stops sharing a private flavor with `project` (admin only).
pub async fn access_remove(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    project: &str,
) -> Result<Vec<String>, ApiError> {
    ctx.require_admin("os_compute_api:os-flavor-access:remove_tenant_access")?;
    store::flavor_get(svc.db(), id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if !store::access_remove(svc.db(), id, project).await? {
        return Err(ApiError::not_found(format!(
            "Flavor access not found for {id} / {project} combination."
        )));
    }
    Ok(store::access_list(svc.db(), id).await?)
}
