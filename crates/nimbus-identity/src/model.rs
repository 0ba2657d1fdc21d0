//! The identity records, as the logic layer sees them.

/// A domain (namespace of projects and users).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Id (`default` for the Default domain).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Disabled domains cannot be authenticated into.
    pub enabled: bool,
}

/// A project (tenant): owns resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Id.
    pub id: String,
    /// Owning domain.
    pub domain_id: String,
    /// Name, unique in the domain.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Disabled projects cannot be scoped to.
    pub enabled: bool,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: String,
    /// Owning domain.
    pub domain_id: String,
    /// Name, unique in the domain.
    pub name: String,
    /// Disabled users cannot authenticate.
    pub enabled: bool,
    /// argon2 PHC string; `None` for a user without a password.
    pub password_hash: Option<String>,
    /// Project scoped to when a token request names none.
    pub default_project_id: Option<String>,
    /// Free text.
    pub description: String,
    /// Optional e-mail (Keystone keeps it as an extra attribute).
    pub email: Option<String>,
}

/// A global role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
}

/// What a role is granted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetType {
    /// A project.
    Project,
    /// A domain.
    Domain,
}

impl TargetType {
    /// Its name in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Project => "project",
            TargetType::Domain => "domain",
        }
    }

    /// Parses the database name.
    pub fn parse(text: &str) -> Option<TargetType> {
        match text {
            "project" => Some(TargetType::Project),
            "domain" => Some(TargetType::Domain),
            _ => None,
        }
    }
}

/// A role granted to a user on a project or domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The user.
    pub user_id: String,
    /// Project or domain.
    pub target_type: TargetType,
    /// The project or domain id.
    pub target_id: String,
    /// The role.
    pub role_id: String,
}

/// Filters of a list call; `None` means no filter.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Exact name.
    pub name: Option<String>,
    /// Owning domain.
    pub domain_id: Option<String>,
    /// Enabled state.
    pub enabled: Option<bool>,
}

/// An application credential: its user, acting on one project with some of
/// the user's roles there, authenticated by a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCredential {
    /// Id.
    pub id: String,
    /// The user it acts as.
    pub user_id: String,
    /// The project its tokens are scoped to.
    pub project_id: String,
    /// Name, unique per user.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// argon2 PHC string of the secret.
    pub secret_hash: String,
    /// Expiry, microseconds since the epoch; `None` never expires.
    pub expires_at: Option<i64>,
    /// Whether its tokens may manage application and EC2 credentials.
    pub unrestricted: bool,
    /// Role ids delegated.
    pub role_ids: Vec<String>,
}

/// A stored credential (Keystone's credential table); EC2 keys are type `ec2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Id (for EC2: the sha256 hex of the access key, as Keystone).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Project it is for.
    pub project_id: Option<String>,
    /// `ec2`, ...
    pub kind: String,
    /// JSON text.
    pub blob: String,
}
