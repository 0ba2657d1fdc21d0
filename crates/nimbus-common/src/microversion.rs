//! Microversion negotiation as Nova and Cinder do it
//! (`OpenStack-API-Version: compute 2.53`, Nova's legacy
//! `X-OpenStack-Nova-API-Version: 2.53`, `latest`).

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::ApiError;

/// A microversion `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    /// Major version (2 for compute, 3 for volume).
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl ApiVersion {
    /// `major.minor`.
    pub const fn new(major: u16, minor: u16) -> ApiVersion {
        ApiVersion { major, minor }
    }

    /// Parses `2.53`; rejects anything else (`2`, `2.053x`, `v2.1`).
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let (major, minor) = text.trim().split_once('.')?;
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) {
            return None;
        }
        Some(ApiVersion::new(major.parse().ok()?, minor.parse().ok()?))
    }

    /// Whether this is at least `major.minor`.
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self >= ApiVersion::new(major, minor)
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What a service supports and how clients name it in headers.
#[derive(Debug, Clone, Copy)]
pub struct VersionRange {
    /// Service type in `OpenStack-API-Version` (`compute`, `volume`).
    pub service_type: &'static str,
    /// A service-specific legacy header (`X-OpenStack-Nova-API-Version`).
    pub legacy_header: Option<&'static str>,
    /// Oldest supported version, also the default when none is requested.
    pub min: ApiVersion,
    /// Newest supported version, what `latest` means.
    pub max: ApiVersion,
}

const OPENSTACK_API_VERSION: &str = "openstack-api-version";

impl VersionRange {
    /// The version a request asked for: the `OpenStack-API-Version` entry for
    /// this service, else the legacy header, else the minimum. A malformed
    /// value is 400; one outside `min..=max` is 406, as in Nova.
    pub fn negotiate(&self, headers: &HeaderMap) -> Result<ApiVersion, ApiError> {
        let requested = self.requested(headers)?;
        let Some(text) = requested else {
            return Ok(self.min);
        };
        if text.eq_ignore_ascii_case("latest") {
            return Ok(self.max);
        }
        let version = ApiVersion::parse(&text).ok_or_else(|| {
            ApiError::bad_request(format!("API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum."))
        })?;
        if version < self.min || version > self.max {
            return Err(ApiError::not_acceptable(format!(
                "Version {version} is not supported by the API. Minimum is {} and maximum is {}.",
                self.min, self.max
            )));
        }
        Ok(version)
    }

    fn requested(&self, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
        for value in headers.get_all(OPENSTACK_API_VERSION) {
            let value = value
                .to_str()
                .map_err(|_| ApiError::bad_request("OpenStack-API-Version is not valid text."))?;
            // Several services may be named, comma-separated: "compute 2.1, volume 3.0".
            for entry in value.split(',') {
                let mut words = entry.split_whitespace();
                if let (Some(service), Some(version)) = (words.next(), words.next())
                    && service.eq_ignore_ascii_case(self.service_type)
                {
                    return Ok(Some(version.to_string()));
                }
            }
        }
        if let Some(legacy) = self.legacy_header
            && let Some(value) = headers.get(legacy)
        {
            let value = value
                .to_str()
                .map_err(|_| ApiError::bad_request(format!("{legacy} is not valid text.")))?;
            return Ok(Some(value.trim().to_string()));
        }
        Ok(None)
    }

    /// Headers a response carries to say which version answered.
    pub fn response_headers(&self, version: ApiVersion) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let both = format!("{} {version}", self.service_type);
        if let Ok(value) = HeaderValue::from_str(&both) {
            headers.insert(HeaderName::from_static(OPENSTACK_API_VERSION), value);
        }
        let mut vary = String::from("OpenStack-API-Version");
        if let Some(legacy) = self.legacy_header
            && let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(legacy.as_bytes()),
                HeaderValue::from_str(&version.to_string()),
            )
        {
            headers.insert(name, value);
            vary.push_str(", ");
            vary.push_str(legacy);
        }
        if let Ok(value) = HeaderValue::from_str(&vary) {
            headers.insert(axum::http::header::VARY, value);
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPUTE: VersionRange = VersionRange {
        service_type: "compute",
        legacy_header: Some("X-OpenStack-Nova-API-Version"),
        min: ApiVersion::new(2, 1),
        max: ApiVersion::new(2, 60),
    };

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn negotiation_follows_nova() {
        assert_eq!(
            COMPUTE.negotiate(&headers(&[])).unwrap(),
            ApiVersion::new(2, 1)
        );
        let h = headers(&[("OpenStack-API-Version", "volume 3.1, compute 2.53")]);
        assert_eq!(COMPUTE.negotiate(&h).unwrap(), ApiVersion::new(2, 53));
        let h = headers(&[("X-OpenStack-Nova-API-Version", "2.10")]);
        assert_eq!(COMPUTE.negotiate(&h).unwrap(), ApiVersion::new(2, 10));
        let h = headers(&[("OpenStack-API-Version", "compute latest")]);
        assert_eq!(COMPUTE.negotiate(&h).unwrap(), ApiVersion::new(2, 60));
        let h = headers(&[("OpenStack-API-Version", "compute 2.61")]);
        assert_eq!(COMPUTE.negotiate(&h).unwrap_err().status(), 406);
        let h = headers(&[("OpenStack-API-Version", "compute 2.0")]);
        assert_eq!(COMPUTE.negotiate(&h).unwrap_err().status(), 406);
        let h = headers(&[("OpenStack-API-Version", "compute two")]);
        assert_eq!(COMPUTE.negotiate(&h).unwrap_err().status(), 400);
        let h = headers(&[("OpenStack-API-Version", "compute 99999999.1")]);
        assert_eq!(COMPUTE.negotiate(&h).unwrap_err().status(), 400);
    }

    #[test]
    fn response_headers_name_the_version() {
        let h = COMPUTE.response_headers(ApiVersion::new(2, 5));
        assert_eq!(h["openstack-api-version"], "compute 2.5");
        assert_eq!(h["x-openstack-nova-api-version"], "2.5");
    }
}
