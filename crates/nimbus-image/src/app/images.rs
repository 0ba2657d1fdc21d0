//! Image metadata: create, list, show, JSON-patch update, delete, tags,
//! deactivate/reactivate. Attribute rules follow Glance's image schema and
//! `glance/api/v2/images.py` (read-only attributes 403, reserved 403).

use std::collections::BTreeMap;

use nimbus_common::{ApiError, RequestContext};
use serde_json::{Map, Value};

use super::ImageService;
use super::model::{CONTAINER_FORMATS, DISK_FORMATS, Image, MemberStatus, Status, Visibility};
use super::policy::{is_owner, may_modify, not_found};
use crate::store;
use crate::store::images::ImageQuery;

/// Attributes only the server sets.
const READ_ONLY: [&str; 14] = [
    "checksum",
    "created_at",
    "updated_at",
    "status",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "os_hash_algo",
    "os_hash_value",
    "locations",
    "stores",
];
/// Attributes nobody may set (`_reserved_properties`).
const RESERVED: [&str; 3] = ["location", "deleted", "deleted_at"];
/// Tags and members per image (`image_tag_quota`, `image_member_quota`).
pub const TAG_QUOTA: usize = 128;
/// Custom properties per image (`image_property_quota`).
pub const PROPERTY_QUOTA: usize = 128;
/// Longest name, tag, property key (Glance's columns are 255).
const MAX_STRING: usize = 255;
/// Longest property value (Glance's column is TEXT; 64 KiB is plenty).
const MAX_VALUE: usize = 65_535;
/// `min_disk` / `min_ram` are 32-bit in Glance's schema.
const MAX_INT: i64 = i32::MAX as i64;

/// One JSON-patch operation, path already decoded to one attribute name.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchOp {
    /// Set an attribute or property (2.1: replaces an existing one).
    Add(String, Value),
    /// Change an attribute or an existing property.
    Replace(String, Value),
    /// Remove a property.
    Remove(String),
}

/// Which JSON-patch media type the client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchFlavor {
    /// `application/openstack-images-v2.0-json-patch`: add must not exist.
    V20,
    /// `application/openstack-images-v2.1-json-patch`.
    V21,
}

fn string_or_null(name: &str, value: &Value, max: usize) -> Result<Option<String>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= max => Ok(Some(s.clone())),
        Value::String(_) => Err(ApiError::bad_request(format!(
            "'{name}' is too long (at most {max} characters)."
        ))),
        _ => Err(ApiError::bad_request(format!(
            "'{name}' must be a string or null."
        ))),
    }
}

fn boolean(name: &str, value: &Value) -> Result<bool, ApiError> {
    value
        .as_bool()
        .ok_or_else(|| ApiError::bad_request(format!("'{name}' must be a boolean.")))
}

fn small_int(name: &str, value: &Value) -> Result<i64, ApiError> {
    match value.as_i64() {
        Some(n) if (0..=MAX_INT).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "'{name}' must be an integer between 0 and {MAX_INT}."
        ))),
    }
}

fn one_of(name: &str, value: &Value, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    match string_or_null(name, value, MAX_STRING)? {
        None => Ok(None),
        Some(s) if allowed.contains(&s.as_str()) => Ok(Some(s)),
        Some(s) => Err(ApiError::bad_request(format!(
            "Invalid value '{s}' for '{name}': must be one of {}.",
            allowed.join(", ")
        ))),
    }
}

/// Validates one tag.
pub fn check_tag(tag: &str) -> Result<(), ApiError> {
    if tag.is_empty() || tag.chars().count() > MAX_STRING {
        return Err(ApiError::bad_request("Tags must be 1 to 255 characters."));
    }
    Ok(())
}

fn tags(value: &Value) -> Result<Vec<String>, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::bad_request("'tags' must be a list of strings."));
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let Value::String(tag) = item else {
            return Err(ApiError::bad_request("'tags' must be a list of strings."));
        };
        check_tag(tag)?;
        if !out.contains(tag) {
            out.push(tag.clone());
        }
    }
    if out.len() > TAG_QUOTA {
        return Err(ApiError::over_limit(format!(
            "Maximum number of tags ({TAG_QUOTA}) exceeded."
        )));
    }
    out.sort();
    Ok(out)
}

