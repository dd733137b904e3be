//! Client secrets in a rotation's overlap: how many clients still accept a previous
//! secret, and how many of those stop soon (the console's overview counts them).

use crate::admin::AdminError;
use crate::db::models::Client;
use crate::db::DbConnection;
use serde::Serialize;

/// What "soon" means for an overlap's end, seconds (a day).
pub const ENDING_SOON: i64 = 86_400;

/// Clients whose previous secret is still accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SecretOverlaps {
    /// Clients accepting a previous secret now.
    pub overlapping: u64,
    /// Those whose previous secret stops within [`ENDING_SOON`].
    pub ending_soon: u64,
}

/// Counts the clients in a secret overlap at `now`.
pub fn secret_overlaps(conn: &mut DbConnection, now: i64) -> Result<SecretOverlaps, AdminError> {
    let (overlapping, ending) =
        Client::previous_secret_counts(conn, now, now.saturating_add(ENDING_SOON))?;
    Ok(SecretOverlaps {
        overlapping: u64::try_from(overlapping).unwrap_or(0),
        ending_soon: u64::try_from(ending).unwrap_or(0),
    })
}
