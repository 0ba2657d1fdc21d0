//! The `web-download` import method: the image service fetches the data
//! from a URL and streams it through the same hash + inspect pipeline as an
//! upload. Which URLs may be fetched is Glance's `[import_filtering_opts]`
//! (schemes, hosts, ports), checked for the URL and for every redirect.
//! Stricter than Glance: the service never connects to a loopback,
//! link-local (the metadata service's 169.254.169.254) or unspecified
//! address unless the operator lists that host in `allowed_hosts`; names
//! are checked after resolution, on the addresses actually connected to.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use nimbus_common::ApiError;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
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

/// Addresses of this machine or its link (loopback, link-local, unspecified,
/// also as IPv4-mapped IPv6): never fetched from unless the host is allowed
/// explicitly.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            // 0.0.0.0/8 reaches this host on Linux.
            v4.is_loopback() || v4.is_link_local() || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal(IpAddr::V4(v4)),
            None => {
                v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        },
    }
}

/// As Glance's `hostname`: lowercase, IPv6 without brackets, no trailing dot.
fn host_of(url: &Url) -> Option<String> {
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_lowercase();
    (!host.is_empty()).then_some(host)
}

impl ImportFiltering {
    /// Whether the operator listed `host` in `allowed_hosts`.
    fn trusts(&self, host: &str) -> bool {
        self.allowed_hosts.iter().any(|h| h == host)
    }

    /// Whether `url` may be fetched. The URL parser has already normalised
    /// the host (lowercase; `127.1`, `0x7f.1` and `2130706433` all become
    /// `127.0.0.1`), so encoded addresses cannot slip past a host list.
    /// A host name is checked again once resolved ([`GuardedResolver`]).
    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = host_of(url) else {
            return false;
        };
        let internal = host
            .parse::<IpAddr>()
            .is_ok_and(|ip| is_internal(ip) && !self.trusts(&host));
        let host_ok = !internal && passes(&host, &self.allowed_hosts, &self.disallowed_hosts);
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

/// Why a host name gives no address to connect to.
#[derive(Debug)]
enum LookupError {
    /// The lookup failed or found nothing.
    Failed(String),
    /// Every address is internal ([`is_internal`]).
    OnlyInternal(String),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::Failed(m) | LookupError::OnlyInternal(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for LookupError {}

/// Resolves `host` and keeps the addresses the service may connect to.
async fn lookup_outside(host: &str, trusted: bool) -> Result<Vec<SocketAddr>, LookupError> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| LookupError::Failed(format!("cannot resolve {host}: {e}")))?
        .collect();
    if found.is_empty() {
        return Err(LookupError::Failed(format!("{host} has no address")));
    }
    let kept: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| trusted || !is_internal(a.ip()))
        .collect();
    if kept.is_empty() {
        return Err(LookupError::OnlyInternal(format!(
            "{host} resolves only to loopback or link-local addresses"
        )));
    }
    Ok(kept)
}

/// The client's resolver: the addresses connected to are the checked ones,
/// so a name that resolves differently on a second lookup (DNS rebinding)
/// cannot reach an internal address either.
struct GuardedResolver {
    filter: ImportFiltering,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_lowercase();
        let trusted = self.filter.trusts(&host);
        Box::pin(async move {
            let addrs = lookup_outside(&host, trusted).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A client that follows only redirects the filter allows and connects only
/// to addresses outside this machine and its link.
fn client(filter: ImportFiltering) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built without a default TLS provider; ring is ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resolver = Arc::new(GuardedResolver {
        filter: filter.clone(),
    });
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
        .dns_resolver(resolver)
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
        task: String,
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
        let filter = &self.config.import_filtering;
        // Refused now when the name is known to lead inside; the resolver
        // checks again at connect time. A lookup that fails here fails the
        // import in the background, as Glance's does.
        if let Some(host) = host_of(&url)
            && host.parse::<IpAddr>().is_err()
            && let Err(reason @ LookupError::OnlyInternal(_)) =
                lookup_outside(&host, filter.trusts(&host)).await
        {
            return Err(ApiError::bad_request(format!(
                "URI for web-download does not pass filtering: {uri} ({reason})"
            )));
        }
        let client = client(filter.clone()).map_err(ApiError::internal)?;
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
            service.task_end(&task, &id, result.as_ref().err()).await;
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
            disallowed_hosts: vec!["localhost".into()],
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
        // Internal addresses, however written, unless listed in allowed_hosts.
        let default = ImportFiltering::default();
        for url in [
            "http://127.0.0.1/a",
            "http://127.1/a",
            "http://0x7f000001/a",
            "http://127.200.0.1/a",
            "http://0.0.0.0/a",
            "http://0/a",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/a",
            "http://[::]/a",
            "http://[::ffff:127.0.0.1]/a",
            "http://[::ffff:169.254.169.254]/a",
            "http://[fe80::1]/a",
        ] {
            assert!(!allows(&default, url), "{url}");
        }
        for url in [
            "http://10.0.0.5/a",
            "http://192.168.1.1/a",
            "http://[2001:db8::1]/a",
        ] {
            assert!(allows(&default, url), "{url}");
        }
        let trusted = ImportFiltering {
            allowed_hosts: vec!["127.0.0.1".into(), "::1".into()],
            ..ImportFiltering::default()
        };
        assert!(allows(&trusted, "http://127.0.0.1/a"));
        assert!(allows(&trusted, "http://[::1]/a"));
        assert!(!allows(&trusted, "http://127.0.0.2/a"));
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

    #[tokio::test]
    async fn names_are_checked_once_resolved() {
        let resolve = |allowed: &[&str], name: &str| {
            let resolver = GuardedResolver {
                filter: ImportFiltering {
                    allowed_hosts: allowed.iter().map(|h| h.to_string()).collect(),
                    ..ImportFiltering::default()
                },
            };
            resolver.resolve(name.parse().unwrap())
        };
        let refused = resolve(&[], "localhost").await.err().unwrap();
        assert!(refused.to_string().contains("loopback"), "{refused}");
        assert!(resolve(&[], "localhost.").await.is_err());
        let addrs: Vec<_> = resolve(&["localhost"], "localhost")
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        assert!(!addrs.is_empty());
        assert!(matches!(
            lookup_outside("localhost", false).await,
            Err(LookupError::OnlyInternal(_))
        ));
    }
}
