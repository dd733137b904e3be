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
