//! The `audit_log` table: who changed what, when. Details never hold a secret.

use crate::db::schema::audit_log;
use crate::db::DbConnection;
use diesel::prelude::*;
use serde::Serialize;

/// One recorded event.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who: `cli`, `client:<id>` (admin API), `server`.
    pub actor: String,
    /// What, e.g. `client.create`, `token.revoke`.
    pub action: String,
    /// The object acted on (client id, username, kid, jti or family).
    pub target: String,
    /// JSON with non-secret details.
    pub details: String,
}

/// Records an event.
pub fn record(
    conn: &mut DbConnection,
    at: i64,
    actor: &str,
    action: &str,
    target: &str,
    details: &str,
) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::at.eq(at),
            audit_log::actor.eq(actor),
            audit_log::action.eq(action),
            audit_log::target.eq(target),
            audit_log::details.eq(details),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The newest `limit` events, newest first.
pub fn recent(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<AuditEntry>> {
    audit_log::table
        .order(audit_log::id.desc())
        .limit(limit)
        .select(AuditEntry::as_select())
        .load(conn)
}

/// Which events [`search`] returns: every given filter must hold (exact text:
/// `%` and `_` are themselves).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter<'a> {
    /// The actor, e.g. `cli`, `console:alice`, `client:<id>`, `server`.
    pub actor: Option<&'a str>,
    /// The action, e.g. `client.create`.
    pub action: Option<&'a str>,
    /// A client: events on it (target) or by it (actor `client:<id>`).
    pub client: Option<&'a str>,
    /// Only events older than this sequence number (the cursor of the next page).
    pub before: Option<i64>,
}

/// The newest `limit` events matching `filter`, newest first. The filters are equality
/// tests on indexed columns (`audit_log_actor`, `audit_log_action`,
/// `audit_log_target`), each walked in sequence order.
pub fn search(
    conn: &mut DbConnection,
    filter: &Filter<'_>,
    limit: i64,
) -> QueryResult<Vec<AuditEntry>> {
    let mut query = audit_log::table
        .into_boxed::<<DbConnection as diesel::Connection>::Backend>()
        .order(audit_log::id.desc())
        .limit(limit)
        .select(AuditEntry::as_select());
    if let Some(actor) = filter.actor {
        query = query.filter(audit_log::actor.eq(actor.to_string()));
    }
    if let Some(action) = filter.action {
        query = query.filter(audit_log::action.eq(action.to_string()));
    }
    if let Some(client) = filter.client {
        query = query.filter(
            audit_log::target
                .eq(client.to_string())
                .or(audit_log::actor.eq(format!("client:{client}"))),
        );
    }
    if let Some(before) = filter.before {
        query = query.filter(audit_log::id.lt(before));
    }
    query.load(conn)
}

/// The actions recorded so far, in order (for a filter's choices).
pub fn actions(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    audit_log::table
        .select(audit_log::action)
        .distinct()
        .order(audit_log::action.asc())
        .load(conn)
}