fn check_settable(name: &str) -> Result<(), ApiError> {
    if READ_ONLY.contains(&name) {
        return Err(ApiError::forbidden(format!(
            "Attribute '{name}' is read-only."
        )));
    }
    if RESERVED.contains(&name) || name.starts_with("os_glance") {
        return Err(ApiError::forbidden(format!(
            "Attribute '{name}' is reserved."
        )));
    }
    Ok(())
}

/// Whether `name` is one of the schema's attributes (not a custom property).
fn is_base(name: &str) -> bool {
    matches!(
        name,
        "id" | "name"
            | "visibility"
            | "protected"
            | "os_hidden"
            | "min_disk"
            | "min_ram"
            | "disk_format"
            | "container_format"
            | "owner"
            | "tags"
    ) || READ_ONLY.contains(&name)
}

/// Sets a base attribute or custom property on `image`, enforcing who may.
fn set_attribute(
    ctx: &RequestContext,
    image: &mut Image,
    name: &str,
    value: &Value,
    creating: bool,
) -> Result<(), ApiError> {
    check_settable(name)?;
    match name {
        "id" => {
            if !creating {
                return Err(ApiError::forbidden("Attribute 'id' is read-only."));
            }
            let id = string_or_null(name, value, 36)?.unwrap_or_default();
            let parsed = uuid::Uuid::parse_str(&id)
                .map_err(|_| ApiError::bad_request(format!("'{id}' is not a valid UUID.")))?;
            image.id = parsed.hyphenated().to_string();
        }
        "name" => image.name = string_or_null(name, value, MAX_STRING)?,
        "visibility" => {
            let text = value.as_str().unwrap_or_default();
            let visibility = Visibility::parse(text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Invalid visibility value: {value}. Must be one of public, private, shared, community."
                ))
            })?;
            if visibility == Visibility::Public && !ctx.is_admin() {
                return Err(ApiError::forbidden(
                    "You are not authorized to publicize images.",
                ));
            }
            image.visibility = visibility;
        }
        "protected" => image.protected = boolean(name, value)?,
        "os_hidden" => image.os_hidden = boolean(name, value)?,
        "min_disk" => image.min_disk = small_int(name, value)?,
        "min_ram" => image.min_ram = small_int(name, value)?,
        "disk_format" | "container_format" => {
            if !creating && image.status != Status::Queued {
                return Err(ApiError::forbidden(format!(
                    "Attribute {name} can be only replaced for a queued image."
                )));
            }
            let allowed: &[&str] = if name == "disk_format" {
                &DISK_FORMATS
            } else {
                &CONTAINER_FORMATS
            };
            let parsed = one_of(name, value, allowed)?;
            if name == "disk_format" {
                image.disk_format = parsed;
            } else {
                image.container_format = parsed;
            }
        }
        "owner" => {
            let owner = string_or_null(name, value, MAX_STRING)?;
            if owner != ctx.project_id && !ctx.is_admin() {
                return Err(ApiError::forbidden(format!(
                    "You are not permitted to set the owner of an image to '{}'.",
                    owner.unwrap_or_default()
                )));
            }
            image.owner = owner;
        }
        "tags" => image.tags = tags(value)?,
        _ => {
            if name.is_empty() || name.chars().count() > MAX_STRING {
                return Err(ApiError::bad_request(
                    "Property names must be 1 to 255 characters.",
                ));
            }
            let Value::String(text) = value else {
                return Err(ApiError::bad_request(format!(
                    "Property '{name}' must be a string: custom properties are strings."
                )));
            };
            if text.len() > MAX_VALUE {
                return Err(ApiError::bad_request(format!(
                    "Property '{name}' is too long."
                )));
            }
            image.properties.insert(name.to_string(), text.clone());
            if image.properties.len() > PROPERTY_QUOTA {
                return Err(ApiError::over_limit(format!(
                    "Maximum number of properties ({PROPERTY_QUOTA}) exceeded."
                )));
            }
        }
    }
    Ok(())
}

