//! The `revoked_tokens` table: the jti denylist of revoked access tokens, each kept
//! until the token would have expired anyway.

use crate::db::schema::revoked_tokens;
use crate::db::DbConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

/// Puts `jti` on the denylist until `expires_at`; revoking twice is not an error.
pub fn revoke(
    conn: &mut DbConnection,
    jti: &str,
    client_id: &str,
    expires_at: i64,
    now: i64,
) -> QueryResult<()> {
    let inserted = diesel::insert_into(revoked_tokens::table)
        .values((
            revoked_tokens::jti.eq(jti),
            revoked_tokens::client_id.eq(client_id),
            revoked_tokens::expires_at.eq(expires_at),
            revoked_tokens::revoked_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) | Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether `jti` is revoked.
pub fn is_revoked(conn: &mut DbConnection, jti: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(revoked_tokens::table.find(jti))).get_result(conn)
}

/// Forgets entries whose token has expired.
pub fn purge(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
    diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.le(now))).execute(conn)
}
