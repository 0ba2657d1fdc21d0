//! Metadata definitions (`glance/api/v2/metadef_*.py`). Policy as Glance's
//! defaults (`glance/policies/metadef.py`): readers see public namespaces
//! and their own project's; only admins create, change or delete. A
//! namespace the caller may not see is 404; a protected namespace refuses
//! every delete in it (403).

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;
use serde_json::{Map, Value};

use super::ImageService;
use super::metadef_model::{
    Association, Item, ItemKind, NAMESPACE_KEYS, Namespace, NewNamespace, ResourceType,
    association_body, body_object, namespace_attrs, object_body, only_keys, path_name,
    property_body, property_map, tag_name,
};
use crate::store::metadefs::{self as store, Written};

/// Items per kind and namespace a single request may create.
const BULK_MAX: usize = 1000;

fn ns_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Metadata definition namespace={name} was not found."
    ))
}

fn item_not_found(kind: ItemKind, name: &str, ns: &str) -> ApiError {
    ApiError::not_found(format!(
        "{} with name={name} was not found in namespace={ns}.",
        kind.noun()
    ))
}

fn item_exists(kind: ItemKind, name: &str, ns: &str) -> ApiError {
    ApiError::conflict(format!(
        "A {} with name={name} already exists in namespace={ns}.",
        kind.noun()
    ))
}

fn admin_only(ctx: &RequestContext, action: &str) -> Result<(), ApiError> {
    if ctx.is_admin() {
        Ok(())
    } else {
        Err(ApiError::policy(action))
    }
}

fn not_protected(ns: &Namespace, what: &str) -> Result<(), ApiError> {
    if ns.protected {
        Err(ApiError::forbidden(format!(
            "Namespace {} is protected: {what} cannot be deleted.",
            ns.namespace
        )))
    } else {
        Ok(())
    }
}

fn item(name: String, body: Value, now: i64) -> Item {
    Item {
        name,
        body,
        created_at: now,
        updated_at: now,
    }
}

/// The attribute `read_only` lists for bodies of objects and namespaces.
const READ_ONLY: [&str; 4] = ["self", "schema", "created_at", "updated_at"];

