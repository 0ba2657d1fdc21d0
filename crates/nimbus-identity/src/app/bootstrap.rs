//! First start: the Default domain, the built-in roles with their
//! implications, and the `admin` user with role `admin` on project `admin`
//! (what `keystone-manage bootstrap` makes).

use nimbus_common::ids::new_hex_id;
use nimbus_db::now_micros;

use super::Identity;
use crate::error::IdentityError;
use crate::model::{Assignment, Domain, Project, Role, TargetType, User};
use crate::password;
use crate::store;

/// Id of the Default domain, as in Keystone.
pub const DEFAULT_DOMAIN_ID: &str = "default";
/// Roles every deployment has; `admin` implies `member` implies `reader`.
pub const BUILTIN_ROLES: [&str; 3] = ["admin", "member", "reader"];

/// What bootstrap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapOutcome {
    /// Whether the admin user was created now (first start).
    pub created_admin: bool,
}

impl Identity {
    /// Creates whatever of the bootstrap set is missing; idempotent. The
    /// password is used only when the admin user is created.
    pub async fn bootstrap(&self, admin_password: &str) -> Result<BootstrapOutcome, IdentityError> {
        let pool = self.pool();
        if store::domains::domain_get(pool, DEFAULT_DOMAIN_ID)
            .await?
            .is_none()
        {
            store::domains::domain_create(
                pool,
                &Domain {
                    id: DEFAULT_DOMAIN_ID.into(),
                    name: "Default".into(),
                    description: "The default domain".into(),
                    enabled: true,
                },
            )
            .await?;
        }
        let mut role_ids = Vec::new();
        for name in BUILTIN_ROLES {
            let existing = store::roles::role_list(pool, Some(name)).await?;
            let id = match existing.into_iter().next() {
                Some(r) => r.id,
                None => {
                    let role = Role {
                        id: new_hex_id(),
                        name: name.into(),
                        description: String::new(),
                    };
                    store::roles::role_create(pool, &role).await?;
                    role.id
                }
            };
            role_ids.push(id);
        }
        store::roles::implied_role_create(pool, &role_ids[0], &role_ids[1]).await?;
        store::roles::implied_role_create(pool, &role_ids[1], &role_ids[2]).await?;

        let project =
            match store::projects::project_get_by_name(pool, DEFAULT_DOMAIN_ID, "admin").await? {
                Some(p) => p,
                None => {
                    let p = Project {
                        id: new_hex_id(),
                        domain_id: DEFAULT_DOMAIN_ID.into(),
                        name: "admin".into(),
                        description: "Bootstrap project for initializing the cloud.".into(),
                        enabled: true,
                    };
                    store::projects::project_create(pool, &p).await?;
                    p
                }
            };
        let mut created_admin = false;
        let user = match store::users::user_get_by_name(pool, DEFAULT_DOMAIN_ID, "admin").await? {
            Some(u) => u,
            None => {
                let password = admin_password.to_string();
                let hash = tokio::task::spawn_blocking(move || password::hash(&password))
                    .await
                    .map_err(|e| {
                        IdentityError::new(crate::error::IdentityErrorKind::Crypto, e.to_string())
                    })??;
                let u = User {
                    id: new_hex_id(),
                    domain_id: DEFAULT_DOMAIN_ID.into(),
                    name: "admin".into(),
                    enabled: true,
                    password_hash: Some(hash),
                    default_project_id: Some(project.id.clone()),
                    description: String::new(),
                    email: None,
                };
                store::users::user_create(pool, &u).await?;
                created_admin = true;
                u
            }
        };
        if created_admin {
            store::assignments::assignment_create(
                pool,
                &Assignment {
                    user_id: user.id,
                    target_type: TargetType::Project,
                    target_id: project.id,
                    role_id: role_ids[0].clone(),
                },
            )
            .await?;
        }
        tracing::debug!(at = now_micros(), created_admin, "identity bootstrap done");
        Ok(BootstrapOutcome { created_admin })
    }
}
