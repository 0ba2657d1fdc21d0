//! `limit` / `marker` paging as the OpenStack APIs define it.

use crate::error::ApiError;

/// A validated page request: at most `limit` items after `marker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageParams {
    /// Maximum number of items to return (already capped at the service maximum).
    pub limit: usize,
    /// Id of the last item of the previous page.
    pub marker: Option<String>,
}

impl PageParams {
    /// Validates raw query values: `limit` must be a non-negative integer
    /// (400 otherwise) and is capped at `max_limit`; an empty marker is none.
    pub fn parse(
        limit: Option<&str>,
        marker: Option<&str>,
        max_limit: usize,
    ) -> Result<PageParams, ApiError> {
        let limit = match limit {
            None => max_limit,
            Some(text) => {
                let n: u64 = text.trim().parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "limit must be a non-negative integer, got '{text}'."
                    ))
                })?;
                usize::try_from(n).unwrap_or(usize::MAX).min(max_limit)
            }
        };
        let marker = marker.filter(|m| !m.is_empty()).map(str::to_string);
        if marker.as_ref().is_some_and(|m| m.len() > 255) {
            return Err(ApiError::bad_request("marker is too long."));
        }
        Ok(PageParams { limit, marker })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_validated_and_capped() {
        assert_eq!(PageParams::parse(None, None, 1000).unwrap().limit, 1000);
        assert_eq!(
            PageParams::parse(Some("5"), Some("m"), 1000)
                .unwrap()
                .marker
                .as_deref(),
            Some("m")
        );
        assert_eq!(
            PageParams::parse(Some("999999999999999"), None, 50)
                .unwrap()
                .limit,
            50
        );
        assert_eq!(
            PageParams::parse(Some("-1"), None, 50)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            PageParams::parse(Some("x"), None, 50).unwrap_err().status(),
            400
        );
        assert_eq!(PageParams::parse(None, Some(""), 50).unwrap().marker, None);
    }
}
