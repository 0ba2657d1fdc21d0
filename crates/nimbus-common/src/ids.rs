//! Typed ids: a user id cannot be passed where a project id is expected.

/// Defines a string newtype id with a fresh-id constructor and validation.
#[macro_export]
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh random id (32 hex digits, as Keystone makes them).
            pub fn generate() -> Self {
                $name($crate::ids::new_hex_id())
            }
            /// Accepts an id from outside if it looks like one of ours.
            pub fn parse(text: &str) -> Option<Self> {
                $crate::ids::is_valid_id(text).then(|| $name(text.to_string()))
            }
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A random 128-bit id as 32 lowercase hex digits.
pub fn new_hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Ids are 1..=64 characters of `[A-Za-z0-9_-]`: anything else cannot name
/// one of our resources, so callers answer 404 without a lookup.
pub fn is_valid_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    id_type!(
        /// Test id.
        ThingId
    );

    #[test]
    fn ids_validate() {
        let id = ThingId::generate();
        assert_eq!(id.as_str().len(), 32);
        assert!(ThingId::parse(id.as_str()).is_some());
        assert!(ThingId::parse("../etc").is_none());
        assert!(ThingId::parse("").is_none());
        assert!(ThingId::parse(&"a".repeat(65)).is_none());
    }
}
