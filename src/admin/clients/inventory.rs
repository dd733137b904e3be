//! What operators see of clients' use: the clients inventory (search, filter, sort and
//! paging done by the database), a client's tokens per day, and how many clients
//! went unused for 30 and 90 days. The counts are those the replicas have flushed
//! (see `service::usage`).

use crate::admin::AdminError;
use crate::db::models::usage::{
    self, day_of, InventoryFilter, InventoryOrder, InventoryState, DAY,
};
use crate::db::DbConnection;
use serde::Serialize;

/// The most rows one inventory page holds.
pub const MAX_PER_PAGE: u32 = 200;
/// The longest search text, characters.
pub const MAX_SEARCH_CHARS: usize = 200;
/// The most days [`daily_usage`] answers for (day counts are kept 8 days).
pub const MAX_DAYS: u32 = 31;

/// Which clients the inventory lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    /// Every client.
    #[default]
    All,
    /// Enabled clients.
    Enabled,
    /// Disabled clients.
    Disabled,
    /// Unused for 30 days (never used: created 30 days ago or more).
    Stale30,
    /// Unused for 90 days.
    Stale90,
    /// Made by `tessera apply`.
    Managed,
}

impl Filter {
    /// Every filter, in the order a form lists them.
    pub const ALL: [Filter; 6] = [
        Filter::All,
        Filter::Enabled,
        Filter::Disabled,
        Filter::Stale30,
        Filter::Stale90,
        Filter::Managed,
    ];

    /// Its name in a query string.
    pub fn as_str(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Enabled => "enabled",
            Filter::Disabled => "disabled",
            Filter::Stale30 => "stale30",
            Filter::Stale90 => "stale90",
            Filter::Managed => "managed",
        }
    }

    /// The filter named `s`.
    pub fn parse(s: &str) -> Option<Filter> {
        Filter::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// What the inventory is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Client id.
    #[default]
    Id,
    /// Name.
    Name,
    /// Last use (never used counts as the oldest).
    LastUsed,
    /// Tokens in the last 24 hours (see [`InventoryRow::tokens_24h`]).
    Tokens24h,
    /// Age of the current secret (clients without one last).
    SecretAge,
}

impl SortKey {
    /// Every sort key.
    pub const ALL: [SortKey; 5] = [
        SortKey::Id,
        SortKey::Name,
        SortKey::LastUsed,
        SortKey::Tokens24h,
        SortKey::SecretAge,
    ];

    /// Its name in a query string.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::Name => "name",
            SortKey::LastUsed => "last_used",
            SortKey::Tokens24h => "tokens_24h",
            SortKey::SecretAge => "secret_age",
        }
    }

    /// The key named `s`.
    pub fn parse(s: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A sort key and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sort {
    /// The column.
    pub key: SortKey,
    /// Largest (newest, oldest secret) first.
    pub descending: bool,
}

/// One inventory page's question.
#[derive(Debug, Clone, Default)]
pub struct InventoryQuery {
    /// Case-insensitive substring of the id or the name (`%` and `_` are literal;
    /// on SQLite only ASCII letters fold case). Blank means none.
    pub search: Option<String>,
    /// Only clients authenticating with this `token_endpoint_auth_method`.
    pub auth_method: Option<String>,
    /// Which clients.
    pub state: Filter,
    /// Order.
    pub sort: Sort,
    /// Page number, from 1 (0 reads as 1).
    pub page: u32,
    /// Rows per page, 1 to [`MAX_PER_PAGE`] (outside it, the nearest bound).
    pub per_page: u32,
}

/// One client in the inventory.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InventoryRow {
    /// Client id.
    pub client_id: String,
    /// Name.
    pub name: String,
    /// `token_endpoint_auth_method`.
    pub auth_method: String,
    /// Space-separated scope.
    pub scope: String,
    /// Disabled.
    pub disabled: bool,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Last token issued, Unix seconds, as flushed (`None`: never).
    pub last_used_at: Option<i64>,
    /// Tokens issued on the UTC days overlapping the last 24 hours (today and
    /// yesterday): counts are kept per day.
    pub tokens_24h: u64,
    /// When the current secret was set, Unix seconds (its creation for clients made
    /// before this was kept); `None` for a client without a secret.
    pub secret_created_at: Option<i64>,
    /// While a rotated-out secret still works (overlap): when it stops, Unix seconds.
    pub previous_secret_expires_at: Option<i64>,
    /// `apply` for a client `tessera apply` manages.
    pub managed_by: Option<String>,
}

