//! Collection queries as neutron answers them: attribute filters (several
//! values of one key match any), `fields`, and `limit`/`marker` paging with
//! a `<collection>_links` next link.

use nimbus_common::ApiError;
use serde_json::{Map, Value, json};

use crate::error::bad_request;

/// Query parameters that are not attribute filters.
const CONTROL: [&str; 7] = [
    "fields",
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "page_reverse",
    "verbose",
];

/// Most items a page holds (neutron's `pagination_max_limit` is unlimited;
/// a cap keeps one reply bounded).
const MAX_LIMIT: usize = 10_000;

/// Whether `item` has `value` for `key` (compared as neutron's converted
/// filters: booleans case-insensitively, numbers as text).
fn matches(item: &Value, key: &str, values: &[&str]) -> bool {
    if key == "fixed_ips" {
        // `fixed_ips=ip_address=10.0.0.5` / `fixed_ips=subnet_id=...`.
        let Some(ips) = item.get("fixed_ips").and_then(Value::as_array) else {
            return false;
        };
        return values.iter().all(|v| {
            let Some((k, want)) = v.split_once('=') else {
                return false;
            };
            let k = if k == "ip_address_substr" {
                "ip_address"
            } else {
                k
            };
            ips.iter().any(|ip| {
                ip.get(k).and_then(Value::as_str).is_some_and(|got| {
                    if v.starts_with("ip_address_substr") {
                        got.contains(want)
                    } else {
                        got == want
                    }
                })
            })
        });
    }
    let Some(got) = item.get(key) else {
        // Unknown attributes match nothing, as neutron without the
        // filter-validation extension ignores them... except tags, which
        // every resource has (always empty here).
        return key.starts_with("tags") && key != "tags" || key.starts_with("not-tags");
    };
    values.iter().any(|want| match got {
        Value::String(s) => s == want,
        Value::Bool(b) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => n.to_string() == *want,
        Value::Null => {
            want.is_empty()
                || want.eq_ignore_ascii_case("none")
                || want.eq_ignore_ascii_case("null")
        }
        Value::Array(items) => items.iter().any(|i| i.as_str() == Some(want)),
        Value::Object(_) => false,
    })
}

/// Filters, pages and projects `items` by the query; returns the body
/// `{collection: [...], collection_links?: [...]}`.
pub fn respond(
    collection: &str,
    self_url: &str,
    query: &[(String, String)],
    items: Vec<Value>,
) -> Result<Value, ApiError> {
    let mut filters: Vec<(&str, Vec<&str>)> = Vec::new();
    for (k, v) in query {
        if CONTROL.contains(&k.as_str()) {
            continue;
        }
        match filters.iter_mut().find(|(key, _)| key == k) {
            Some((_, vals)) => vals.push(v),
            None => filters.push((k, vec![v])),
        }
    }
    let mut items: Vec<Value> = items
        .into_iter()
        .filter(|item| filters.iter().all(|(k, vals)| matches(item, k, vals)))
        .collect();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(marker) = get("marker").filter(|m| !m.is_empty()) {
        let Some(pos) = items.iter().position(|i| i["id"] == marker) else {
            return Err(bad_request(format!("Marker {marker} not found")));
        };
        items.drain(..=pos);
    }
    let limit = match get("limit") {
        None | Some("") => None,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n > 0 => Some(usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT)),
            Ok(_) => None,
            Err(_) => {
                return Err(bad_request(format!(
                    "Invalid input for limit. Reason: '{text}' is not an integer."
                )));
            }
        },
    };
    let mut links = Vec::new();
    if let Some(limit) = limit
        && items.len() > limit
    {
        items.truncate(limit);
        if let Some(last) = items.last().and_then(|i| i["id"].as_str()) {
            let mut params: Vec<String> = query
                .iter()
                .filter(|(k, _)| k != "marker")
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            params.push(format!("marker={}", encode(last)));
            links.push(json!({"rel": "next", "href": format!("{self_url}?{}", params.join("&"))}));
        }
    }
    let fields: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.as_str())
        .collect();
    if !fields.is_empty() {
        items = items
            .into_iter()
            .map(|i| project_fields(i, &fields))
            .collect();
    }
    let mut body = Map::new();
    body.insert(collection.to_string(), Value::Array(items));
    if !links.is_empty() {
        body.insert(format!("{collection}_links"), Value::Array(links));
    }
    Ok(Value::Object(body))
}

/// Keeps only `fields` of an item.
pub fn project_fields(item: Value, fields: &[&str]) -> Value {
    match item {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

/// Percent-encodes a query component.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filters_fields_and_pages() {
        let items = vec![
            json!({"id": "a", "name": "x", "shared": true, "fixed_ips": [{"ip_address": "10.0.0.5", "subnet_id": "s"}]}),
            json!({"id": "b", "name": "y", "shared": false, "fixed_ips": []}),
            json!({"id": "c", "name": "x", "shared": false, "fixed_ips": []}),
        ];
        let body = respond(
            "networks",
            "http://h/v2.0/networks",
            &q(&[("name", "x")]),
            items.clone(),
        )
        .unwrap();
        assert_eq!(body["networks"].as_array().unwrap().len(), 2);
        let body = respond("networks", "u", &q(&[("shared", "True")]), items.clone()).unwrap();
        assert_eq!(body["networks"][0]["id"], "a");
        let body = respond(
            "networks",
            "u",
            &q(&[("name", "x"), ("name", "y")]),
            items.clone(),
        )
        .unwrap();
        assert_eq!(body["networks"].as_array().unwrap().len(), 3);
        let body = respond(
            "ports",
            "u",
            &q(&[("fixed_ips", "ip_address=10.0.0.5")]),
            items.clone(),
        )
        .unwrap();
        assert_eq!(body["ports"].as_array().unwrap().len(), 1);
        let body = respond("networks", "u", &q(&[("limit", "2")]), items.clone()).unwrap();
        assert_eq!(body["networks"].as_array().unwrap().len(), 2);
        assert!(
            body["networks_links"][0]["href"]
                .as_str()
                .unwrap()
                .contains("marker=b")
        );
        let body = respond(
            "networks",
            "u",
            &q(&[("limit", "2"), ("marker", "b")]),
            items.clone(),
        )
        .unwrap();
        assert_eq!(body["networks"][0]["id"], "c");
        assert!(body.get("networks_links").is_none());
        let body = respond("networks", "u", &q(&[("fields", "id")]), items.clone()).unwrap();
        assert_eq!(body["networks"][0], json!({"id": "a"}));
        assert!(respond("networks", "u", &q(&[("limit", "x")]), items).is_err());
    }
}
