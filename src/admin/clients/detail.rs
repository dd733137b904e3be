//! What the console shows of one client beyond [`ClientView`]: whether it has a secret
//! (and a previous one still working), who manages it; and ending its sessions, an
//! operation of its own.

use super::view::ClientView;
use crate::admin::AdminError;
use crate::db::audit;
use crate::db::models::refresh_token::{revoke, Families};
use crate::db::models::Client;
use crate::db::DbConnection;

/// One client with the facts about its credentials that its view leaves out.
#[derive(Debug, Clone)]
pub struct ClientDetail {
    /// The client as operators see it.
    pub view: ClientView,
    /// `apply` when `tessera apply` manages it (the next apply changes it back).
    pub managed_by: Option<String>,
    /// Whether a current secret is stored.
    pub has_secret: bool,
    /// When the current secret was set, Unix seconds (its creation for a client made
    /// before this was kept); `None` without a secret.
    pub secret_set_at: Option<i64>,
    /// Whether a previous secret is stored and still works (until
    /// `view.previous_secret_expires_at`).
    pub previous_secret_works: bool,
}

/// The client `id` with its credential facts.
pub fn detail(conn: &mut DbConnection, id: &str) -> Result<ClientDetail, AdminError> {
    let stored =
        Client::find(conn, id)?.ok_or_else(|| AdminError::NotFound(format!("client {id}")))?;
    let view = super::ops::show(conn, id)?;
    Ok(ClientDetail {
        secret_set_at: stored
            .secret_hash
            .as_ref()
            .map(|_| stored.secret_created_at.unwrap_or(stored.created_at)),
        previous_secret_works: stored.previous_secret_hash.is_some()
            && view.previous_secret_expires_at.is_some(),
        has_secret: stored.secret_hash.is_some(),
        managed_by: stored.managed_by.clone(),
        view,
    })
}

/// Ends every refresh-token family of the client `id` (its users must sign in again;
/// the client itself keeps working). Audited as `client.revoke_sessions` with the count.
/// Returns how many families it ended.
pub fn revoke_sessions(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    now: i64,
) -> Result<usize, AdminError> {
    if Client::find(conn, id)?.is_none() {
        return Err(AdminError::NotFound(format!("client {id}")));
    }
    let ended = revoke(conn, Families::OfClient(id), now)?;
    let details = serde_json::json!({ "families": ended });
    audit::record(conn, actor, "client.revoke_sessions", id, details, now)?;
    Ok(ended)
}