impl ImageService {
    /// `POST /v2/images`: a queued image owned by the caller's project.
    pub async fn image_create(
        &self,
        ctx: &RequestContext,
        body: &Map<String, Value>,
    ) -> Result<Image, ApiError> {
        if !ctx.can_write() {
            return Err(ApiError::policy("add_image"));
        }
        let now = nimbus_db::now_micros();
        let mut image = Image {
            id: uuid::Uuid::new_v4().hyphenated().to_string(),
            name: None,
            status: Status::Queued,
            visibility: Visibility::Shared,
            owner: ctx.project_id.clone(),
            disk_format: None,
            container_format: None,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            min_disk: 0,
            min_ram: 0,
            protected: false,
            os_hidden: false,
            location: None,
            store: None,
            created_at: now,
            updated_at: now,
            properties: BTreeMap::new(),
            tags: Vec::new(),
        };
        for (name, value) in body {
            set_attribute(ctx, &mut image, name, value, true)?;
        }
        if !store::images::image_create(self.pool(), &image).await? {
            return Err(ApiError::conflict(format!(
                "An image with identifier {} already exists",
                image.id
            )));
        }
        Ok(image)
    }

    /// `PATCH /v2/images/{id}`.
    pub async fn image_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        flavor: PatchFlavor,
        ops: &[PatchOp],
    ) -> Result<Image, ApiError> {
        let mut image = self.image_modifiable(ctx, id, "modify").await?;
        let before = image.clone();
        for op in ops {
            match op {
                PatchOp::Add(name, value) => {
                    if flavor == PatchFlavor::V20
                        && !is_base(name)
                        && image.properties.contains_key(name)
                    {
                        return Err(ApiError::conflict(format!(
                            "Property {name} already present."
                        )));
                    }
                    set_attribute(ctx, &mut image, name, value, false)?;
                }
                PatchOp::Replace(name, value) => {
                    if !is_base(name) && !image.properties.contains_key(name) {
                        check_settable(name)?;
                        return Err(ApiError::conflict(format!(
                            "Property {name} does not exist."
                        )));
                    }
                    set_attribute(ctx, &mut image, name, value, false)?;
                }
                PatchOp::Remove(name) => {
                    check_settable(name)?;
                    if is_base(name) {
                        return Err(ApiError::forbidden(format!(
                            "Attribute '{name}' cannot be removed."
                        )));
                    }
                    if image.properties.remove(name).is_none() {
                        return Err(ApiError::conflict(format!(
                            "Property {name} does not exist."
                        )));
                    }
                }
            }
        }
        if image == before {
            return Ok(image);
        }
        if !store::images::image_update(self.pool(), &image).await? {
            return Err(ApiError::conflict(
                "The image changed status while it was being updated; retry.",
            ));
        }
        self.image_visible(ctx, id).await
    }

    /// `DELETE /v2/images/{id}`: the record and its data.
    pub async fn image_delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        let image = self.image_modifiable(ctx, id, "delete").await?;
        if image.protected {
            return Err(ApiError::forbidden(format!(
                "Image {id} is protected and cannot be deleted."
            )));
        }
        if !store::images::image_delete(self.pool(), id).await? {
            return Err(not_found(id));
        }
        // The row is gone first, so no one is served data that is going away;
        // an upload still running sees the row missing and discards its data.
        if let Some(location) = &image.location {
            self.data_delete(location).await;
        }
        self.staged_discard(id).await;
        Ok(())
    }

    /// Deletes stored data; a failure is logged (the row is already gone).
    pub(crate) async fn data_delete(&self, location: &str) {
        let Some(store) = self.stores.for_location(location) else {
            tracing::error!(%location, "no store for the location of a deleted image");
            return;
        };
        if let Err(e) = store.delete(location).await {
            tracing::error!(%location, error = %e, "cannot delete the data of a deleted image");
        }
    }

    /// `PUT /v2/images/{id}/tags/{tag}`.
    pub async fn tag_add(&self, ctx: &RequestContext, id: &str, tag: &str) -> Result<(), ApiError> {
        let image = self.image_modifiable(ctx, id, "modify").await?;
        check_tag(tag)?;
        if image.tags.iter().any(|t| t == tag) {
            return Ok(());
        }
        if image.tags.len() >= TAG_QUOTA {
            return Err(ApiError::over_limit(format!(
                "Maximum number of tags ({TAG_QUOTA}) exceeded."
            )));
        }
        store::images::tag_add(self.pool(), id, tag).await?;
        Ok(())
    }

    /// `DELETE /v2/images/{id}/tags/{tag}`.
    pub async fn tag_delete(
        &self,
        ctx: &RequestContext,
        id: &str,
        tag: &str,
    ) -> Result<(), ApiError> {
        self.image_modifiable(ctx, id, "modify").await?;
        if store::images::tag_delete(self.pool(), id, tag).await? {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("Tag {tag} not found")))
        }
    }

    /// `POST /v2/images/{id}/actions/deactivate`.
    pub async fn image_deactivate(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        let image = self.image_modifiable(ctx, id, "deactivate").await?;
        match image.status {
            Status::Deactivated => Ok(()),
            Status::Active => {
                self.transition_or_conflict(id, Status::Active, Status::Deactivated)
                    .await
            }
            other => Err(ApiError::forbidden(format!(
                "Not allowed to deactivate image in status '{}'",
                other.as_str()
            ))),
        }
    }

    /// `POST /v2/images/{id}/actions/reactivate`.
    pub async fn image_reactivate(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        let image = self.image_modifiable(ctx, id, "reactivate").await?;
        match image.status {
            Status::Active => Ok(()),
            Status::Deactivated => {
                self.transition_or_conflict(id, Status::Deactivated, Status::Active)
                    .await
            }
            other => Err(ApiError::forbidden(format!(
                "Not allowed to reactivate image in status '{}'",
                other.as_str()
            ))),
        }
    }

    async fn transition_or_conflict(
        &self,
        id: &str,
        from: Status,
        to: Status,
    ) -> Result<(), ApiError> {
        if store::images::image_transition(self.pool(), id, from, to).await? {
            Ok(())
        } else {
            Err(ApiError::conflict(format!(
                "Image status transition from {} to {} is not allowed",
                from.as_str(),
                to.as_str()
            )))
        }
    }

    /// `GET /v2/images`: one page, and whether there may be another.
    pub async fn image_list(
        &self,
        ctx: &RequestContext,
        query: &[(String, String)],
    ) -> Result<(Vec<Image>, bool), ApiError> {
        if !ctx.can_read() {
            return Err(ApiError::policy("get_images"));
        }
        let mut q = ImageQuery {
            project: ctx.project_id.clone(),
            admin: ctx.is_admin(),
            member_status: Some(MemberStatus::Accepted),
            os_hidden: Some(false),
            ..ImageQuery::default()
        };
        let mut limit = None;
        let mut marker = None;
        let mut sort_keys: Vec<String> = Vec::new();
        let mut sort_dirs: Vec<bool> = Vec::new();
        for (key, value) in query {
            let int = |v: &str| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("Invalid value for {key}: '{v}'")))
            };
            let boolean = |v: &str| match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(ApiError::bad_request(format!(
                    "Invalid value for {key}: '{v}'"
                ))),
            };
            match key.as_str() {
                "limit" => limit = Some(value.as_str()),
                "marker" => marker = Some(value.as_str()),
                "sort_key" => sort_keys.extend(value.split(',').map(str::to_string)),
                "sort_dir" => {
                    for d in value.split(',') {
                        sort_dirs.push(parse_dir(d)?);
                    }
                }
                "sort" => {
                    for item in value.split(',') {
                        let (k, d) = item.split_once(':').unwrap_or((item, "desc"));
                        sort_keys.push(k.trim().to_string());
                        sort_dirs.push(parse_dir(d)?);
                    }
                }
                "visibility" => {
                    q.visibility = Some(match value.as_str() {
                        "all" => None,
                        v => Some(Visibility::parse(v).ok_or_else(|| {
                            ApiError::bad_request(format!("Invalid visibility value: {v}"))
                        })?),
                    })
                }
                "member_status" => {
                    q.member_status = match value.as_str() {
                        "all" => None,
                        v => Some(MemberStatus::parse(v).ok_or_else(|| {
                            ApiError::bad_request(format!("Invalid status value: {v}"))
                        })?),
                    }
                }
                "id" => q.ids = Some(in_values(value)),
                "name" => q.names = Some(in_values(value)),
                "status" => {
                    q.status = Some(Status::parse(value).ok_or_else(|| {
                        ApiError::bad_request(format!("Invalid status value: {value}"))
                    })?)
                }
                "owner" => q.owner = Some(value.clone()),
                "disk_format" => q.disk_format = Some(value.clone()),
                "container_format" => q.container_format = Some(value.clone()),
                "size_min" => q.size_min = Some(int(value)?),
                "size_max" => q.size_max = Some(int(value)?),
                "tag" => q.tags.push(value.clone()),
                "protected" => q.protected = Some(boolean(value)?),
                "os_hidden" => q.os_hidden = Some(boolean(value)?),
                "created_at" | "updated_at" => {
                    return Err(ApiError::bad_request(format!(
                        "Filtering by {key} is not supported."
                    )));
                }
                _ => q.properties.push((key.clone(), value.clone())),
            }
        }
        if sort_keys.is_empty() {
            sort_keys.push("created_at".into());
        }
        if !sort_dirs.is_empty() && sort_dirs.len() != 1 && sort_dirs.len() != sort_keys.len() {
            return Err(ApiError::bad_request(
                "Number of sort dirs does not match the number of sort keys",
            ));
        }
        for (i, key) in sort_keys.iter().enumerate() {
            if store::images::sort_column(key).is_none() {
                return Err(ApiError::bad_request(format!("Invalid sort key: {key}.")));
            }
            let asc = match sort_dirs.len() {
                0 => false,
                1 => sort_dirs[0],
                _ => sort_dirs[i],
            };
            q.sort.push((key.clone(), asc));
        }
        let default = self
            .config
            .limit_param_default
            .min(self.config.api_limit_max);
        let page = nimbus_common::PageParams::parse(limit, marker, self.config.api_limit_max)?;
        q.limit = if limit.is_some() { page.limit } else { default };
        if let Some(marker) = &page.marker {
            let found = match self.image_visible(ctx, marker).await {
                Ok(image) => image,
                Err(_) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid marker. Image {marker} could not be found."
                    )));
                }
            };
            q.marker = Some(found);
        }
        let images = store::images::image_list(self.pool(), &q).await?;
        let more = q.limit > 0 && images.len() == q.limit;
        Ok((images, more))
    }

    /// Whether the caller may see admin-only fields (`locations`, `direct_url`).
    pub fn shows_locations(&self, ctx: &RequestContext) -> bool {
        ctx.is_admin()
    }

    /// Whether the caller may change `image`, for handlers that need to know.
    pub fn may_modify(&self, ctx: &RequestContext, image: &Image) -> bool {
        may_modify(ctx, image)
    }

    /// Whether the caller owns `image`.
    pub fn is_owner(&self, ctx: &RequestContext, image: &Image) -> bool {
        is_owner(ctx, image)
    }
}

