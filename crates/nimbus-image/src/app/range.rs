//! Partial downloads as Glance serves them (`glance/common/wsgi.py`
//! `get_range_from_request`): one `Range: bytes=...` (or, for old clients, a
//! `Content-Range` request header); several ranges are 400, anything that
//! does not parse or starts past the end is 416.

use axum::http::HeaderValue;
use nimbus_common::ApiError;
use nimbus_common::error::ErrorKind;

use crate::backend::ByteRange;

/// What to send for a download of an image of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range asked for: everything (200).
    Whole,
    /// This part (206).
    Part(ByteRange),
}

/// Why a range was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// Several ranges at once (400, as Glance).
    Multiple,
    /// A range that does not parse or cannot be satisfied (416).
    Unsatisfiable(String),
}

impl RangeError {
    /// The client-facing error; a 416 carries `Content-Range: bytes */size`.
    pub fn into_api(self, size: u64) -> ApiError {
        match self {
            RangeError::Multiple => ApiError::bad_request(
                "Requests with multiple ranges are not supported in Glance. \
                 You may make multiple single-range requests instead.",
            ),
            RangeError::Unsatisfiable(message) => {
                let error = ApiError::new(ErrorKind::RangeNotSatisfiable, message);
                match HeaderValue::from_str(&format!("bytes */{size}")) {
                    Ok(v) => error.with_header(axum::http::header::CONTENT_RANGE, v),
                    Err(_) => error,
                }
            }
        }
    }
}

fn unsatisfiable(message: impl Into<String>) -> RangeError {
    RangeError::Unsatisfiable(message.into())
}

fn start_past_end(header: &str, size: u64) -> RangeError {
    unsatisfiable(format!(
        "Invalid start position in {header} header. Start position MUST be in the inclusive range [0, {}].",
        size.saturating_sub(1)
    ))
}

