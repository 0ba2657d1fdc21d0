//! `/os-server-groups` (nova's `server_groups.py`): `policies` and an empty
//! `metadata` before 2.64, `policy` and `rules` from 2.64, owner ids from
//! 2.13, soft policies from 2.15.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Map, Value, json};

use super::Microversion;
use super::servers::{invalid, name, object};
use crate::app::ComputeService;
use crate::app::server_groups::{self as app, GroupCreate, GroupView};

/// Most groups one page returns (nova's `max_limit`).
const MAX_LIMIT: usize = 1000;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/os-server-groups", get(group_list).post(group_create))
        .route(
            "/os-server-groups/{id}",
            get(group_show).delete(group_delete),
        )
}

/// A group in nova's shape at `mv`.
pub fn group_view(v: &GroupView, mv: Microversion) -> Value {
    let g = &v.group;
    let mut out = Map::new();
    out.insert("id".into(), json!(g.uuid));
    out.insert("name".into(), json!(g.name));
    if mv.at_least(2, 64) {
        out.insert("policy".into(), json!(g.policy));
        out.insert(
            "rules".into(),
            match g.max_server_per_host {
                Some(n) => json!({"max_server_per_host": n}),
                None => json!({}),
            },
        );
    } else {
        out.insert("policies".into(), json!([g.policy]));
        out.insert("metadata".into(), json!({}));
    }
    out.insert("members".into(), json!(v.members));
    if mv.at_least(2, 13) {
        out.insert("project_id".into(), json!(g.project_id));
        out.insert("user_id".into(), json!(g.user_id));
    }
    Value::Object(out)
}

fn extra_key(map: &Map<String, Value>, allowed: &[&str], field: &str) -> Result<(), ApiError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Additional properties are not allowed \
             ('{key}' was unexpected)"
        ))),
        None => Ok(()),
    }
}

fn required(field: &str, what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. '{what}' is a required property"
    ))
}

/// nova's create schema at `mv`.
pub fn parse_create(body: &Value, mv: Microversion) -> Result<GroupCreate, ApiError> {
    let top = object(body, "body")?;
    extra_key(top, &["server_group"], "body")?;
    let sg = object(
        top.get("server_group")
            .ok_or_else(|| required("body", "server_group"))?,
        "server_group",
    )?;
    let mut policies = vec!["anti-affinity", "affinity"];
    if mv.at_least(2, 15) {
        policies.extend(["soft-anti-affinity", "soft-affinity"]);
    }
    let group_name = name(
        sg.get("name")
            .ok_or_else(|| required("server_group", "name"))?,
    )?;
    if mv.at_least(2, 64) {
        extra_key(sg, &["name", "policy", "rules"], "server_group")?;
        let policy = sg
            .get("policy")
            .ok_or_else(|| required("server_group", "policy"))?;
        let policy = policy
            .as_str()
            .filter(|p| policies.contains(p))
            .ok_or_else(|| invalid("policy", format!("{policy} is not one of {policies:?}")))?;
        let max_server_per_host = match sg.get("rules") {
            None => None,
            Some(rules) => {
                let rules = object(rules, "rules")?;
                extra_key(rules, &["max_server_per_host"], "rules")?;
                rules.get("max_server_per_host").map(positive).transpose()?
            }
        };
        Ok(GroupCreate {
            name: group_name,
            policy: policy.to_string(),
            max_server_per_host,
        })
    } else {
        extra_key(sg, &["name", "policies"], "server_group")?;
        let list = sg
            .get("policies")
            .ok_or_else(|| required("server_group", "policies"))?;
        let items = list
            .as_array()
            .ok_or_else(|| invalid("policies", format!("{list} is not of type 'array'")))?;
        let [only] = items.as_slice() else {
            return Err(invalid(
                "policies",
                format!("{list} must hold exactly one policy"),
            ));
        };
        let policy = only
            .as_str()
            .filter(|p| policies.contains(p))
            .ok_or_else(|| invalid("policies", format!("{only} is not one of {policies:?}")))?;
        Ok(GroupCreate {
            name: group_name,
            policy: policy.to_string(),
            max_server_per_host: None,
        })
    }
}

/// The `group` scheduler hint of a create body (`os:scheduler_hints` or
/// `OS-SCH-HNT:scheduler_hints`): a server group uuid, or a list holding
/// one.
pub fn group_hint(top: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let hints = match top
        .get("os:scheduler_hints")
        .or_else(|| top.get("OS-SCH-HNT:scheduler_hints"))
    {
        None => return Ok(None),
        Some(h) => object(h, "os:scheduler_hints")?,
    };
    let uuid = |v: &Value| {
        v.as_str()
            .filter(|s| uuid::Uuid::try_parse(s).is_ok())
            .map(str::to_string)
            .ok_or_else(|| invalid("group", format!("{v} is not a 'uuid'")))
    };
    match hints.get("group") {
        None => Ok(None),
        Some(Value::Array(list)) => match list.as_slice() {
            [] => Ok(None),
            [one] => uuid(one).map(Some),
            _ => Err(invalid("group", "a server joins at most one group")),
        },
        Some(v) => uuid(v).map(Some),
    }
}