fn parse_dir(d: &str) -> Result<bool, ApiError> {
    match d.trim() {
        "asc" => Ok(true),
        "desc" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "Invalid sort direction: {other}"
        ))),
    }
}

/// `in:a,b` or a single value.
fn in_values(value: &str) -> Vec<String> {
    match value.strip_prefix("in:") {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .collect(),
        None => vec![value.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_operator_splits() {
        assert_eq!(in_values("in:a,b"), vec!["a", "b"]);
        assert_eq!(in_values("plain"), vec!["plain"]);
    }

    #[test]
    fn read_only_and_reserved_are_forbidden() {
        assert_eq!(check_settable("size").unwrap_err().status(), 403);
        assert_eq!(check_settable("deleted").unwrap_err().status(), 403);
        assert_eq!(
            check_settable("os_glance_import_task")
                .unwrap_err()
                .status(),
            403
        );
        assert!(check_settable("hw_disk_bus").is_ok());
    }

    #[test]
    fn tags_are_validated_and_deduplicated() {
        let t = tags(&serde_json::json!(["b", "a", "b"])).unwrap();
        assert_eq!(t, vec!["a", "b"]);
        assert_eq!(tags(&serde_json::json!([1])).unwrap_err().status(), 400);
        assert_eq!(tags(&serde_json::json!([""])).unwrap_err().status(), 400);
    }
}