/// Digits only (no sign, no spaces), as webob's `\d+`.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The range to serve of an image of `size` bytes, from the request's
/// `Range` and `Content-Range` headers (the first wins).
pub fn requested_range(
    range: Option<&str>,
    content_range: Option<&str>,
    size: u64,
) -> Result<RangeRequest, RangeError> {
    match (range, content_range) {
        (Some(r), _) => parse_range(r, size),
        (None, Some(c)) => parse_content_range(c, size),
        (None, None) => Ok(RangeRequest::Whole),
    }
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` (unit case-insensitive, spaces
/// around `=` and `-` allowed).
fn parse_range(header: &str, size: u64) -> Result<RangeRequest, RangeError> {
    if header.contains(',') {
        return Err(RangeError::Multiple);
    }
    let invalid = || unsatisfiable("Invalid Range header.");
    let header = header.trim();
    let unit = header.get(..5).ok_or_else(invalid)?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return Err(invalid());
    }
    let spec = header[5..]
        .trim_start()
        .strip_prefix('=')
        .ok_or_else(invalid)?;
    let (a, b) = spec.split_once('-').ok_or_else(invalid)?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = match (a.is_empty(), b.is_empty()) {
        (true, true) => return Err(invalid()),
        // A suffix: the last n bytes, all of them when n >= size. RFC 9110
        // makes `-0` unsatisfiable.
        (true, false) => match number(b).ok_or_else(invalid)? {
            0 => {
                return Err(unsatisfiable(
                    "A suffix range of 0 bytes is not satisfiable.",
                ));
            }
            n => (size.saturating_sub(n), size),
        },
        (false, true) => (number(a).ok_or_else(invalid)?, size),
        (false, false) => {
            let (s, e) = (
                number(a).ok_or_else(invalid)?,
                number(b).ok_or_else(invalid)?,
            );
            if s > e {
                return Err(invalid());
            }
            (s, e.saturating_add(1).min(size))
        }
    };
    if start >= size {
        return Err(start_past_end("Range", size));
    }
    Ok(RangeRequest::Part(ByteRange { start, end }))
}

/// `bytes a-b/len` or `bytes a-b/*`: Glance still honours it in requests
/// for old clients.
fn parse_content_range(header: &str, size: u64) -> Result<RangeRequest, RangeError> {
    let invalid = || unsatisfiable("Invalid Content-Range header.");
    let spec = header.trim().strip_prefix("bytes ").ok_or_else(invalid)?;
    let (span, length) = spec.split_once('/').ok_or_else(invalid)?;
    let (a, b) = span.split_once('-').ok_or_else(invalid)?;
    let (start, last) = (
        number(a).ok_or_else(invalid)?,
        number(b).ok_or_else(invalid)?,
    );
    if start > last {
        return Err(invalid());
    }
    let stop = last.saturating_add(1);
    match length {
        "*" if stop > size => {
            return Err(unsatisfiable(format!(
                "Invalid stop position in Content-Range header. The stop position MUST be in the inclusive range [0, {}].",
                size.saturating_sub(1)
            )));
        }
        "*" => {}
        l if number(l).is_some_and(|l| stop <= l) => {}
        _ => return Err(invalid()),
    }
    if start >= size {
        return Err(start_past_end("Content-Range", size));
    }
    Ok(RangeRequest::Part(ByteRange {
        start,
        end: stop.min(size),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> Result<RangeRequest, RangeError> {
        Ok(RangeRequest::Part(ByteRange { start, end }))
    }

    fn is_416(r: Result<RangeRequest, RangeError>) -> bool {
        matches!(r, Err(RangeError::Unsatisfiable(_)))
    }

    #[test]
    fn ranges_parse_as_glance_does() {
        let r = |h: &str| requested_range(Some(h), None, 1000);
        assert_eq!(r("bytes=0-99"), part(0, 100));
        assert_eq!(r("bytes=900-"), part(900, 1000));
        assert_eq!(r("bytes=-10"), part(990, 1000));
        assert_eq!(r("bytes=-5000"), part(0, 1000));
        assert_eq!(r("bytes=990-5000"), part(990, 1000));
        assert_eq!(r("Bytes = 3 - 10"), part(3, 11));
        assert_eq!(r("bytes=999-999"), part(999, 1000));
        for bad in [
            "bytes=1000-",
            "bytes=1000-2000",
            "bytes=10-5",
            "bytes=-0",
            "bytes=-",
            "bytes=x-y",
            "bytes=+1-2",
            "bytes=0-5x",
            "items=0-1",
            "bytes",
            "",
            "bytes=99999999999999999999999-",
        ] {
            assert!(is_416(r(bad)), "{bad}: {:?}", r(bad));
        }
        assert_eq!(r("bytes=0-1,5-6"), Err(RangeError::Multiple));
        assert_eq!(requested_range(None, None, 1000), Ok(RangeRequest::Whole));
    }

    #[test]
    fn content_range_requests_are_honoured() {
        let c = |h: &str| requested_range(None, Some(h), 1000);
        assert_eq!(c("bytes 10-19/1000"), part(10, 20));
        assert_eq!(c("bytes 10-999/*"), part(10, 1000));
        for bad in [
            "bytes 10-1000/*",
            "bytes 1000-1001/2000",
            "bytes 5-4/1000",
            "bytes 0-9/5",
            "bytes */1000",
            "items 0-1/2",
        ] {
            assert!(is_416(c(bad)), "{bad}: {:?}", c(bad));
        }
        // Range wins over Content-Range.
        assert_eq!(
            requested_range(Some("bytes=0-0"), Some("bytes 5-6/*"), 1000),
            part(0, 1)
        );
    }

    #[test]
    fn a_416_names_the_size() {
        let e = RangeError::Unsatisfiable("x".into()).into_api(26);
        assert_eq!(e.status().as_u16(), 416);
        let response = e.render(nimbus_common::ErrorStyle::Glance);
        assert_eq!(response.headers()["content-range"], "bytes */26");
        assert_eq!(RangeError::Multiple.into_api(26).status().as_u16(), 400);
    }
}