impl ImageService {
    /// The namespace `name` if the caller may see it, else 404.
    pub async fn namespace_visible(
        &self,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<Namespace, ApiError> {
        if !ctx.can_read() {
            return Err(ApiError::policy("get_metadef_namespace"));
        }
        let ns = store::namespace_get(self.pool(), name)
            .await?
            .ok_or_else(|| ns_not_found(name))?;
        let own = ns.owner.is_some() && ns.owner == ctx.project_id;
        if ctx.is_admin() || ns.visibility == "public" || own {
            Ok(ns)
        } else {
            Err(ns_not_found(name))
        }
    }

    /// The namespace `name` for a change: 404 if hidden, 403 unless admin.
    async fn namespace_for_change(
        &self,
        ctx: &RequestContext,
        name: &str,
        action: &str,
    ) -> Result<Namespace, ApiError> {
        let ns = self.namespace_visible(ctx, name).await?;
        admin_only(ctx, action)?;
        Ok(ns)
    }

    /// `GET /v2/metadefs/namespaces`: what the caller may see.
    pub async fn namespace_list(&self, ctx: &RequestContext) -> Result<Vec<Namespace>, ApiError> {
        if !ctx.can_read() {
            return Err(ApiError::policy("get_metadef_namespaces"));
        }
        let scope = if ctx.is_admin() {
            None
        } else {
            Some(ctx.project_id.as_deref())
        };
        Ok(store::namespace_list(self.pool(), scope).await?)
    }

    /// `POST /v2/metadefs/namespaces`, with nested objects, properties,
    /// tags and resource type associations created in the same transaction.
    pub async fn namespace_create(
        &self,
        ctx: &RequestContext,
        body: Value,
    ) -> Result<Namespace, ApiError> {
        admin_only(ctx, "add_metadef_namespace")?;
        let map = body_object(body, &READ_ONLY)?;
        only_keys(&map, &NAMESPACE_KEYS, "namespace")?;
        let now = now_micros();
        let mut ns = Namespace {
            id: uuid::Uuid::new_v4().to_string(),
            namespace: String::new(),
            display_name: None,
            description: None,
            visibility: String::new(),
            protected: false,
            owner: None,
            created_at: now,
            updated_at: now,
        };
        namespace_attrs(&map, ctx.project_id.as_deref(), &mut ns)?;
        let mut items = Vec::new();
        if let Some(props) = map.get("properties") {
            for (name, def) in property_map(props)? {
                items.push((ItemKind::Property, item(name, def, now)));
            }
        }
        for (key, kind) in [("objects", ItemKind::Object), ("tags", ItemKind::Tag)] {
            let Some(list) = map.get(key) else { continue };
            let Value::Array(list) = list else {
                return Err(ApiError::bad_request(format!("'{key}' must be an array")));
            };
            for entry in list {
                let entry = body_object(entry.clone(), &READ_ONLY)?;
                let (name, doc) = match kind {
                    ItemKind::Object => object_body(&entry)?,
                    _ => (tag_name(&entry)?, Value::Object(Map::new())),
                };
                items.push((kind, item(name, doc, now)));
            }
        }
        let mut associations = Vec::new();
        if let Some(list) = map.get("resource_type_associations") {
            let Value::Array(list) = list else {
                return Err(ApiError::bad_request(
                    "'resource_type_associations' must be an array",
                ));
            };
            for entry in list {
                associations.push(association_body(&body_object(entry.clone(), &[])?, now)?);
            }
        }
        if items.len() + associations.len() > BULK_MAX {
            return Err(ApiError::bad_request(format!(
                "At most {BULK_MAX} definitions can be created with a namespace."
            )));
        }
        let new = NewNamespace {
            namespace: ns,
            items,
            associations,
        };
        match store::namespace_create(self.pool(), &new).await? {
            Written::Done => Ok(new.namespace),
            _ => Err(ApiError::conflict(format!(
                "A metadata definition namespace with name={} or one of its definitions already exists.",
                new.namespace.namespace
            ))),
        }
    }

    /// `PUT /v2/metadefs/namespaces/{ns}`: Glance replaces every attribute,
    /// defaulting the missing ones as on create.
    pub async fn namespace_update(
        &self,
        ctx: &RequestContext,
        name: &str,
        body: Value,
    ) -> Result<Namespace, ApiError> {
        let mut ns = self
            .namespace_for_change(ctx, name, "modify_metadef_namespace")
            .await?;
        let map = body_object(body, &READ_ONLY)?;
        only_keys(&map, &NAMESPACE_KEYS, "namespace")?;
        namespace_attrs(&map, ctx.project_id.as_deref(), &mut ns)?;
        ns.updated_at = now_micros();
        match store::namespace_update(self.pool(), &ns).await? {
            Written::Done => Ok(ns),
            Written::Missing => Err(ns_not_found(name)),
            Written::Duplicate => Err(ApiError::conflict(format!(
                "A metadata definition namespace with name={} already exists.",
                ns.namespace
            ))),
        }
    }

    /// `DELETE /v2/metadefs/namespaces/{ns}`.
    pub async fn namespace_delete(&self, ctx: &RequestContext, name: &str) -> Result<(), ApiError> {
        let ns = self
            .namespace_for_change(ctx, name, "delete_metadef_namespace")
            .await?;
        not_protected(&ns, "it")?;
        store::namespace_delete(self.pool(), &ns.id).await?;
        Ok(())
    }

    /// The items of `kind` in a visible namespace.
    pub async fn item_list(
        &self,
        ctx: &RequestContext,
        ns: &str,
        kind: ItemKind,
    ) -> Result<(Namespace, Vec<Item>), ApiError> {
        let ns = self.namespace_visible(ctx, ns).await?;
        let items = store::item_list(self.pool(), &ns.id, kind).await?;
        Ok((ns, items))
    }

    /// Every item of a namespace, for its detailed view.
    pub async fn namespace_contents(
        &self,
        ns: &Namespace,
    ) -> Result<(Vec<Item>, Vec<Item>, Vec<Item>, Vec<Association>), ApiError> {
        let pool = self.pool();
        Ok((
            store::item_list(pool, &ns.id, ItemKind::Object).await?,
            store::item_list(pool, &ns.id, ItemKind::Property).await?,
            store::item_list(pool, &ns.id, ItemKind::Tag).await?,
            store::association_list(pool, &ns.id).await?,
        ))
    }

    /// One item of a visible namespace.
    pub async fn item_show(
        &self,
        ctx: &RequestContext,
        ns: &str,
        kind: ItemKind,
        name: &str,
    ) -> Result<Item, ApiError> {
        let namespace = self.namespace_visible(ctx, ns).await?;
        store::item_get(self.pool(), &namespace.id, kind, name)
            .await?
            .ok_or_else(|| item_not_found(kind, name, ns))
    }

    /// Checks a body for `kind` and splits it into name and document.
    fn item_from_body(kind: ItemKind, body: Value) -> Result<(String, Value), ApiError> {
        match kind {
            ItemKind::Object => object_body(&body_object(body, &READ_ONLY)?),
            ItemKind::Property => {
                let map = body_object(body, &["created_at", "updated_at"])?;
                let name = super::metadef_model::required_name(&map, "name")?;
                Ok((name, property_body(map, 1)?))
            }
            ItemKind::Tag => {
                let map = body_object(body, &["created_at", "updated_at"])?;
                Ok((tag_name(&map)?, Value::Object(Map::new())))
            }
        }
    }

    /// Creates an object or property from its body, or the tag `tag`.
    pub async fn item_create(
        &self,
        ctx: &RequestContext,
        ns: &str,
        kind: ItemKind,
        body: Option<Value>,
        tag: Option<&str>,
    ) -> Result<Item, ApiError> {
        let action = match kind {
            ItemKind::Object => "add_metadef_object",
            ItemKind::Property => "add_metadef_property",
            ItemKind::Tag => "add_metadef_tag",
        };
        let namespace = self.namespace_for_change(ctx, ns, action).await?;
        let (name, doc) = match (tag, body) {
            (Some(tag), _) => {
                path_name(tag)?;
                (tag.to_string(), Value::Object(Map::new()))
            }
            (None, Some(body)) => Self::item_from_body(kind, body)?,
            (None, None) => return Err(ApiError::bad_request("Body expected in request.")),
        };
        let new = item(name, doc, now_micros());
        if store::item_create(self.pool(), &namespace.id, kind, &new).await? {
            Ok(new)
        } else {
            Err(item_exists(kind, &new.name, ns))
        }
    }

    /// `POST /v2/metadefs/namespaces/{ns}/tags`: replaces the namespace's
    /// tags, or adds to them when `append`; all or nothing.
    pub async fn tags_create(
        &self,
        ctx: &RequestContext,
        ns: &str,
        body: Value,
        append: bool,
    ) -> Result<Vec<Item>, ApiError> {
        let namespace = self
            .namespace_for_change(ctx, ns, "add_metadef_tags")
            .await?;
        let map = body_object(body, &[])?;
        only_keys(&map, &["tags"], "tags")?;
        let Some(Value::Array(list)) = map.get("tags") else {
            return Err(ApiError::bad_request("'tags' must be an array"));
        };
        if list.len() > BULK_MAX {
            return Err(ApiError::bad_request(format!(
                "At most {BULK_MAX} tags can be created at once."
            )));
        }
        let now = now_micros();
        let mut tags: Vec<Item> = Vec::with_capacity(list.len());
        for entry in list {
            let name = tag_name(&body_object(entry.clone(), &[])?)?;
            if tags.iter().any(|t| t.name == name) {
                return Err(ApiError::conflict(format!(
                    "Duplicate tag {name} in the request."
                )));
            }
            tags.push(item(name, Value::Object(Map::new()), now));
        }
        if store::items_put(self.pool(), &namespace.id, ItemKind::Tag, &tags, append).await? {
            Ok(tags)
        } else {
            Err(ApiError::conflict(format!(
                "A metadata tag in the request already exists in namespace={ns}."
            )))
        }
    }

    /// `PUT` of an object, property or tag: rename and rewrite.
    pub async fn item_update(
        &self,
        ctx: &RequestContext,
        ns: &str,
        kind: ItemKind,
        name: &str,
        body: Value,
    ) -> Result<Item, ApiError> {
        let action = match kind {
            ItemKind::Object => "modify_metadef_object",
            ItemKind::Property => "modify_metadef_property",
            ItemKind::Tag => "modify_metadef_tag",
        };
        let namespace = self.namespace_for_change(ctx, ns, action).await?;
        let old = store::item_get(self.pool(), &namespace.id, kind, name)
            .await?
            .ok_or_else(|| item_not_found(kind, name, ns))?;
        let (new_name, doc) = Self::item_from_body(kind, body)?;
        match store::item_update(self.pool(), &namespace.id, kind, name, &new_name, &doc).await? {
            Written::Done => Ok(Item {
                name: new_name,
                body: doc,
                created_at: old.created_at,
                updated_at: now_micros(),
            }),
            Written::Missing => Err(item_not_found(kind, name, ns)),
            Written::Duplicate => Err(item_exists(kind, &new_name, ns)),
        }
    }

    /// Deletes one item (`Some(name)`) or every item of `kind`.
    pub async fn item_delete(
        &self,
        ctx: &RequestContext,
        ns: &str,
        kind: ItemKind,
        name: Option<&str>,
    ) -> Result<(), ApiError> {
        let action = match (kind, name) {
            (ItemKind::Object, Some(_)) => "delete_metadef_object",
            (ItemKind::Property, Some(_)) => "remove_metadef_property",
            (ItemKind::Tag, Some(_)) => "delete_metadef_tag",
            (ItemKind::Tag, None) => "delete_metadef_tags",
            (_, None) => "delete_metadef_namespace",
        };
        let namespace = self.namespace_for_change(ctx, ns, action).await?;
        not_protected(&namespace, "its definitions")?;
        let gone = store::item_delete(self.pool(), &namespace.id, kind, name).await?;
        match name {
            Some(name) if !gone => Err(item_not_found(kind, name, ns)),
            _ => Ok(()),
        }
    }

    /// `GET /v2/metadefs/resource_types`.
    pub async fn resource_type_list(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<ResourceType>, ApiError> {
        if !ctx.can_read() {
            return Err(ApiError::policy("list_metadef_resource_types"));
        }
        Ok(store::resource_type_list(self.pool()).await?)
    }

    /// `GET /v2/metadefs/namespaces/{ns}/resource_types`.
    pub async fn association_list(
        &self,
        ctx: &RequestContext,
        ns: &str,
    ) -> Result<Vec<Association>, ApiError> {
        let namespace = self.namespace_visible(ctx, ns).await?;
        Ok(store::association_list(self.pool(), &namespace.id).await?)
    }

    /// The associations of a namespace already checked visible.
    pub async fn associations_of(&self, ns: &Namespace) -> Result<Vec<Association>, ApiError> {
        Ok(store::association_list(self.pool(), &ns.id).await?)
    }

    /// `POST /v2/metadefs/namespaces/{ns}/resource_types`.
    pub async fn association_create(
        &self,
        ctx: &RequestContext,
        ns: &str,
        body: Value,
    ) -> Result<Association, ApiError> {
        let namespace = self
            .namespace_for_change(ctx, ns, "add_metadef_resource_type_association")
            .await?;
        let assoc = association_body(
            &body_object(body, &["created_at", "updated_at"])?,
            now_micros(),
        )?;
        if store::association_create(self.pool(), &namespace.id, &assoc).await? {
            Ok(assoc)
        } else {
            Err(ApiError::conflict(format!(
                "The metadata definition resource-type association of resource-type={} to namespace={ns}, already exists.",
                assoc.name
            )))
        }
    }

    /// `DELETE /v2/metadefs/namespaces/{ns}/resource_types/{rt}`.
    pub async fn association_delete(
        &self,
        ctx: &RequestContext,
        ns: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        let namespace = self
            .namespace_for_change(ctx, ns, "remove_metadef_resource_type_association")
            .await?;
        not_protected(&namespace, "its resource type associations")?;
        if store::association_delete(self.pool(), &namespace.id, name).await? {
            Ok(())
        } else {
            Err(ApiError::not_found(format!(
                "The metadata definition resource-type association of resource-type={name} to namespace={ns}, was not found."
            )))
        }
    }
}
