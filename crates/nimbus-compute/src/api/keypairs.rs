//! `/os-keypairs`: import or generate (up to 2.91; 2.92 requires a public
//! key), list (paged from 2.35), show, delete; `type` from 2.2, `user_id`
//! for admins from 2.10 (nova's `keypairs.py` and its view).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nimbus_common::{ApiError, Json, PageParams, RequestContext};
use serde_json::{Value, json};

use crate::api::flavors::{MAX_LIMIT, Params, body_object, name_param, next_query, query_map};
use crate::api::{Microversion, PublicBase};
use crate::app::ComputeService;
use crate::app::keypairs::{self as app, Keypair, NewKeypair};

/// The key pair routes.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/os-keypairs", get(keypair_index).post(keypair_create))
        .route(
            "/os-keypairs/{name}",
            get(keypair_show).delete(keypair_delete),
        )
}

/// nova's timestamp format (`jsonutils`: no zone, microseconds).
pub(crate) fn timestamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

fn show_view(k: &Keypair, v: Microversion) -> Value {
    let mut out = json!({
        "name": k.name,
        "public_key": k.public_key,
        "fingerprint": k.fingerprint,
        "user_id": k.user_id,
        "created_at": timestamp(k.created_at),
        "deleted": false,
        "deleted_at": null,
        "id": k.id,
        "updated_at": null,
    });
    if v.at_least(2, 2) {
        out["type"] = json!(k.key_type);
    }
    out
}

/// `user_id`, `limit` and `marker` from a query.
type KeypairQuery = (Option<String>, Option<String>, Option<String>);

/// `user_id` from the query (2.10), with nova's parameter checks.
fn user_param(
    params: &[(String, String)],
    v: Microversion,
    paged: bool,
) -> Result<KeypairQuery, ApiError> {
    let mut known = vec!["user_id", "limit", "marker"];
    if !paged {
        known.truncate(1);
    }
    let q = query_map(params, &known, v.at_least(2, 75))?;
    let user = if v.at_least(2, 10) {
        q.get("user_id").cloned()
    } else {
        None
    };
    Ok((user, q.get("limit").cloned(), q.get("marker").cloned()))
}

async fn keypair_index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    base: PublicBase,
    axum::extract::Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let paged = v.at_least(2, 35);
    let (user, limit, marker) = user_param(&params, v, paged)?;
    let page = PageParams::parse(limit.as_deref(), marker.as_deref(), MAX_LIMIT)?;
    let keypairs = app::keypair_list(
        &svc,
        &ctx,
        user.as_deref(),
        page.marker.as_deref(),
        page.limit,
    )
    .await?;
    let items: Vec<Value> = keypairs
        .iter()
        .map(|k| {
            let mut item = json!({
                "name": k.name,
                "public_key": k.public_key,
                "fingerprint": k.fingerprint,
            });
            if v.at_least(2, 2) {
                item["type"] = json!(k.key_type);
            }
            json!({ "keypair": item })
        })
        .collect();
    let mut out = json!({ "keypairs": items });
    if paged
        && keypairs.len() == page.limit
        && let Some(last) = keypairs.last()
    {
        out["keypairs_links"] =
            base.next(&format!("os-keypairs?{}", next_query(&params, &last.name)));
    }
    Ok(Json(out))
}

fn keypair_name(value: &Value, v: Microversion) -> Result<String, ApiError> {
    let name = name_param(value, "name")?;
    let extra: &[u8] = if v.at_least(2, 92) { b"_- @." } else { b"_- " };
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute name. Value: {name}. \
             '{name}' does not match the allowed characters"
        )));
    }
    Ok(name)
}

fn parse_create(body: &Value, v: Microversion) -> Result<NewKeypair, ApiError> {
    let kp = body_object(body, "keypair")?;
    let mut allowed = vec!["name", "public_key"];
    if v.at_least(2, 2) {
        allowed.push("type");
    }
    if v.at_least(2, 10) {
        allowed.push("user_id");
    }
    if let Some(extra) = kp.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute keypair. Additional properties are not allowed \
             ('{extra}' was unexpected)"
        )));
    }
    let name = keypair_name(
        kp.get("name").ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field/attribute keypair. 'name' is a required property",
            )
        })?,
        v,
    )?;
    let string = |key: &str| -> Result<Option<String>, ApiError> {
        match kp.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {key}. Value: {other}. \
                 {other} is not of type 'string'"
            ))),
        }
    };
    let public_key = string("public_key")?;
    if v.at_least(2, 92) && public_key.is_none() {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute keypair. 'public_key' is a required property",
        ));
    }
    let key_type = string("type")?.unwrap_or_else(|| "ssh".into());
    if key_type != "ssh" && key_type != "x509" {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute type. Value: {key_type}. \
             '{key_type}' is not one of ['ssh', 'x509']"
        )));
    }
    Ok(NewKeypair {
        name,
        key_type,
        public_key,
        user_id: string("user_id")?,
    })
}

async fn keypair_create(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let new = parse_create(&body, v)?;
    let (keypair, private_key) = app::keypair_create(&svc, &ctx, new).await?;
    let mut out = json!({
        "name": keypair.name,
        "public_key": keypair.public_key,
        "fingerprint": keypair.fingerprint,
        "user_id": keypair.user_id,
    });
    if let Some(private_key) = private_key {
        out["private_key"] = json!(private_key);
    }
    if v.at_least(2, 2) {
        out["type"] = json!(keypair.key_type);
    }
    let status = if v.at_least(2, 2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "keypair": out }))).into_response())
}

async fn keypair_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(name): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let (user, _, _) = user_param(&params, v, false)?;
    let keypair = app::keypair_get(&svc, &ctx, &name, user.as_deref()).await?;
    Ok(Json(json!({ "keypair": show_view(&keypair, v) })))
}

async fn keypair_delete(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(name): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<StatusCode, ApiError> {
    let (user, _, _) = user_param(&params, v, false)?;
    app::keypair_delete(&svc, &ctx, &name, user.as_deref()).await?;
    Ok(if v.at_least(2, 2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_common::ApiVersion;

    fn v(minor: u16) -> Microversion {
        Microversion(ApiVersion::new(2, minor))
    }

    #[test]
    fn create_bodies_follow_the_version() {
        let generate = json!({"keypair": {"name": "k1"}});
        assert!(parse_create(&generate, v(91)).unwrap().public_key.is_none());
        assert_eq!(parse_create(&generate, v(92)).unwrap_err().status(), 400);
        let typed = json!({"keypair": {"name": "k1", "type": "ssh"}});
        assert!(parse_create(&typed, v(1)).is_err());
        assert!(parse_create(&typed, v(2)).is_ok());
        let dotted = json!({"keypair": {"name": "a@b.c", "public_key": "x"}});
        assert!(parse_create(&dotted, v(91)).is_err());
        assert!(parse_create(&dotted, v(92)).is_ok());
        let other_user = json!({"keypair": {"name": "k", "user_id": "u2"}});
        assert!(parse_create(&other_user, v(9)).is_err());
        assert_eq!(
            parse_create(&other_user, v(10)).unwrap().user_id.as_deref(),
            Some("u2")
        );
        assert!(parse_create(&json!({"keypair": {"name": "k", "type": "dsa"}}), v(2)).is_err());
        assert!(parse_create(&json!({"keypair": {"name": " k"}}), v(2)).is_err());
    }

    #[test]
    fn timestamps_look_like_novas() {
        assert_eq!(
            timestamp(1_500_000_000_123_456),
            "2017-07-14T02:40:00.123456"
        );
    }
}
