//! Reading the audit log: the newest events, filtered by actor, action or client, a
//! page at a time. Shared by `tessera audit` and the console's audit page.

use super::AdminError;
pub use crate::db::models::audit::AuditEntry;
use crate::db::models::audit::{self, Filter};
use crate::db::DbConnection;

/// Most events one search returns.
pub const MAX_LIMIT: u32 = 10_000;
/// Longest filter value, characters.
pub const MAX_FILTER: usize = 256;

/// What to look for. Empty filters are no filters; a given one matches exactly (`%`
/// and `_` are plain characters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// The actor: `cli`, `console:<username>`, `client:<id>`, `server`, …
    pub actor: Option<String>,
    /// The action: `client.create`, `token.revoke`, …
    pub action: Option<String>,
    /// A client id: the events on that client and those it made (`client:<id>`).
    pub client: Option<String>,
    /// The cursor: only events older than this one (an [`AuditPage::next_before`]).
    pub before: Option<i64>,
    /// How many events, 1 to [`MAX_LIMIT`].
    pub limit: u32,
}

/// One page of events, newest first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditPage {
    /// The events.
    pub entries: Vec<AuditEntry>,
    /// The `before` of the next (older) page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// A filter's value, or `None` when empty; `Err` names the field when it is too long.
fn given<'a>(
    field: &'static str,
    value: &'a Option<String>,
) -> Result<Option<&'a str>, AdminError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > MAX_FILTER => Err(AdminError::field(
            field,
            format!("at most {MAX_FILTER} characters"),
        )),
        Some(v) => Ok(Some(v)),
    }
}

/// The newest events matching `query`, newest first, and the cursor of the next page.
pub fn search(conn: &mut DbConnection, query: &AuditQuery) -> Result<AuditPage, AdminError> {
    if !(1..=MAX_LIMIT).contains(&query.limit) {
        return Err(AdminError::field(
            "limit",
            format!("must be 1 to {MAX_LIMIT}"),
        ));
    }
    let filter = Filter {
        actor: given("actor", &query.actor)?,
        action: given("action", &query.action)?,
        client: given("client", &query.client)?,
        before: query.before,
    };
    // One more than asked tells whether an older page exists.
    let mut entries = audit::search(conn, &filter, i64::from(query.limit).saturating_add(1))?;
    let more = entries.len() > usize::try_from(query.limit).unwrap_or(usize::MAX);
    entries.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
    let next_before = if more {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok(AuditPage {
        entries,
        next_before,
    })
}

/// Every action recorded so far, in alphabetical order: the choices of the action
/// filter.
pub fn actions(conn: &mut DbConnection) -> Result<Vec<String>, AdminError> {
    Ok(audit::actions(conn)?)
}
