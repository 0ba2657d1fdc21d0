//! The `web-download` import method: the image service fetches the data
//! from a URL and streams it through the same hash + inspect pipeline as an
//! upload. Which URLs may be fetched is Glance's `[import_filtering_opts]`
//! (schemes, hosts, ports), checked for the URL and for every redirect.

use std::time::Duration;

use nimbus_common::ApiError;
use reqwest::Url;
use reqwest::redirect::{Attempt, Policy};

use super::ImageService;
use super::model::{Image, Status};

/// Redirects followed at most (each one is filtered too).
const MAX_REDIRECTS: usize = 10;
/// How long connecting to the source may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the source may stay silent mid-transfer.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Glance's `[import_filtering_opts]`: an allow list, when not empty, wins
/// over its deny list; a URL without an explicit port passes the port check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFiltering {
    /// `allowed_schemes` [default: http, https].
    pub allowed_schemes: Vec<String>,
    /// `disallowed_schemes`.
    pub disallowed_schemes: Vec<String>,
    /// `allowed_hosts`.
    pub allowed_hosts: Vec<String>,
    /// `disallowed_hosts`.
    pub disallowed_hosts: Vec<String>,
    /// `allowed_ports` [default: 80, 443].
    pub allowed_ports: Vec<u16>,
    /// `disallowed_ports`.
    pub disallowed_ports: Vec<u16>,
}

impl Default for ImportFiltering {
    fn default() -> ImportFiltering {
        ImportFiltering {
            allowed_schemes: vec!["http".into(), "https".into()],
            disallowed_schemes: Vec::new(),
            allowed_hosts: Vec::new(),
            disallowed_hosts: Vec::new(),
            allowed_ports: vec![80, 443],
            disallowed_ports: Vec::new(),
        }
    }
}

fn passes<T: PartialEq>(value: &T, allowed: &[T], denied: &[T]) -> bool {
    if allowed.is_empty() {
        !denied.contains(value)
    } else {
        allowed.contains(value)
    }
}

impl ImportFiltering {
    /// Whether `url` may be fetched. The URL parser has already normalised
    /// the host (lowercase; `127.1`, `0x7f.1` and `2130706433` all become
    /// `127.0.0.1`), so encoded addresses cannot slip past a host list.
    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        // As Glance's `hostname`: IPv6 without brackets, no trailing dot.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_string();
        let host_ok =
            !host.is_empty() && passes(&host, &self.allowed_hosts, &self.disallowed_hosts);
        // The parser drops a port equal to the scheme's default, as if the
        // URL had none.
        let port_ok = url
            .port()
            .is_none_or(|p| passes(&p, &self.allowed_ports, &self.disallowed_ports));
        let scheme = url.scheme().to_string();
        passes(&scheme, &self.allowed_schemes, &self.disallowed_schemes)
            && host_ok
            && port_ok
            && url.username().is_empty()
            && url.password().is_none()
    }
}

/// A client that follows only redirects the filter allows.
fn client(filter: ImportFiltering) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built without a default TLS provider; ring is ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let policy = Policy::custom(move |attempt: Attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if filter.allows(attempt.url()) {
            attempt.follow()
        } else {
            let refused = format!("redirect to {} does not pass filtering", attempt.url());
            attempt.error(refused)
        }
    });
    reqwest::Client::builder()
        .redirect(policy)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
}

impl ImageService {
    /// `POST /v2/images/{id}/import` with `web-download`: checks, then
    /// fetches in the background (202); the image goes `importing`, then
    /// `active`, or back to `queued` when the fetch or the data is refused.
    pub(crate) async fn import_web(
        &self,
        image: Image,
        uri: Option<&str>,
        store_id: String,
    ) -> Result<(), ApiError> {
        if image.status != Status::Queued {
            return Err(ApiError::conflict(
                "Image needs to be in 'queued' state to use 'web-download' method",
            ));
        }
        if image.container_format.is_none() {
            return Err(ApiError::conflict(
                "'container_format' needs to be set before import",
            ));
        }
        if image.disk_format.is_none() {
            return Err(ApiError::conflict(
                "'disk_format' needs to be set before import",
            ));
        }
        let uri = uri.ok_or_else(|| {
            ApiError::bad_request("The web-download method needs a 'uri' in 'method'.")
        })?;
        let url = Url::parse(uri)
            .ok()
            .filter(|u| self.config.import_filtering.allows(u))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "URI for web-download does not pass filtering: {uri}"
                ))
            })?;
        let client = client(self.config.import_filtering.clone()).map_err(ApiError::internal)?;
        if !crate::store::images::image_transition(
            self.pool(),
            &image.id,
            Status::Queued,
            Status::Importing,
        )
        .await?
        {
            return Err(ApiError::conflict(format!(
                "Image {} is already being imported.",
                image.id
            )));
        }
        let service = self.clone();
        tokio::spawn(async move {
            // Until `receive` holds the image, a failure returns it here.
            let mut guard = service.queued_on_drop(&image.id, Status::Importing);
            let id = image.id.clone();
            let result = async {
                let response = client
                    .get(url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| ApiError::bad_request("cannot fetch the image").with_detail(e))?;
                let length = response.content_length();
                let (file, info, mut received) = service
                    .receive(
                        &image,
                        Status::Importing,
                        Status::Importing,
                        length,
                        response.bytes_stream(),
                    )
                    .await?;
                guard.armed = false;
                service
                    .commit(&id, Status::Importing, &store_id, file, &info)
                    .await?;
                received.armed = false;
                Ok::<(), ApiError>(())
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(image = %id, error = %e, "web-download import failed");
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(filter: &ImportFiltering, url: &str) -> bool {
        filter.allows(&Url::parse(url).unwrap())
    }

    #[test]
    fn filtering_follows_glance() {
        let default = ImportFiltering::default();
        assert!(allows(&default, "http://example.com/a.qcow2"));
        assert!(allows(&default, "https://example.com:443/a"));
        assert!(allows(&default, "http://example.com:80/a"));
        assert!(!allows(&default, "http://example.com:8080/a"));
        assert!(!allows(&default, "ftp://example.com/a"));
        assert!(!allows(&default, "file:///etc/passwd"));
        assert!(!allows(&default, "http://user:pw@example.com/a"));
        let no_localhost = ImportFiltering {
            disallowed_hosts: vec!["127.0.0.1".into(), "localhost".into()],
            ..ImportFiltering::default()
        };
        for url in [
            "http://127.0.0.1/a",
            "http://127.1/a",
            "http://2130706433/a",
            "http://0x7f.0.0.1/a",
            "http://LOCALHOST/a",
            "http://localhost./a",
        ] {
            assert!(!allows(&no_localhost, url), "{url}");
        }
        assert!(allows(&no_localhost, "http://example.com/a"));
        // An allow list wins over the deny list.
        let only = ImportFiltering {
            allowed_hosts: vec!["images.example.com".into()],
            disallowed_hosts: vec!["images.example.com".into()],
            allowed_ports: vec![8080],
            disallowed_ports: vec![8080],
            ..ImportFiltering::default()
        };
        assert!(allows(&only, "http://images.example.com:8080/a"));
        assert!(!allows(&only, "http://other.example.com:8080/a"));
        assert!(!allows(&only, "http://images.example.com:8081/a"));
        let ports_denied = ImportFiltering {
            allowed_ports: Vec::new(),
            disallowed_ports: vec![22],
            ..ImportFiltering::default()
        };
        assert!(allows(&ports_denied, "http://example.com:8080/a"));
        assert!(!allows(&ports_denied, "http://example.com:22/a"));
    }
}
