//! The `lock` and `unlock` server actions (nova's `lock_server.py`): the
//! body is free-form before 2.73; from 2.73 `lock` is null or an object
//! with an optional `locked_reason` of 1-255 characters.

use nimbus_common::{ApiError, RequestContext};
use serde_json::Value;

use super::Microversion;
use crate::app::ComputeService;
use crate::app::lock;

/// The `locked_reason` of a `lock` action body at `mv`.
pub fn lock_reason(args: &Value, mv: Microversion) -> Result<Option<String>, ApiError> {
    if !mv.at_least(2, 73) {
        return Ok(None);
    }
    let map = match args {
        Value::Null => return Ok(None),
        Value::Object(map) => map,
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute lock. Value: {other}. {other} is not of type \
                 'object', 'null'"
            )));
        }
    };
    if let Some(key) = map.keys().find(|k| k.as_str() != "locked_reason") {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute lock. Additional properties are not allowed \
             ('{key}' was unexpected)"
        )));
    }
    match map.get("locked_reason") {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 => Ok(Some(s.clone())),
        Some(Value::String(s)) if s.is_empty() => Err(ApiError::bad_request(
            "Invalid input for field/attribute locked_reason. Value: . '' is too short",
        )),
        Some(Value::String(s)) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute locked_reason. Value: {s}. '{s}' is too long"
        ))),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute locked_reason. Value: {other}. {other} is not of \
             type 'string'"
        ))),
    }
}

/// `{"lock": ...}`.
pub async fn lock_action(
    svc: &ComputeService,
    ctx: &RequestContext,
    mv: Microversion,
    id: &str,
    args: &Value,
) -> Result<(), ApiError> {
    let reason = lock_reason(args, mv)?;
    lock::server_lock(svc, ctx, id, reason.as_deref()).await
}

/// `{"unlock": ...}` (any body value, as nova's schema).
pub async fn unlock_action(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<(), ApiError> {
    lock::server_unlock(svc, ctx, id).await
}

#[cfg(test)]
mod tests {
    use nimbus_common::ApiVersion;
    use serde_json::json;

    use super::*;

    #[test]
    fn locked_reason_follows_the_2_73_schema() {
        let old = Microversion(ApiVersion::new(2, 72));
        let new = Microversion(ApiVersion::new(2, 73));
        assert_eq!(
            lock_reason(&json!({"locked_reason": "x"}), old).unwrap(),
            None
        );
        assert_eq!(
            lock_reason(&json!({"locked_reason": "maintenance"}), new).unwrap(),
            Some("maintenance".into())
        );
        assert_eq!(lock_reason(&Value::Null, new).unwrap(), None);
        assert_eq!(lock_reason(&json!({}), new).unwrap(), None);
        assert!(lock_reason(&json!({"locked_reason": ""}), new).is_err());
        assert!(lock_reason(&json!({"locked_reason": "x".repeat(256)}), new).is_err());
        assert!(lock_reason(&json!({"locked_reason": 5}), new).is_err());
        assert!(lock_reason(&json!({"reason": "x"}), new).is_err());
        assert!(lock_reason(&json!("x"), new).is_err());
    }
}
