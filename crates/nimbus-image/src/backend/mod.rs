//! Where image data lives: stores behind one trait, chosen per image and
//! found again by the scheme of the recorded location (`file://`, `s3://`).
//!
//! Data reaches a store only after the upload pipeline has hashed and
//! inspected it into a local temporary file, so a store never holds
//! unverified bytes.

pub mod file;
pub mod s3;

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use futures::future::BoxFuture;
use tempfile::NamedTempFile;

/// A stream of image data.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// What went wrong in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The data is not there.
    NotFound,
    /// The location does not belong to this store.
    BadLocation,
    /// Reading or writing failed.
    Io,
    /// The remote store did not answer as expected.
    Unavailable,
}

/// A store failure with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct StoreError {
    /// What kind of failure.
    pub kind: StoreErrorKind,
    context: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// An error of `kind` while doing `context`.
    pub fn new(kind: StoreErrorKind, context: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            context: context.into(),
            source: None,
        }
    }

    /// Attaches the cause.
    pub fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        self.source = Some(Box::new(source));
        self
    }
}

/// A byte range `[start, end)` of an image's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// What a store is called and how its locations look: the data of image
/// `id` is at `prefix` + `id`, and nothing else is a location of the store,
/// so a recorded location can never name anything but a plain image id.
#[derive(Debug, Clone)]
pub struct StoreInfo {
    id: &'static str,
    description: &'static str,
    prefix: String,
}

impl StoreInfo {
    /// A store `id` (as `/v2/info/stores` shows it) with locations under
    /// `prefix` (`scheme://container/`).
    pub fn new(id: &'static str, description: &'static str, prefix: String) -> StoreInfo {
        StoreInfo {
            id,
            description,
            prefix,
        }
    }

    /// The store id clients see in `/v2/info/stores` (`file`, `s3`).
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// A one-line description for `/v2/info/stores`.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// The location scheme this store answers for (`file`, `s3`).
    pub fn scheme(&self) -> &str {
        self.prefix
            .split_once("://")
            .map_or("", |(scheme, _)| scheme)
    }

    /// Where the data of `image_id` goes; refuses anything but a plain id.
    pub fn location_of(&self, image_id: &str) -> Result<String, StoreError> {
        if !nimbus_common::ids::is_valid_id(image_id) {
            return Err(StoreError::new(
                StoreErrorKind::BadLocation,
                "invalid image id",
            ));
        }
        Ok(format!("{}{image_id}", self.prefix))
    }

    /// The image id `location` names, only if it is a location of this store.
    pub fn image_id_of<'a>(&self, location: &'a str) -> Result<&'a str, StoreError> {
        location
            .strip_prefix(self.prefix.as_str())
            .filter(|id| nimbus_common::ids::is_valid_id(id))
            .ok_or_else(|| {
                StoreError::new(
                    StoreErrorKind::BadLocation,
                    format!("not a location of this store: {location}"),
                )
            })
    }
}

/// A place image data is kept.
pub trait Store: Send + Sync {
    /// Its id, description and location shape.
    fn info(&self) -> &StoreInfo;
    /// Stores verified data for `image_id`; returns its location.
    fn put<'a>(
        &'a self,
        image_id: &'a str,
        data: NamedTempFile,
    ) -> BoxFuture<'a, Result<String, StoreError>>;
    /// Streams the data at `location`, or a range of it.
    fn get<'a>(
        &'a self,
        location: &'a str,
        range: Option<ByteRange>,
    ) -> BoxFuture<'a, Result<ByteStream, StoreError>>;
    /// Deletes the data at `location`; missing data is not an error.
    fn delete<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The configured stores and which one new data goes to.
#[derive(Clone)]
pub struct Stores {
    default: String,
    stores: BTreeMap<String, Arc<dyn Store>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("default", &self.default)
            .field("stores", &self.stores.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Stores {
    /// A registry whose default is `default`; `None` if it is not among `stores`.
    pub fn new(default: &str, stores: Vec<Arc<dyn Store>>) -> Option<Stores> {
        let stores: BTreeMap<String, Arc<dyn Store>> = stores
            .into_iter()
            .map(|s| (s.info().id().to_string(), s))
            .collect();
        stores.contains_key(default).then(|| Stores {
            default: default.to_string(),
            stores,
        })
    }

    /// The id of the default store.
    pub fn default_id(&self) -> &str {
        &self.default
    }

    /// A store by id.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn Store>> {
        self.stores.get(id)
    }

    /// All stores, by id.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Store>> {
        self.stores.values()
    }

    /// The store that holds `location`, by its scheme.
    pub fn for_location(&self, location: &str) -> Option<&Arc<dyn Store>> {
        let scheme = location.split_once("://")?.0;
        self.stores.values().find(|s| s.info().scheme() == scheme)
    }
}
