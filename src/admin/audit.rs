//! Recording administrative events: in the `audit_log` table (so every replica's and
//! the CLI's changes are in one place) and as a log line. Never a secret.

use crate::db::models::audit;
use crate::db::DbConnection;

/// Records `action` on `target` by `actor` with non-secret `details`.
pub fn record(
    conn: &mut DbConnection,
    actor: &str,
    action: &str,
    target: &str,
    details: serde_json::Value,
    now: i64,
) -> Result<(), super::AdminError> {
    let details = details.to_string();
    audit::record(conn, now, actor, action, target, &details)?;
    log::info!("audit: actor={actor} action={action} target={target} details={details}");
    Ok(())
}