/// nova's `positive_integer`: an integer (or a string of digits) >= 1.
fn positive(v: &Value) -> Result<i64, ApiError> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i64>().ok()
        }
        _ => None,
    };
    match n {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(invalid(
            "max_server_per_host",
            format!("{v} is less than the minimum of 1"),
        )),
    }
}

async fn group_create(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let req = parse_create(&body, mv)?;
    let group = app::group_create(&svc, &ctx, req).await?;
    Ok(Json(json!({"server_group": group_view(&group, mv)})))
}

async fn group_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let group = app::group_show(&svc, &ctx, &id).await?;
    Ok(Json(json!({"server_group": group_view(&group, mv)})))
}

async fn group_delete(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app::group_delete(&svc, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The listing query: (all_projects, offset, limit).
fn parse_list(query: Option<&str>, mv: Microversion) -> Result<(bool, usize, usize), ApiError> {
    let pairs = query.map(super::servers::url_pairs).unwrap_or_default();
    let mut all_projects = false;
    let mut offset = 0;
    let mut limit = MAX_LIMIT;
    for (key, value) in &pairs {
        let number = || {
            value.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid input for query parameters {key}. Value: {value}. '{value}' does \
                     not match '^[0-9]*$'"
                ))
            })
        };
        match key.as_str() {
            "all_projects" => all_projects = true,
            "offset" => offset = number()?,
            "limit" => limit = number()?.min(MAX_LIMIT),
            other if mv.at_least(2, 75) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for query parameters {other}. Additional properties are not \
                     allowed ('{other}' was unexpected)"
                )));
            }
            _ => {}
        }
    }
    Ok((all_projects, offset, limit))
}

async fn group_list(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (all_projects, offset, limit) = parse_list(query.as_deref(), mv)?;
    let groups = app::group_list(&svc, &ctx, all_projects, offset, limit).await?;
    Ok(Json(json!({
        "server_groups": groups.iter().map(|g| group_view(g, mv)).collect::<Vec<_>>(),
    })))
}

#[cfg(test)]
mod tests {
    use nimbus_common::ApiVersion;

    use super::*;

    fn mv(minor: u16) -> Microversion {
        Microversion(ApiVersion::new(2, minor))
    }

    #[test]
    fn create_follows_the_schema_of_each_version() {
        let old = json!({"server_group": {"name": "g", "policies": ["anti-affinity"]}});
        assert_eq!(parse_create(&old, mv(2)).unwrap().policy, "anti-affinity");
        assert!(parse_create(&old, mv(64)).is_err());
        let soft = json!({"server_group": {"name": "g", "policies": ["soft-affinity"]}});
        assert!(parse_create(&soft, mv(14)).is_err());
        assert!(parse_create(&soft, mv(15)).is_ok());
        let two = json!({"server_group": {"name": "g", "policies": ["affinity", "anti-affinity"]}});
        assert!(parse_create(&two, mv(15)).is_err());
        let new = json!({"server_group": {"name": "g", "policy": "anti-affinity",
            "rules": {"max_server_per_host": 2}}});
        let parsed = parse_create(&new, mv(64)).unwrap();
        assert_eq!(parsed.max_server_per_host, Some(2));
        assert!(parse_create(&new, mv(63)).is_err());
        let zero = json!({"server_group": {"name": "g", "policy": "anti-affinity",
            "rules": {"max_server_per_host": 0}}});
        assert!(parse_create(&zero, mv(64)).is_err());
        let other_rule = json!({"server_group": {"name": "g", "policy": "anti-affinity",
            "rules": {"x": 1}}});
        assert!(parse_create(&other_rule, mv(64)).is_err());
        assert!(parse_create(&json!({"server_group": {"policy": "affinity"}}), mv(64)).is_err());
    }

    #[test]
    fn the_group_hint_is_a_uuid() {
        let id = "2a7c0f6e-3a53-4f4e-9d1a-4f2b9e6c1d00";
        let top = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(group_hint(&top(json!({"server": {}}))).unwrap(), None);
        assert_eq!(
            group_hint(&top(json!({"os:scheduler_hints": {"group": id}}))).unwrap(),
            Some(id.to_string())
        );
        assert_eq!(
            group_hint(&top(json!({"OS-SCH-HNT:scheduler_hints": {"group": [id]}}))).unwrap(),
            Some(id.to_string())
        );
        assert!(group_hint(&top(json!({"os:scheduler_hints": {"group": "nope"}}))).is_err());
        assert_eq!(
            group_hint(&top(json!({"os:scheduler_hints": {"same_host": id}}))).unwrap(),
            None
        );
    }

    #[test]
    fn list_query_is_strict_from_2_75() {
        assert_eq!(
            parse_list(Some("all_projects=1&limit=5&offset=2"), mv(1)).unwrap(),
            (true, 2, 5)
        );
        assert!(parse_list(Some("foo=1"), mv(74)).is_ok());
        assert!(parse_list(Some("foo=1"), mv(75)).is_err());
        assert!(parse_list(Some("limit=-1"), mv(1)).is_err());
    }
}
