//! Keyset pagination: a page of items and the cursor that continues after the last one.

use serde::Serialize;
use utoipa::ToSchema;

pub const DEFAULT_PAGE_LIMIT: u32 = 50;
pub const MAX_PAGE_LIMIT: u32 = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Which slice of a listing to read. Ids are UUIDv7, so ordering by id is ordering by
/// creation time and a cursor is simply the last id seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<String>,
}

impl PageRequest {
    pub fn new(limit: Option<u32>, after: Option<String>) -> crate::DomainResult<Self> {
        let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
        if limit == 0 || limit > MAX_PAGE_LIMIT {
            return Err(crate::DomainError::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE_LIMIT}"),
            ));
        }
        if let Some(cursor) = &after
            && uuid::Uuid::parse_str(cursor).is_err()
        {
            return Err(crate::DomainError::invalid(
                "cursor",
                "not a cursor returned by a previous page; start again without it",
            ));
        }
        Ok(Self { limit, after })
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_PAGE_LIMIT,
            after: None,
        }
    }
}
