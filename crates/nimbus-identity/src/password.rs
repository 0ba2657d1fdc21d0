//! Password hashing (argon2id, PHC strings in the database).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::error::{IdentityError, IdentityErrorKind};

/// Longest password accepted (Keystone's `max_password_length`).
pub const MAX_PASSWORD_LEN: usize = 4096;

/// Hashes `password` with a fresh salt.
pub fn hash(password: &str) -> Result<String, IdentityError> {
    // 16 bytes from the OS generator (uuid v4 draws them from getrandom).
    let random = uuid::Uuid::new_v4().into_bytes();
    let salt = SaltString::encode_b64(&random).map_err(|e| {
        IdentityError::new(IdentityErrorKind::Crypto, format!("making a salt: {e}"))
    })?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            IdentityError::new(
                IdentityErrorKind::Crypto,
                format!("hashing a password: {e}"),
            )
        })
}

/// Whether `password` matches `stored`. With no stored hash (unknown user, or
/// a user without a password) a dummy hash is checked anyway, so the answer
/// takes as long as for a real user: no user enumeration by timing.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let dummy = dummy_hash();
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (dummy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

fn dummy_hash() -> &'static String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("nimbus-dummy-password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let a = hash("s3cret").unwrap();
        let b = hash("s3cret").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("s3cret", Some(&a)));
        assert!(!verify("wrong", Some(&a)));
        assert!(!verify("nimbus-dummy-password", None));
        assert!(!verify("x", Some("not a hash")));
    }
}