/// One page of the inventory.
#[derive(Debug, Clone, Serialize)]
pub struct InventoryPage {
    /// The page's clients.
    pub rows: Vec<InventoryRow>,
    /// Clients matching the search and filter, on every page.
    pub total: u64,
    /// The page shown (from 1).
    pub page: u32,
    /// Rows per page used.
    pub per_page: u32,
}

/// The inventory page `q` asks for, at `now`. The search, filter, order and paging
/// run in the database (one count, one page).
pub fn inventory(
    conn: &mut DbConnection,
    q: &InventoryQuery,
    now: i64,
) -> Result<InventoryPage, AdminError> {
    let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS) {
        return Err(AdminError::field(
            "search",
            format!("must be at most {MAX_SEARCH_CHARS} characters"),
        ));
    }
    let page = q.page.max(1);
    let per_page = q.per_page.clamp(1, MAX_PER_PAGE);
    let offset = i64::from(page.saturating_sub(1)).saturating_mul(i64::from(per_page));
    let state = match q.state {
        Filter::All => InventoryState::All,
        Filter::Enabled => InventoryState::Enabled,
        Filter::Disabled => InventoryState::Disabled,
        Filter::Managed => InventoryState::Managed,
        Filter::Stale30 => InventoryState::UnusedBefore(now.saturating_sub(30 * DAY)),
        Filter::Stale90 => InventoryState::UnusedBefore(now.saturating_sub(90 * DAY)),
    };
    let order = match q.sort.key {
        SortKey::Id => InventoryOrder::Id,
        SortKey::Name => InventoryOrder::Name,
        SortKey::LastUsed => InventoryOrder::LastUsed,
        SortKey::Tokens24h => InventoryOrder::Tokens,
        SortKey::SecretAge => InventoryOrder::SecretAge,
    };
    let filter = InventoryFilter {
        pattern: search.map(usage::contains_pattern),
        auth_method: q
            .auth_method
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string),
        state,
        order,
        descending: q.sort.descending,
        offset,
        limit: i64::from(per_page),
        tokens_from_day: day_of(now.saturating_sub(DAY)),
    };
    let (records, total) = usage::inventory(conn, &filter)?;
    let rows = records
        .into_iter()
        .map(|r| InventoryRow {
            secret_created_at: r
                .has_secret
                .then_some(r.secret_created_at.unwrap_or(r.created_at)),
            previous_secret_expires_at: r.previous_secret_expires_at.filter(|t| *t > now),
            client_id: r.client_id,
            name: r.name,
            auth_method: r.auth_method,
            scope: r.scope,
            disabled: r.disabled,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            tokens_24h: u64::try_from(r.tokens).unwrap_or_default(),
            managed_by: r.managed_by,
        })
        .collect();
    Ok(InventoryPage {
        rows,
        total,
        page,
        per_page,
    })
}

/// A client's tokens per UTC day over the `days` days ending today (1 to
/// [`MAX_DAYS`]), oldest first, every day present (zeros included), as `YYYY-MM-DD`.
pub fn daily_usage(
    conn: &mut DbConnection,
    client_id: &str,
    days: u32,
    now: i64,
) -> Result<Vec<(String, u64)>, AdminError> {
    let days = days.clamp(1, MAX_DAYS);
    let today = day_of(now);
    let first = today.saturating_sub(i64::from(days.saturating_sub(1)).saturating_mul(DAY));
    let stored: std::collections::HashMap<i64, i64> =
        usage::days(conn, client_id, first)?.into_iter().collect();
    Ok((0..i64::from(days))
        .map(|i| {
            let day = first.saturating_add(i.saturating_mul(DAY));
            let label = chrono::DateTime::from_timestamp(day, 0)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            let n = stored.get(&day).copied().unwrap_or(0);
            (label, u64::try_from(n).unwrap_or_default())
        })
        .collect())
}

/// How many clients went unused for 30 and for 90 days (a never-used client by the
/// time since its creation).
pub fn stale_counts(conn: &mut DbConnection, now: i64) -> Result<(u64, u64), AdminError> {
    Ok(usage::unused_counts(conn, now)?)
}
