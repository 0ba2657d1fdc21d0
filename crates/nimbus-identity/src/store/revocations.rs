//! `identity_revocation_events`.

use nimbus_db::Pool;
use sqlx::Row;

use crate::error::IdentityError;
use crate::revocation::RevocationEvent;

/// Stores an event.
pub async fn revocation_create(pool: &Pool, e: &RevocationEvent) -> Result<(), IdentityError> {
    sqlx::query(
        "INSERT INTO identity_revocation_events
           (id, audit_id, user_id, project_id, domain_id, issued_before, expires_at, app_cred_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(nimbus_common::ids::new_hex_id())
    .bind(e.audit_id.as_deref())
    .bind(e.user_id.as_deref())
    .bind(e.project_id.as_deref())
    .bind(e.domain_id.as_deref())
    .bind(e.issued_before)
    .bind(e.expires_at)
    .bind(e.app_cred_id.as_deref())
    .execute(pool)
    .await?;
    Ok(())
}

/// Drops events past `now`, then returns the rest.
pub async fn revocation_list_live(
    pool: &Pool,
    now: i64,
) -> Result<Vec<RevocationEvent>, IdentityError> {
    sqlx::query("DELETE FROM identity_revocation_events WHERE expires_at <= $1")
        .bind(now)
        .execute(pool)
        .await?;
    let rows = sqlx::query(
        "SELECT audit_id, user_id, project_id, domain_id, issued_before, expires_at, app_cred_id
         FROM identity_revocation_events",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RevocationEvent {
                audit_id: r.try_get("audit_id")?,
                user_id: r.try_get("user_id")?,
                project_id: r.try_get("project_id")?,
                domain_id: r.try_get("domain_id")?,
                issued_before: r.try_get("issued_before")?,
                expires_at: r.try_get("expires_at")?,
                app_cred_id: r.try_get("app_cred_id")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}
